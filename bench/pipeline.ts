/**
 * Pipeline overhead: a build from upload to "waiting for approval" (the CLI's hash, its upload
 * to the content address with a checksum storage verifies, intake, manifest, HSM signing,
 * registration, validation with tuf-js) against the best tool pipeline for the same bytes: `curl` uploading the file to
 * a presigned PUT URL of the same MinIO while `openssl dgst -sha256` hashes it, side by side.
 * Target: at most 1.5x. Rounds alternate the two sides; each side's best is kept.
 *
 * The stack is its own, in var/bench-pipeline on the test ports of OTA_TEST_PORT_OFFSET
 * (started, then stopped at the end), so the run meets no other stack's ports.
 *
 *   OTA_TEST_PORT_OFFSET=140 bash scripts/node.sh dist/bench/pipeline.js [--mib 1024] [--rounds 2] [--json]
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { createRelease, releaseAction, waitForStatus } from '../control/releases';
import { connectClient } from '../control/temporal';
import { Storage } from '../infra/storage';
import { stackDown, type StackProfile, stackUp, TEST_PROFILE } from '../scripts/lib/stack';
import { intArg, loadNote, report, timed } from './lib';

const run = promisify(execFile);
const PROFILE: StackProfile = { ...TEST_PROFILE, home: resolve(__dirname, '..', '..', 'var', 'bench-pipeline') };

async function main(): Promise<void> {
  const asJson = process.argv.includes('--json');
  const mib = intArg('mib', 1024, 16, 8192);
  const rounds = intArg('rounds', 2, 1, 10);
  const say = (line: string) => asJson || process.stderr.write(`[pipeline] ${line}\n`);
  const load = loadavg()[0]!;
  const config = await stackUp(PROFILE, { log: (l) => say(`[stack] ${l}`) });
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-pipeline-'));
  const client = await connectClient(config);
  const storage = new Storage(config.minio);
  try {
    const file = join(dir, 'build.bin');
    const out = createWriteStream(file);
    const chunk = randomBytes(1 << 20);
    for (let i = 0; i < mib; i++) if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    await new Promise<void>((r) => out.end(() => r()));
    await run('openssl', ['dgst', '-sha256', file]); // page cache warm for both sides
    await storage.ensureBuckets();

    // The tools: one upload and one hash of the same file, at once (two processes).
    const tools = async () => {
      const url = await storage.client.presignedPutObject(
        storage.bucketName('intake'),
        `bench/plain-${randomUUID()}.bin`,
        3600,
      );
      return (
        await timed(() =>
          Promise.all([run('curl', ['-sS', '--fail', '-T', file, url]), run('openssl', ['dgst', '-sha256', file])]),
        )
      ).ms;
    };
    const ours = async () => {
      // A build never uploaded before: the same bytes would find their content address taken.
      const handle = await open(file, 'r+');
      await handle.write(randomBytes(1 << 20), 0, 1 << 20, 0);
      await handle.close();
      const version = `0.0.${Date.now() % 1_000_000}`;
      const channel = 'bench';
      const start = performance.now();
      let firstByte = 0;
      let started = 0;
      const { ms } = await timed(async () => {
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
          () => (firstByte ||= performance.now()),
        );
        started = performance.now();
        await waitForStatus(client, { channel, version, timeoutMs: 30 * 60_000 }, (s) => s.stage === 'approval');
      });
      const s = (t: number) => ((t - start) / 1000).toFixed(1);
      say(`ours: hashed ${s(firstByte)} s, uploaded and started ${s(started)} s, awaiting approval ${s(start + ms)} s`);
      // Never offered to a device: abort it, as an operator would.
      await releaseAction(
        client,
        { channel, version },
        { action: 'abort', input: { actor: 'bench', reason: 'benchmark done' } },
      );
      return ms;
    };
    let baseline = Infinity;
    let pipeline = Infinity;
    for (let i = 0; i < rounds; i++) {
      const sides = [
        async () => (baseline = Math.min(baseline, await tools())),
        async () => (pipeline = Math.min(pipeline, await ours())),
      ];
      for (const side of i % 2 ? sides.reverse() : sides) await side();
      say(
        `round ${i + 1}: best so far tools ${(baseline / 1000).toFixed(1)} s, pipeline ${(pipeline / 1000).toFixed(1)} s`,
      );
    }
    const ratio = pipeline / baseline;
    report(
      `Release pipeline on a ${mib} MiB build, best of ${rounds}; ${loadNote(load)}`,
      [
        {
          measure: 'upload to awaiting approval',
          baseline: `${(baseline / 1000).toFixed(1)} s curl -T + openssl`,
          ours: `${(pipeline / 1000).toFixed(1)} s`,
          ratio,
          target: '<= 1.50',
          met: ratio <= 1.5,
        },
      ],
      asJson,
    );
  } finally {
    await client.connection.close();
    await rm(dir, { recursive: true, force: true });
    await stackDown(PROFILE);
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
