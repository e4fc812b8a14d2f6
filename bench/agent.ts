/**
 * The device agent's footprint, side by side in one run (targets in bench/agentRows.ts):
 *  - idle resident memory of the SDK's DeviceAgent with the reference installer, bundled as a
 *    device runs it (device/packaging/bundle.ts), after an update cycle over mutual TLS, against
 *    a bare `node` process of the same runtime (target: at most 16 MiB above it);
 *  - peak resident memory of the device's process verifying and installing a full image, and
 *    downloading, applying and installing a delta of it (target: at most 96 MiB, at 1 GiB);
 *  - delta sizes on the registry pairs against bsdiff's (target: no larger);
 *  - the time of our verified download + install against the best tools doing the same
 *    (`curl` with the device's certificate into `tee` and `openssl dgst -sha256`, then `cp`
 *    into the slot and `sync`); reported, since the target (1.2x) is against `rauc install`.
 * The device side runs as the device runs it: bundled and built into a single executable with
 * the agent's runtime settings (device/packaging/sea.ts), the bare `node` with the same settings.
 * Images are the registry pairs repeated (bench/pairs.ts); the 1 GiB delta and the pairs' sizes
 * are built once and kept in var/bench-agent (the server's build takes most of an hour).
 *
 *   bash scripts/node.sh dist/bench/agent.js [--mib 1024] [--rounds 2] [--quick] [--only idle|install] [--json]
 *
 * `--only install` skips the idle row.
 * `--quick`: a smoke run of the whole benchmark in a few minutes, on synthetic pairs (16 MiB
 * images, a 2 MiB pair for the sizes; made once, kept beside the others), one round.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { DELTA_FORMAT, type DeltaBinding, newKeyAndCsr } from '@enigm-ota/client-sdk';

import { bundleDevice } from '../device/packaging/bundle';
import { AGENT_EXEC_ARGV, singleExecutable } from '../device/packaging/sea';
import { buildDeltaFile } from '../infra/bsdiffSegments';
import { FleetCa } from '../infra/fleetCa';
import { CHANNEL, HARDWARE, startLoopbackOta } from '../test/unit/client-sdk/loopbackOta';
import type { ChildSpec } from './agentChild';
import { type AgentMeasurements, agentRows, idleRow } from './agentRows';
import { intArg, loadNote, report, timed } from './lib';
import { fetchPairs, type Pair, repeated, sha256Of } from './pairs';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const HOME = resolve(__dirname, '..', '..', 'var', 'bench-agent');
const log = (line: string) => process.stderr.write(`[agent] ${line}\n`);

interface ChildResult {
  rssMiB: number;
  maxRssMiB: number;
  /** The peak so far after each step of an install. */
  phases: Record<string, number>;
  ms: number;
}

/** One measurement in the device side's single executable (`exe`), started as the agent's unit starts it. */
async function child(exe: string, spec: ChildSpec): Promise<ChildResult> {
  const { stdout } = await run(exe, [JSON.stringify(spec)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as ChildResult;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Bare `node` with the agent's runtime settings, waiting as long as the idle agent does before it reads its own memory. */
async function bareNode(): Promise<number> {
  const script =
    "setTimeout(() => process.stdout.write(String(Number(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024)), 2000)";
  const { stdout } = await run(process.execPath, [...AGENT_EXEC_ARGV, '-e', script]);
  return Number(stdout);
}

interface Tls {
  ca: FleetCa;
  server: { certPem: string; keyPem: string };
  device: { caPem: string; certPem: string; keyPem: string };
}

function makeTls(): Tls {
  const ca = FleetCa.ephemeral();
  const device = newKeyAndCsr('bench-device');
  return {
    ca,
    server: ca.issueServer('api', ['127.0.0.1']),
    device: {
      caPem: ca.certPem,
      keyPem: device.keyPem,
      certPem: ca.signDeviceCsr(device.csrPem, 'bench-device', 24).certPem,
    },
  };
}

/** The loopback device API (test/unit/client-sdk/loopbackOta.ts) behind mutual TLS, as the real API is. */
async function idleAgent(exe: string, tls: Tls, rounds: number): Promise<number> {
  const ota = await startLoopbackOta([{ version: '1.0.0', rollbackIndex: 1, bytes: randomBytes(1 << 20) }]);
  ota.offering = '1.0.0';
  const upstream = new URL(ota.url);
  const front = createTlsServer(
    {
      cert: tls.server.certPem,
      key: tls.server.keyPem,
      ca: tls.ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const up = httpRequest(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(up);
    },
  );
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  try {
    const results: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const dir = join(HOME, 'idle-device');
      await rm(dir, { recursive: true, force: true });
      const idle = {
        apiUrl: `https://127.0.0.1:${(front.address() as AddressInfo).port}`,
        roots: ota.roots,
        channel: CHANNEL,
        hardwareId: HARDWARE,
      };
      results.push((await child(exe, { mode: 'idle', identity: tls.device, dir, idle })).rssMiB);
    }
    return median(results);
  } finally {
    front.closeAllConnections();
    front.close();
    await ota.close();
  }
}

/**
 * What the images and the sizes are made of: the registry pairs repeated to `mib`, or for
 * `--quick` a synthetic pair (random bytes, then every 64 KiB a few bytes changed and a few
 * inserted, as a release moves code), each made once and kept under its `key`.
 */
interface Source {
  key: string;
  mib: number;
  sizePairs(): Promise<Pair[]>;
  images(base: string, next: string): Promise<void>;
}

async function syntheticPair({ base, next, bytes }: { base: string; next: string; bytes: number }): Promise<void> {
  if (existsSync(base) && existsSync(next)) return;
  const old = randomBytes(bytes);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes; at += 64 * 1024) {
    const block = Buffer.from(old.subarray(at, Math.min(bytes, at + 64 * 1024)));
    randomBytes(32).copy(block, 100);
    parts.push(block.subarray(0, 1000), randomBytes(16), block.subarray(1000));
  }
  await writeFile(base, old);
  await writeFile(next, Buffer.concat(parts).subarray(0, bytes));
}

function registrySource(mib: number): Source {
  let pairs: Promise<Pair[]> | undefined;
  const sizePairs = () => (pairs ??= fetchPairs());
  return {
    key: '',
    mib,
    sizePairs,
    images: async (base, next) => {
      const p = await sizePairs();
      await repeated(
        p.map((x) => x.old),
        mib,
        base,
      );
      await repeated(
        p.map((x) => x.new),
        mib,
        next,
      );
    },
  };
}

function quickSource(): Source {
  const file = (n: string) => join(HOME, `quick-${n}`);
  return {
    key: 'quick-',
    mib: 16,
    sizePairs: async () => {
      await syntheticPair({ base: file('pair-old'), next: file('pair-new'), bytes: 2 * MiB });
      return [{ name: 'synthetic 2 MiB (--quick)', old: file('pair-old'), new: file('pair-new') }];
    },
    images: (base, next) => syntheticPair({ base, next, bytes: 16 * MiB }),
  };
}

/** The pair of images and the delta between them, made once and kept (keyed by source and size). */
async function images(source: Source) {
  const name = (n: string) => join(HOME, `${source.key}${n}-${source.mib}`);
  const [base, next, delta] = [name('base'), name('next'), name('delta')];
  const kept = `${delta}.json`;
  if (!existsSync(kept) || !existsSync(delta)) {
    log(`${source.mib} MiB images, and the delta between them (the registry pairs at 1 GiB: most of an hour)`);
    await source.images(base, next);
    const built = await buildDeltaFile(
      { base, target: next, work: `${delta}-build`, out: delta },
      { onSegment: (i, of) => log(`  segment ${i}/${of}`) },
    );
    const binding: DeltaBinding = {
      format: DELTA_FORMAT,
      base: { sha256: await sha256Of(base), length: (await stat(base)).size },
      target: { name: 'bench/1.0.0/image', sha256: await sha256Of(next), length: (await stat(next)).size },
    };
    await writeFile(kept, JSON.stringify({ length: built.length, sha256: built.sha256, binding }));
    await rm(`${delta}-build`, { recursive: true, force: true });
  }
  const d = JSON.parse(await readFile(kept, 'utf8')) as { length: number; sha256: string; binding: DeltaBinding };
  return { base, next, delta: { ...d, file: delta } };
}

/** Our delta and bsdiff's on each registry pair, kept beside the pairs once measured. */
async function pairSizes(pairs: Pair[]): Promise<AgentMeasurements['pairs']> {
  const out: AgentMeasurements['pairs'] = [];
  for (const pair of pairs) {
    const kept = join(HOME, `sizes-${pair.name.replace(/[^A-Za-z0-9.]+/g, '-')}.json`);
    if (!existsSync(kept)) {
      log(`${pair.name}: our delta and bsdiff's`);
      const ours = await buildDeltaFile({
        base: pair.old,
        target: pair.new,
        work: join(HOME, 'pair-build'),
        out: join(HOME, 'pair.delta'),
      });
      await run('bsdiff', [pair.old, pair.new, join(HOME, 'pair.bsdiff')]);
      const bsdiff = (await stat(join(HOME, 'pair.bsdiff'))).size;
      await writeFile(kept, JSON.stringify({ ours: ours.length, bsdiff }));
      for (const f of ['pair-build', 'pair.delta', 'pair.bsdiff'])
        await rm(join(HOME, f), { recursive: true, force: true });
    }
    out.push({ name: pair.name, ...(JSON.parse(await readFile(kept, 'utf8')) as { ours: number; bsdiff: number }) });
  }
  return out;
}

/** The best tools doing our install's work: curl with the device's certificate | tee | openssl dgst, then cp and sync. */
async function toolsInstall(url: string, tls: Tls, work: string): Promise<number> {
  await writeFile(join(work, 'ca.pem'), tls.device.caPem);
  await writeFile(join(work, 'dev.pem'), tls.device.certPem);
  await writeFile(join(work, 'dev.key'), tls.device.keyPem);
  const curl = `curl -sf --cacert ${work}/ca.pem --cert ${work}/dev.pem --key ${work}/dev.key ${url}`;
  const { ms } = await timed(() =>
    run('bash', [
      '-c',
      `set -o pipefail; ${curl} | tee ${work}/image | openssl dgst -sha256 >/dev/null && cp ${work}/image ${work}/slot && sync ${work}/slot`,
    ]),
  );
  await rm(join(work, 'image'), { force: true });
  await rm(join(work, 'slot'), { force: true });
  return ms;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const json = args.includes('--json');
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const source = quick ? quickSource() : registrySource(intArg('mib', 1024, 64, 4096));
  const mib = source.mib;
  const rounds = quick ? 1 : intArg('rounds', 2, 1, 10);
  const load = loadavg()[0]!;
  await mkdir(HOME, { recursive: true });
  const tls = makeTls();
  const bundle = await bundleDevice({ entry: join(__dirname, 'agentChild.js'), outfile: join(HOME, 'agent-child.js') });
  const exe = singleExecutable({ bundle: bundle.file, dir: HOME, name: 'agent-child' });
  // A device reads its executable from disk after a boot: written back and dropped from the
  // page cache, this one is read the same way.
  await run('sync', [exe]);
  await run('dd', [`if=${exe}`, 'iflag=nocache', 'count=0', 'status=none']);
  log(`device bundle ${Math.round(bundle.bytes / 1024)} KiB, run as ${exe} (${AGENT_EXEC_ARGV.join(' ')})`);

  const bare: number[] = [];
  let idleMiB = NaN;
  if (only !== 'install') {
    log('bare node and the idle agent');
    for (let i = 0; i < (quick ? 1 : 3); i++) bare.push(await bareNode());
    idleMiB = await idleAgent(exe, tls, quick ? 1 : 3);
    log(`  bare node ${median(bare).toFixed(1)} MiB, the idle agent ${idleMiB.toFixed(1)} MiB`);
  }
  if (only === 'idle') {
    report(`Device agent at rest (${loadNote(load)})`, [idleRow({ bareMiB: median(bare), idleMiB })], json);
    return;
  }

  const { base, next, delta } = await images(source);
  const work = join(HOME, 'device');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const tlsFile = join(HOME, 'server-tls.json');
  await writeFile(tlsFile, JSON.stringify({ ...tls.server, caPem: tls.ca.certPem }));
  const server = spawn(process.execPath, [join(__dirname, 'fileServer.js'), HOME, tlsFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((r) => server.stdout.once('data', (d: Buffer) => r(d.toString().trim())));
  try {
    const image = {
      url: `${url}/${basename(next)}`,
      length: delta.binding.target.length,
      sha256: delta.binding.target.sha256,
    };
    const spec = (mode: 'full' | 'delta'): ChildSpec => ({
      mode,
      identity: tls.device,
      dir: work,
      image,
      ...(mode === 'delta'
        ? {
            delta: {
              url: `${url}/${basename(delta.file)}`,
              length: delta.length,
              sha256: delta.sha256,
              base,
              binding: delta.binding,
            },
          }
        : {}),
    });
    const full: ChildResult[] = [];
    const tools: number[] = [];
    const applied: ChildResult[] = [];
    for (let i = 0; i < rounds; i++) {
      log(`round ${i + 1}/${rounds}: full image, the tools, the delta`);
      full.push(await child(exe, spec('full')));
      await rm(join(work, 'slots'), { recursive: true, force: true });
      tools.push(await toolsInstall(image.url, tls, work));
      applied.push(await child(exe, spec('delta')));
      await rm(join(work, 'slots'), { recursive: true, force: true });
      const [f, d] = [full.at(-1)!, applied.at(-1)!];
      const steps = (r: ChildResult) =>
        Object.entries(r.phases)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ');
      log(
        `  full ${(f.ms / 1000).toFixed(1)} s peak ${f.maxRssMiB.toFixed(1)} MiB; tools ${(tools.at(-1)! / 1000).toFixed(1)} s; ` +
          `delta ${(d.ms / 1000).toFixed(1)} s peak ${d.maxRssMiB.toFixed(1)} MiB`,
      );
      log(`  peak after each step (MiB): full: ${steps(f)}; delta: ${steps(d)}`);
    }
    const measured: AgentMeasurements = {
      mib,
      bareMiB: only === 'install' ? NaN : median(bare),
      idleMiB,
      fullPeakMiB: Math.max(...full.map((r) => r.maxRssMiB)),
      deltaPeakMiB: Math.max(...applied.map((r) => r.maxRssMiB)),
      pairs: await pairSizes(await source.sizePairs()),
      install: {
        oursMs: Math.min(...full.map((r) => r.ms)),
        baselineMs: Math.min(...tools),
        baseline: '(curl | tee | openssl dgst; cp; sync)',
        judged: false,
      },
    };
    log(`delta ${delta.length} B; next image ${next}`);
    report(`Device agent footprint (${loadNote(load)})`, agentRows(measured).slice(only === 'install' ? 1 : 0), json);
  } finally {
    server.kill();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
