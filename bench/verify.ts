/**
 * SDK artifact verification: throughput at least 0.9x `sha256sum` on the
 * same file, and memory flat in artifact size (peak RSS for a size and for half of it, both past
 * the heap's warm-up: proportional memory would show 2x). The SDK path is the real one a device runs:
 * downloadVerified over HTTP from loopback, streaming to disk and hashing as bytes pass.
 *
 *   bash scripts/node.sh --expose-gc dist/bench/verify.js [--mib 512] [--json]
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { downloadVerified } from '@enigm-ota/client-sdk';

import { peakRss, report, type Row, timed } from './lib';

const run = promisify(execFile);

async function makeFile(file: string, mib: number): Promise<string> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  const chunk = randomBytes(1 * 1048576);
  for (let i = 0; i < mib; i++) {
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
  return hash.digest('hex');
}

/** Peak RSS of one verified download, measured in a child process of its own. */
async function memoryOf(url: string, length: number, sha256: string, out: string): Promise<{ peakMiB: number }> {
  const { stdout } = await run(process.execPath, [
    '--expose-gc',
    __filename,
    '--child',
    JSON.stringify({ url, length, sha256, out }),
  ]);
  return JSON.parse(stdout) as { peakMiB: number };
}

async function child(spec: { url: string; length: number; sha256: string; out: string }): Promise<void> {
  const { peakMiB } = await peakRss(() =>
    downloadVerified({ url: spec.url, length: spec.length, sha256: spec.sha256 }, spec.out),
  );
  process.stdout.write(JSON.stringify({ peakMiB }));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(JSON.parse(args[1]!) as Parameters<typeof child>[0]);
  const json = args.includes('--json');
  const mib = Number(args[args.indexOf('--mib') + 1] ?? 0) || 512;
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-verify-'));
  // The verified copy goes to memory-backed storage when there is some: the disk's writeback
  // is not what this measures (sha256sum writes nothing).
  const outDir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ota-bench-out-'));
  const server = spawn(process.execPath, [join(__dirname, 'fileServer.js'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise<string>((resolve) =>
    server.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
  );
  try {
    const rows: Row[] = [];
    const big = await makeFile(join(dir, 'big.bin'), mib);
    const small = await makeFile(join(dir, 'small.bin'), mib / 2);
    // Warm the page cache for both sides, then measure each twice and keep the best.
    await run('sha256sum', [join(dir, 'big.bin')]);
    let baseline = Infinity;
    let ours = Infinity;
    for (let i = 0; i < 3; i++) {
      baseline = Math.min(baseline, (await timed(() => run('sha256sum', [join(dir, 'big.bin')]))).ms);
      const out = join(outDir, `out-${i}.bin`);
      ours = Math.min(
        ours,
        (await timed(() => downloadVerified({ url: `${base}/big.bin`, length: mib * 1048576, sha256: big }, out))).ms,
      );
      await rm(out, { force: true });
    }
    const mbps = (ms: number) => `${((mib / ms) * 1000).toFixed(0)} MiB/s`;
    rows.push({
      measure: `verify ${mib} MiB (download + hash + write)`,
      baseline: `sha256sum ${mbps(baseline)}`,
      ours: mbps(ours),
      ratio: baseline / ours,
      target: '>= 0.90',
      met: baseline / ours >= 0.9,
    });

    // Each size in a fresh process (neither inherits the other's heap), best of three.
    const memoryFor = async (name: string, length: number, sha: string) => {
      let peakMiB = Infinity;
      for (let i = 0; i < 3; i++)
        peakMiB = Math.min(
          peakMiB,
          (await memoryOf(`${base}/${name}`, length, sha, join(outDir, `m-${name}`))).peakMiB,
        );
      return { peakMiB };
    };
    const memSmall = await memoryFor('small.bin', (mib / 2) * 1048576, small);
    const memBig = await memoryFor('big.bin', mib * 1048576, big);
    const ratio = memBig.peakMiB / memSmall.peakMiB;
    rows.push({
      measure: `peak RSS, ${mib} MiB vs ${mib / 2} MiB artifact`,
      baseline: `${memSmall.peakMiB.toFixed(0)} MiB`,
      ours: `${memBig.peakMiB.toFixed(0)} MiB`,
      ratio,
      target: '<= 1.10',
      met: ratio <= 1.1,
    });
    report('SDK artifact verification', rows, json);
  } finally {
    server.kill();
    await rm(dir, { recursive: true, force: true });
    await rm(outDir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
