import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InputError, ServerError } from '../common/errors';

/** How long one document may take, and how many are checked at once (each is a process). */
const TIMEOUT_MS = 60_000;
const AT_ONCE = 2;
/** What of the tool's answer is kept: its first lines, enough to name the problem. */
const MAX_REASON = 600;

/**
 * SPDX documents checked by the SPDX project's own parser and validator (`pyspdxtools`, PyPI
 * `spdx-tools`, installed by setup into the tools' Python environment; the image installs it
 * too): no maintained SPDX library exists for Node. One process per document, fed a file.
 * Fails closed: without the tool, an SPDX document is refused (UNAVAILABLE), never let through.
 */
export class SpdxTools {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly command: string) {}

  /** Resolves when the document is valid SPDX; INVALID_INPUT with the tool's reason when not. */
  async validate(bytes: Buffer): Promise<void> {
    await this.turn();
    const dir = await mkdtemp(join(tmpdir(), 'ota-spdx-'));
    try {
      // The tool picks the format by the file's ending.
      const file = join(dir, 'document.spdx.json');
      await writeFile(file, bytes, { mode: 0o600 });
      const { code, output } = await this.run(['--infile', file]);
      if (code !== 0) throw new InputError(`the sbom is not valid SPDX (spdx-tools): ${reason(output, file)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async turn(): Promise<void> {
    if (this.running >= AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
  }

  private run(args: string[]): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      // Our own timer rather than spawn's `timeout`, which is cleared only when a process exits:
      // one that never started (ENOENT) would hold the event loop for the whole timeout.
      const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
      let output = '';
      const keep = (chunk: Buffer) => {
        if (output.length < 64 * 1024) output += chunk.toString('utf8');
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new ServerError(
            'UNAVAILABLE',
            err.code === 'ENOENT'
              ? `SPDX documents are checked with spdx-tools, which is not installed here (OTA_SPDX_TOOLS=${this.command}); CycloneDX SBOMs are accepted`
              : `spdx-tools could not run: ${err.message}`,
          ),
        );
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (signal) reject(new ServerError('UNAVAILABLE', `spdx-tools did not finish within ${TIMEOUT_MS / 1000} s`));
        else resolve({ code, output });
      });
    });
  }
}

/** The tool's lines without its logging prefix or our file's path, printable characters only, cut short. */
function reason(output: string, file: string): string {
  const text = output
    .split(file)
    .join('the document')
    .replace(/^ERROR:root:/gm, '')
    .replace(/[^\x20-\x7e\n]/g, '?')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}...` : text || 'no reason given';
}
