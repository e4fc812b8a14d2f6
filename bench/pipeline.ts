/**
 * Pipeline overhead: a 1 GiB build from upload to "waiting for approval"
 * (intake hash, content-addressed copy, manifest, HSM signing, registration, validation with
 * a second hash and tuf-js) takes at most 2x `sha256sum` plus a plain upload of the same file.
 * Runs against the embedded demo stack (started if needed, as `npm start` does).
 *
 *   bash scripts/node.sh dist/bench/pipeline.js [--mib 1024] [--json]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { createRelease, releaseAction, waitForStatus } from '../control/releases';
import { connectClient } from '../control/temporal';
import { Storage } from '../infra/storage';
import { DEMO_PROFILE, stackUp } from '../scripts/lib/stack';
import { report, timed } from './lib';

const run = promisify(execFile);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const asJson = args.includes('--json');
  const mib = Number(args[args.indexOf('--mib') + 1] ?? 0) || 1024;
  const config = await stackUp(DEMO_PROFILE);
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-pipeline-'));
  const client = await connectClient(config);
  const storage = new Storage(config.minio);
  try {
    const file = join(dir, 'build.bin');
    const out = createWriteStream(file);
    const chunk = randomBytes(1 << 20);
    for (let i = 0; i < mib; i++) if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    await new Promise<void>((r) => out.end(() => r()));
    await run('sha256sum', [file]); // page cache warm for both sides

    await storage.ensureBuckets();
    const baseline = await timed(async () => {
      await run('sha256sum', [file]);
      await storage.putFile('intake', `bench/plain-${Date.now()}.bin`, { file });
    });
    const version = `0.0.${Date.now() % 1_000_000}`;
    const channel = 'bench';
    const ours = await timed(async () => {
      await createRelease(
        { client, storage },
        {
          artifact: file,
          version,
          channel,
          hardwareIds: ['devkit-a'],
          rollbackIndex: 0,
          plan: 'custom',
          steps: [{ percent: 100, bakeTimeMs: 0, minDevices: 0, maxFailureRate: 1, gate: 'auto' }],
          security: false,
          createdBy: 'bench',
        },
      );
      await waitForStatus(client, { channel, version, timeoutMs: 30 * 60_000 }, (s) => s.stage === 'approval');
    });
    // Never offered to a device: abort it, as an operator would.
    await releaseAction(
      client,
      { channel, version },
      { action: 'abort', input: { actor: 'bench', reason: 'benchmark done' } },
    );
    const ratio = ours.ms / baseline.ms;
    report(
      `Release pipeline on a ${mib} MiB build (embedded stack)`,
      [
        {
          measure: 'upload to awaiting approval',
          baseline: `${(baseline.ms / 1000).toFixed(1)} s`,
          ours: `${(ours.ms / 1000).toFixed(1)} s`,
          ratio,
          target: '<= 2.00',
          met: ratio <= 2,
        },
      ],
      asJson,
    );
  } finally {
    await client.connection.close();
    await rm(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
