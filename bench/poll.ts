/**
 * Device poll: at least 0.8x the requests/s of a bare express endpoint on the same machine,
 * p99 under 10 ms below saturation, with 100,000 enrolled devices.
 *
 * Ours is the real API process of an embedded stack (`dist/api/main.js`: every router,
 * request log line to its log file, mutual TLS identity checked against the fleet store,
 * schema, offers from the signed rollout repository it reads from MinIO through the
 * watermarks) with 100,000 devices in its fleet store, PGlite and then PostgreSQL. The
 * baseline is a bare express endpoint in a process of its own with the API's TLS
 * (bench/pollBaseline.ts) that answers `{ offer: null }` at once. The load comes from
 * `--identities` devices with certificates of the stack's fleet CA, each poll from the next
 * device, three ways (bench/pollLoad.ts): connections kept alive (one per device), a new TLS
 * session for every poll (a device's first poll, or one whose ticket expired) and a resumed
 * session for every poll (a device polling every few minutes). Releases are signed and
 * published by the worker's own activities: the devices' partition holds two stable
 * releases and one at 50%, so about half of the polls get an offer.
 *
 * The machine is shared, so absolute numbers move with its load (printed with the result):
 * each ratio compares runs made one right after the other, and the API's CPU time per poll
 * (from /proc) says what a poll costs whatever the load.
 *
 * Tracing (infra/tracing.ts) is off by default and then costs a poll nothing: the rows above are
 * the API with it off. On the first backend the API then runs again with tracing on, every poll
 * a span exported to Jaeger, to show what turning it on costs (skip with --no-traces).
 *
 *   OTA_TEST_PORT_OFFSET=180 bash scripts/node.sh dist/bench/poll.js [--seconds 5] [--identities 1000] [--rounds 3] [--only pglite|postgresql] [--no-traces] [--json]
 *
 * The stack lives in var/bench-poll (made afresh each run) and is stopped at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';

import forge from 'node-forge';

import { publishRollout, registerRelease, signRelease } from '../activities/signAndPublish';
import { type ReleaseTarget, targetName } from '../common/release';
import type { Config } from '../infra/config';
import { FleetCa, fleetCaToken } from '../infra/fleetCa';
import { FleetStore } from '../infra/fleetStore';
import { startPostgres, stopPostgres } from '../scripts/lib/postgres';
import { ProcessManager } from '../scripts/lib/processes';
import { stackDown, type StackProfile, stackUp, TEST_PORT_OFFSET, TEST_PROFILE } from '../scripts/lib/stack';
import { createActivityDeps } from '../worker/deps';
import { intArg, percentile, report, type Row } from './lib';
import { type ConnectionMode, type LoadResult, openPoller, type PollingDevice, pollLoad } from './pollLoad';

const PROFILE: StackProfile = { ...TEST_PROFILE, home: resolve(__dirname, '..', '..', 'var', 'bench-poll') };
const DEVICES = 100_000;
const CHANNEL = 'bench';
const HARDWARE = 'devkit-a';
/** What the devices run: 1.2.0 rolls out to half of them. */
const RUNNING = '1.1.0';
const CONCURRENCY = 32;
const TARGET = 0.8;
/** Distinct device keys: a certificate per device, a key shared by several (keys cost seconds to make). */
const KEYS = 16;

type Backend = 'PGlite' | 'PostgreSQL';
/** A polling device and its certificate's serial (which the fleet store holds). */
type BenchDevice = PollingDevice & { serial: string };

async function main(): Promise<void> {
  const seconds = intArg('seconds', 5, 1, 600);
  const identities = intArg('identities', 1000, CONCURRENCY, 20_000);
  const rounds = intArg('rounds', 3, 1, 20);
  const asJson = process.argv.includes('--json');
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const backends = (['PGlite', 'PostgreSQL'] as const).filter((b) => !only || b.toLowerCase() === only.toLowerCase());
  const say = (line: string) => asJson || process.stdout.write(`${line}\n`);
  await stackDown(PROFILE);
  await rm(PROFILE.home, { recursive: true, force: true });
  const config = await stackUp(PROFILE, { log: (l) => say(`[stack] ${l}`) });
  const pm = new ProcessManager(PROFILE.home);
  let baseline: ChildProcess | undefined;
  let cluster: string | undefined;
  try {
    await publishReleases(config);
    const devices = await issueIdentities(config, identities);
    say(`${identities} device identities issued by the fleet CA; releases published`);
    baseline = spawn(process.execPath, [
      join(__dirname, 'pollBaseline.js'),
      config.identity.apiTlsKey,
      config.identity.apiTlsCert,
      config.identity.fleetCaCert,
    ]);
    const [line] = (await once(baseline.stdout!, 'data')) as [Buffer];
    const bare = { url: new URL(line.toString().trim()), pid: baseline.pid! };
    const rows: Row[] = [];
    const load = [loadavg()[0]!];
    for (const backend of backends) {
      await pm.stop('api');
      let databaseUrl: string | undefined;
      if (backend === 'PostgreSQL') {
        if (!existsSync('/usr/lib/postgresql/15/bin/initdb')) {
          say('PostgreSQL server binaries not installed (scripts/setup.sh): its rows are skipped');
          continue;
        }
        // Under /tmp: the postgres system user must reach the folder (as in the postgres test tier).
        cluster = await mkdtemp(join(tmpdir(), 'ota-bench-poll-postgres-'));
        databaseUrl = await startPostgres(cluster, 15432 + TEST_PORT_OFFSET);
      }
      await seedFleet(databaseUrl ? { databaseUrl, pgliteDir: '' } : config.fleet, devices);
      await stackUp(PROFILE, { extraEnv: databaseUrl ? { DATABASE_URL: databaseUrl } : {} });
      const ours = { url: new URL(config.api.url), pid: pm.running('api')! };
      say(`${backend}: ${DEVICES} devices in the fleet store, API pid ${ours.pid}`);
      const run = { bare, ours, devices, seconds, rounds };
      const { rows: measured, kept } = await measure(backend, run);
      rows.push(...measured);
      if (backend === backends[0] && !process.argv.includes('--no-traces')) {
        await pm.stop('api');
        await stackUp(PROFILE, { extraEnv: databaseUrl ? { DATABASE_URL: databaseUrl } : {}, traces: true });
        say(`${backend}: the API again with tracing on, every poll exported to Jaeger`);
        const traced = { ...run, ours: { url: ours.url, pid: pm.running('api')! } };
        rows.push(...tracingRows(backend, kept, await alternate(traced, 'keep-alive', CONCURRENCY)));
      }
      load.push(loadavg()[0]!);
    }
    report(
      `Device poll with ${DEVICES} enrolled devices, ${identities} of them polling (load average ${load.map((l) => l.toFixed(1)).join(' -> ')} on ${availableParallelism()} CPUs)`,
      rows,
      asJson,
    );
  } finally {
    baseline?.kill();
    await stackDown(PROFILE);
    if (cluster) {
      stopPostgres(cluster);
      await rm(cluster, { recursive: true, force: true });
    }
  }
}

/**
 * Each mode against the baseline, then against the API, one right after the other, `rounds`
 * times: the best round of each is kept (the one the machine's other load disturbed least).
 */
async function measure(backend: Backend, run: Run): Promise<{ rows: Row[]; kept: Pair }> {
  const both = (mode: ConnectionMode, concurrency: number) => alternate(run, mode, concurrency);
  const rows: Row[] = [];
  const kept = await both('keep-alive', CONCURRENCY);
  rows.push(rpsRow(`${backend}: polls/s, kept-alive connections`, kept, TARGET));
  rows.push({
    measure: `${backend}: API CPU per poll, kept alive`,
    baseline: `${kept.b.serverCpuUs.toFixed(0)} us`,
    ours: `${kept.o.serverCpuUs.toFixed(0)} us`,
    ratio: kept.o.serverCpuUs / kept.b.serverCpuUs,
  });
  for (const mode of ['new session', 'resumed session'] as const) {
    rows.push(rpsRow(`${backend}: polls/s, a ${mode} per poll`, await both(mode, CONCURRENCY)));
  }
  const light = await both('keep-alive', 1);
  const p99 = { b: percentile(light.b.latencies, 99), o: percentile(light.o.latencies, 99) };
  rows.push({
    measure: `${backend}: p99, one poll at a time`,
    baseline: `${p99.b.toFixed(2)} ms`,
    ours: `${p99.o.toFixed(2)} ms`,
    ratio: p99.o / p99.b,
    target: '< 10 ms',
    met: p99.o < 10,
  });
  return { rows, kept };
}

/**
 * The baseline and the API, one right after the other, `rounds` times, in one connection mode:
 * the best round of each (the one the machine's other load disturbed least).
 */
async function alternate(run: Run, mode: ConnectionMode, concurrency: number): Promise<Pair> {
  const { bare, ours, devices, seconds, rounds } = run;
  const pollers = [bare, ours].map((server) => ({ server, poller: openPoller(server.url, mode) }));
  try {
    // Every device once first: its connection (or session ticket) exists, its record was read.
    for (const { server, poller } of pollers)
      await pollLoad(server, devices, { poller, concurrency: CONCURRENCY, polls: devices.length });
    const best: Array<LoadResult | undefined> = [undefined, undefined];
    for (let round = 0; round < rounds; round++) {
      for (const [i, { server, poller }] of pollers.entries()) {
        await pollLoad(server, devices, { poller, concurrency, seconds: 1 });
        const r = await pollLoad(server, devices, { poller, concurrency, seconds });
        if (!best[i] || r.rps > best[i].rps) best[i] = r;
      }
    }
    return { b: best[0]!, o: best[1]! };
  } finally {
    for (const { poller } of pollers) await poller.close();
  }
}

/**
 * What tracing costs a poll. Off (the default) the API mounts no tracing middleware and wraps
 * no call: the kept-alive row above is the API with tracing off, against the bare endpoint.
 * On, every poll is a span exported to Jaeger. Each is measured against the bare endpoint
 * right beside it, so the ratio of the two ratios holds whatever the machine's load.
 */
function tracingRows(backend: Backend, off: Pair, on: Pair): Row[] {
  const vsBare = (r: Pair) => r.o.rps / r.b.rps;
  const cpu = (r: Pair) => r.o.serverCpuUs / r.b.serverCpuUs;
  return [
    rpsRow(`${backend}: tracing on (every poll a span to Jaeger), polls/s kept alive`, on),
    {
      measure: `${backend}: tracing on / off, polls/s and CPU per poll`,
      baseline: `off ${vsBare(off).toFixed(2)}x, ${cpu(off).toFixed(2)}x cpu`,
      ours: `on ${vsBare(on).toFixed(2)}x, ${cpu(on).toFixed(2)}x cpu`,
      ratio: vsBare(on) / vsBare(off),
    },
  ];
}

interface Server {
  url: URL;
  pid: number;
}

/** What one measurement runs: both servers, the devices that poll, and for how long. */
interface Run {
  bare: Server;
  ours: Server;
  devices: PollingDevice[];
  seconds: number;
  rounds: number;
}

/** The best round of the baseline (`b`) and of the API (`o`). */
interface Pair {
  b: LoadResult;
  o: LoadResult;
}

/** Requests/s of both, with the CPU per poll and (for per-poll sessions) how many were resumed. */
function rpsRow(measure: string, { b, o }: Pair, target?: number): Row {
  const text = (r: LoadResult) =>
    `${r.rps.toFixed(0)}/s ${r.serverCpuUs.toFixed(0)}us${r.resumed ? ` ${((100 * r.resumed) / r.polls).toFixed(0)}%res` : ''}`;
  const ratio = o.rps / b.rps;
  const row = { measure, baseline: text(b), ours: text(o), ratio };
  return target === undefined ? row : { ...row, target: `>= ${target.toFixed(2)}x`, met: ratio >= target };
}

/** Two stable releases and one rolling out to half the devices, signed and published as a release run does. */
async function publishReleases(config: Config): Promise<void> {
  const deps = await createActivityDeps(config);
  try {
    for (const [version, percent] of [
      ['1.0.0', 100],
      ['1.1.0', 100],
      ['1.2.0', 50],
    ] as const) {
      const target: ReleaseTarget = {
        name: targetName(CHANNEL, version, 'fw.bin'),
        length: 64 * 1024 * 1024,
        sha256: Buffer.from(version).toString('hex').padStart(64, '0'),
        custom: { version, channel: CHANNEL, hardwareIds: [HARDWARE], rollbackIndex: 1 },
      };
      await registerRelease(deps, { staged: await signRelease(deps, { target }) });
      await publishRollout(deps, {
        target,
        releaseId: `bench-${version}`,
        percent,
        paused: false,
        withdrawn: false,
        approvals: [{ approver: 'bench', at: new Date().toISOString() }],
      });
    }
  } finally {
    await deps.close();
  }
}

/** Certificates of the stack's fleet CA (in its HSM token) for devices spread over the fleet. */
async function issueIdentities(config: Config, count: number): Promise<BenchDevice[]> {
  const ca = await FleetCa.load(config.identity.fleetCaCert, fleetCaToken(config));
  const caPem = ca.certPem;
  try {
    const keys = Array.from({ length: KEYS }, () => forge.pki.rsa.generateKeyPair({ bits: 2048 }));
    return Array.from({ length: count }, (_, i) => {
      const deviceId = `bench-${1 + Math.floor((i * DEVICES) / count)}`;
      const key = keys[i % KEYS]!;
      const csr = forge.pki.createCertificationRequest();
      csr.publicKey = key.publicKey;
      csr.setSubject([{ name: 'commonName', value: deviceId }]);
      csr.sign(key.privateKey, forge.md.sha256.create());
      const cert = ca.signDeviceCsr(forge.pki.certificationRequestToPem(csr), deviceId, 24);
      return {
        deviceId,
        serial: cert.serial.toLowerCase(),
        context: createSecureContext({ ca: caPem, cert: cert.certPem, key: forge.pki.privateKeyToPem(key.privateKey) }),
        body: JSON.stringify({ deviceId, hardwareId: HARDWARE, channel: CHANNEL, currentVersion: RUNNING }),
      };
    });
  } finally {
    ca.close();
  }
}

/** 100,000 enrolled devices; the polling ones carry their certificates' serials. */
async function seedFleet(fleet: Parameters<typeof FleetStore.open>[0], devices: BenchDevice[]): Promise<void> {
  const store = await FleetStore.open(fleet);
  try {
    await store.sql.exec(
      `INSERT INTO devices (device_id, current_version, hardware_id, channel, status, cert_serial, enrolled_at)
       SELECT 'bench-' || i, '${RUNNING}', '${HARDWARE}', '${CHANNEL}', 'enrolled', 'serial-' || i, now()
       FROM generate_series(1, ${DEVICES}) i`,
    );
    await store.sql.query(
      `UPDATE devices d SET cert_serial = v.serial FROM unnest($1::text[], $2::text[]) AS v(id, serial) WHERE d.device_id = v.id`,
      [devices.map((d) => d.deviceId), devices.map((d) => d.serial)],
    );
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
