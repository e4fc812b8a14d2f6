/**
 * A fleet-sized rollout: N simulated devices (the real SDK, in two worker threads
 * of this process, bench/fleetDevices.ts; each with its own enrolled certificate and folder,
 * speaking mutual TLS to the API) on a stack whose
 * fleet store is PostgreSQL take a release through 4 steps (1%, 10%, 50%, 100%), each with a
 * bake time and a health gate (half of the step's devices reported healthy, at most 5% failed).
 * The devices run the SDK's own loop: a poll every --poll seconds, jittered by ±20%.
 *
 * Measured from the approval until every device runs the release and the release is stable:
 * wall time, the API's requests/s and p99 latency (its request log), bytes each device
 * downloaded (metadata + artifact, counted at the devices' HTTP client), and the release
 * workflow's history length (every run, should it continue as new). Baseline, same run, same
 * plan and poll: a small fleet (--baseline devices) on a channel of its own. Per-device bytes
 * and history length must not grow with the fleet.
 *
 *   OTA_TEST_PORT_OFFSET=120 bash scripts/node.sh dist/bench/fleet.js [--devices 10000] [--baseline 100] [--poll 30] [--bake 45] [--json]
 *
 * The stack and its PostgreSQL cluster live in var/bench-fleet on the test ports of that offset,
 * the devices' folders in /dev/shm/enigm-bench-fleet (enrolled identities and the fleet store
 * are kept, so a second run skips enrollment);
 * `npm run stop` does not stop it: the run ends it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { bucketInPercent, rolloutBucket } from '@enigm-ota/client-sdk';
import type { Client } from '@temporalio/client';

import { type ReleaseStatus, releaseWorkflowId, type RolloutStep } from '../common/release';
import { approveRelease, createRelease, releaseStatus, waitForStatus } from '../control/releases';
import { connectClient } from '../control/temporal';
import { AdminApiClient } from '../infra/adminApiClient';
import type { Config } from '../infra/config';
import { Storage } from '../infra/storage';
import { startPostgres, stopPostgres } from '../scripts/lib/postgres';
import { ProcessManager } from '../scripts/lib/processes';
import { stackDown, type StackProfile, stackUp, TEST_PORT_OFFSET, TEST_PROFILE } from '../scripts/lib/stack';
import { type FactoryKit, loadFactoryKit, provisionDevice } from '../simulator/fleet';
import { device, DEVICES_DIR, HARDWARE, RunningFleet } from './fleetDevices';
import { intArg, percentile, report, type Row, timed } from './lib';

const PROFILE: StackProfile = { ...TEST_PROFILE, home: resolve(__dirname, '..', '..', 'var', 'bench-fleet') };
const POSTGRES_DIR = join(PROFILE.home, 'postgres');
// The devices' file work shares libuv's pool with their TLS and DNS work: more threads than the default 4.
process.env['UV_THREADPOOL_SIZE'] ??= '16';
// The postgres test tier's port rule (15433 + offset): the offset keeps runs side by side apart.
const POSTGRES_PORT = 15433 + TEST_PORT_OFFSET;
const PERCENTS = [1, 10, 50, 100];
/** A step's gate passes once this share of its devices (all steps so far) reported healthy. */
const GATE_SHARE = 0.5;
const ARTIFACT_BYTES = 64 * 1024;

const arg = (name: string, fallback: number) => intArg(name, fallback, 1, 10_000);

interface Fleet {
  channel: string;
  ids: string[];
}

interface Outcome {
  wallMs: number;
  requestsPerS: number;
  p99Ms: number;
  pollP99Ms: number;
  failedRequests: number;
  /** Device cycles (poll, and install if offered) that failed; the device retries after its backoff. */
  failedCycles: number;
  /** CPU seconds the API process and this process (the devices) used. */
  apiCpuS: number;
  devicesCpuS: number;
  /** Response body bytes the devices received, by kind. */
  bytes: { metadata: number; artifact: number; api: number };
  historyEvents: number;
  runs: number;
  updated: number;
  stage: string;
}

async function main(): Promise<void> {
  const started = Date.now();
  const devices = arg('devices', 10_000);
  const baseline = arg('baseline', 100);
  const poll = arg('poll', 30);
  const pollMs = poll * 1000;
  // Long enough for a step's devices to have polled once (the interval plus its jitter).
  const bakeMs = arg('bake', Math.ceil(poll * 1.5)) * 1000;
  const asJson = process.argv.includes('--json');
  const say = (line: string) => asJson || process.stdout.write(`${line}\n`);

  // Identities without the fleet store that enrolled them are of no use: both go, or both stay.
  if (!existsSync(join(POSTGRES_DIR, 'data'))) await rm(DEVICES_DIR, { recursive: true, force: true });
  const databaseUrl = await startPostgres(POSTGRES_DIR, POSTGRES_PORT);
  say(`[stack] fleet store: PostgreSQL at ${databaseUrl}`);
  try {
    const config = await stackUp(PROFILE, { extraEnv: { DATABASE_URL: databaseUrl }, log: (l) => say(`[stack] ${l}`) });
    const client = await connectClient(config);
    try {
      const small: Fleet = { channel: 'bench-base', ids: deviceIds('base', baseline) };
      const large: Fleet = { channel: 'bench-fleet', ids: deviceIds('fleet', devices) };
      const kit = await loadFactoryKit(config);
      const enrolled = await timed(() => enrollAll(config, kit, [small, large], say));
      say(
        `${enrolled.value} of ${baseline + devices} devices enrolled in ${(enrolled.ms / 1000).toFixed(0)} s (the others kept their identities)`,
      );

      const base = await rollout(config, client, kit, small, pollMs, bakeMs, say);
      const ours = await rollout(config, client, kit, large, pollMs, bakeMs, say);

      const perDevice = (o: Outcome, n: number) => (o.bytes.metadata + o.bytes.artifact) / n;
      const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
      const row = (
        measure: string,
        b: number,
        o: number,
        unit: (x: number) => string,
        verdict?: { target: string; met: boolean },
      ): Row => {
        const measured = { measure, baseline: unit(b), ours: unit(o), ratio: o / b };
        return verdict ? { ...measured, ...verdict } : measured;
      };
      const bytesRatio = perDevice(ours, devices) / perDevice(base, baseline);
      const historyRatio = ours.historyEvents / base.historyEvents;
      const events = (o: Outcome) => `${o.historyEvents} (${o.runs} run${o.runs === 1 ? '' : 's'})`;
      const rows: Row[] = [
        row('wall time, approval to all updated', base.wallMs / 1000, ours.wallMs / 1000, (s) => `${s.toFixed(0)} s`),
        row('API requests/s (rollout)', base.requestsPerS, ours.requestsPerS, (r) => `${r.toFixed(1)}/s`),
        row('API p99 latency, all requests', base.p99Ms, ours.p99Ms, (ms) => `${ms.toFixed(1)} ms`),
        row('API p99 latency, polls', base.pollP99Ms, ours.pollP99Ms, (ms) => `${ms.toFixed(1)} ms`),
        row('API requests failed (5xx)', base.failedRequests, ours.failedRequests, String, {
          target: '0',
          met: ours.failedRequests === 0,
        }),
        row('device cycles failed (then retried)', base.failedCycles, ours.failedCycles, String),
        // Totals: both processes have work that does not grow with the fleet (timers, caches, the status queries).
        row('API CPU', base.apiCpuS, ours.apiCpuS, (sec) => `${sec.toFixed(1)} s`),
        row(
          "simulated devices' CPU (this process)",
          base.devicesCpuS,
          ours.devicesCpuS,
          (sec) => `${sec.toFixed(1)} s`,
        ),
        row('bytes per device (metadata + artifact)', perDevice(base, baseline), perDevice(ours, devices), kib, {
          target: '<= 1.1x',
          met: bytesRatio <= 1.1,
        }),
        row('  of which metadata', base.bytes.metadata / baseline, ours.bytes.metadata / devices, kib),
        row('  poll and report answers per device', base.bytes.api / baseline, ours.bytes.api / devices, kib),
        {
          ...row('workflow history events', base.historyEvents, ours.historyEvents, String, {
            target: '<= 1.05x',
            met: historyRatio <= 1.05,
          }),
          baseline: events(base),
          ours: events(ours),
        },
        {
          measure: 'devices on the release',
          baseline: `${base.updated}/${baseline}`,
          ours: `${ours.updated}/${devices}`,
          ratio: NaN,
          target: 'all, stable',
          met: ours.updated === devices && ours.stage === 'stable',
        },
      ];
      report(
        `${devices} devices vs ${baseline} (same run), PostgreSQL fleet store: ${PERCENTS.join('/')}% with health gates, bake ${bakeMs / 1000} s, poll ${pollMs / 1000} s ±20%, ${ARTIFACT_BYTES / 1024} KiB artifact; whole run ${((Date.now() - started) / 1000).toFixed(0)} s (enrollment ${(enrolled.ms / 1000).toFixed(0)} s)`,
        rows,
        asJson,
      );
    } finally {
      await client.connection.close();
    }
  } finally {
    await stackDown(PROFILE);
    stopPostgres(POSTGRES_DIR);
  }
}

function deviceIds(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(5, '0')}`);
}

interface EnrollWork {
  config: Config;
  kit: FactoryKit;
  todo: Array<{ id: string; channel: string }>;
}

/**
 * Devices without a certificate enroll (a token from the admin API, then a key and a CSR);
 * returns how many did. That is mostly the devices' own CPU (an RSA key, a CSR signed by
 * node-forge in JavaScript), so it runs in two threads, one per core.
 */
async function enrollAll(config: Config, kit: FactoryKit, fleets: Fleet[], say: (l: string) => void): Promise<number> {
  const todo = fleets
    .flatMap((f) => f.ids.map((id) => ({ id, channel: f.channel })))
    .filter(({ id }) => !existsSync(join(DEVICES_DIR, id, 'identity', 'device.pem')));
  let done = 0;
  await Promise.all(
    [0, 1].map(
      (t) =>
        new Promise<void>((resolve, reject) => {
          const work: EnrollWork = { config, kit, todo: todo.filter((_, i) => i % 2 === t) };
          const thread = new Worker(__filename, { workerData: work });
          thread.on('message', () => {
            if (++done % 500 === 0) say(`  ${done}/${todo.length} enrolled`);
          });
          thread.once('error', reject);
          thread.once('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`enrollment thread exited with ${code}`)),
          );
        }),
    ),
  );
  return todo.length;
}

/** One thread's share, 4 at a time (each waits on the API half the time). */
async function enrollShare({ config, kit, todo }: EnrollWork): Promise<void> {
  const api = AdminApiClient.fromConfig(config);
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < todo.length) {
          const { id, channel } = todo[next++]!;
          const agent = await provisionDevice(config, { api, kit }, device(channel, id));
          // Enrollment only: the first poll is part of the fleet's steady state (rollout below).
          await agent.identity();
          parentPort?.postMessage(id);
        }
      }),
    );
  } finally {
    await api.close();
  }
}

/**
 * One release through the 4 steps on `fleet`'s channel. The devices poll on their own
 * schedule from before the release is created (a fleet in its steady state, not one that
 * starts together at the approval); measurement runs from the approval to the end.
 */
async function rollout(
  config: Config,
  client: Client,
  kit: FactoryKit,
  fleet: Fleet,
  pollMs: number,
  bakeMs: number,
  say: (l: string) => void,
): Promise<Outcome> {
  const n = fleet.ids.length;
  // Newer than whatever an earlier run left on the devices.
  const version = `1.0.${Math.floor(Date.now() / 1000)}`;
  // The rollout's salt is the release id (activities/signAndPublish.ts): each step's devices are known now.
  const salt = releaseWorkflowId(fleet.channel, version);
  const steps: RolloutStep[] = PERCENTS.map((percent) => {
    const inStep = fleet.ids.filter((id) => bucketInPercent(rolloutBucket(salt, id), percent)).length;
    return {
      percent,
      bakeTimeMs: bakeMs,
      minDevices: Math.ceil(inStep * GATE_SHARE),
      maxFailureRate: 0.05,
      gate: 'auto',
    };
  });
  say(
    `[${fleet.channel}] ${n} devices, release ${version}; gates need ${steps.map((s) => `${s.minDevices} at ${s.percent}%`).join(', ')}`,
  );

  const devices = new RunningFleet(config, kit, fleet.channel, fleet.ids, pollMs);
  const onRelease = () => fleet.ids.filter((id) => devices.running.get(id) === version).length;
  try {
    // The steady state first: a device that missed the channel's last release (new in this
    // run, or stopped mid-way last time) catches up now, not inside the measurement.
    const warm = await timed(async () => {
      const until = Date.now() + 4 * pollMs + 120_000;
      while (devices.upToDate.size < n && Date.now() < until) await sleep(1000);
    });
    const behind = n - devices.upToDate.size;
    say(
      `[${fleet.channel}] devices polling; ${behind === 0 ? 'all' : `all but ${behind}`} up to date after ${(warm.ms / 1000).toFixed(0)} s`,
    );
    const artifact = join(config.home, 'releases', `fw-${version}.bin`);
    await mkdir(join(config.home, 'releases'), { recursive: true });
    await writeFile(artifact, randomBytes(ARTIFACT_BYTES));
    await createRelease(
      { client, storage: new Storage(config.minio) },
      {
        artifact,
        version,
        hardwareIds: [HARDWARE],
        channel: fleet.channel,
        rollbackIndex: 1,
        plan: 'bench-fleet',
        steps,
        security: false,
        createdBy: 'bench-release-manager',
      },
    );
    await waitForStatus(client, { channel: fleet.channel, version, timeoutMs: 300_000 }, (s) => s.stage === 'approval');
    await rm(artifact);

    const pm = new ProcessManager(PROFILE.home);
    const apiLog = pm.logFile('api');
    const logFrom = (await stat(apiLog)).size;
    devices.measure();
    const approvedAt = Date.now();
    const failedBefore = devices.failedCycles;
    const apiCpu = await cpuSeconds(pm.running('api'));
    const devicesCpu = process.cpuUsage();
    let doneAt = approvedAt;
    let status: ReleaseStatus | undefined;
    let apiCpuS = NaN;
    let devicesCpuS = NaN;
    try {
      await approveRelease(
        client,
        { channel: fleet.channel, version },
        {
          approver: 'bench-release-owner',
          comment: 'fleet benchmark',
        },
      );
      // Given up only when nothing moves for longer than a step can take (an overloaded API is measured, not cut short).
      const stalledMs = bakeMs + 10 * pollMs + 120_000;
      let progress = { at: approvedAt, updated: 0, percent: 0 };
      for (let tick = 0; ; tick++) {
        status = await releaseStatus(client, { channel: fleet.channel, version });
        const updated = onRelease();
        if (updated !== progress.updated || status.percent !== progress.percent)
          progress = { at: Date.now(), updated, percent: status.percent };
        if (tick % 10 === 0)
          say(
            `[${fleet.channel}] +${((Date.now() - approvedAt) / 1000).toFixed(0)} s: ${status.stage} ${status.percent}%, gate ${status.gate ? `${status.gate.reports}/${status.gate.minDevices} reports` : '-'}; ${updated}/${n} devices on ${version}${devices.errors.size ? `; failed cycles ${[...devices.errors].map(([k, c]) => `${k}: ${c}`).join(', ')}` : ''}`,
          );
        if (
          (updated === n && status.stage === 'stable') ||
          status.paused ||
          status.lifecycle === 'ended' ||
          Date.now() - progress.at > stalledMs
        )
          break;
        await sleep(1000);
      }
      doneAt = Date.now();
    } finally {
      apiCpuS = (await cpuSeconds(pm.running('api'))) - apiCpu;
      const used = process.cpuUsage(devicesCpu);
      devicesCpuS = (used.user + used.system) / 1e6;
    }
    const bytes = devices.bytes;
    const log = await requestLog(apiLog, logFrom, approvedAt, doneAt);
    // A stable release's workflow returns: wait for it, then count every run's events.
    if (status?.stage === 'stable') await Promise.race([client.workflow.getHandle(salt).result(), sleep(60_000)]);
    let historyEvents = 0;
    let historyRuns = 0;
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${salt}'` })) {
      historyEvents += wf.historyLength;
      historyRuns += 1;
    }
    const wallMs = doneAt - approvedAt;
    return {
      wallMs,
      requestsPerS: log.durations.length / (wallMs / 1000),
      p99Ms: percentile(log.durations, 99),
      pollP99Ms: percentile(log.polls, 99),
      failedRequests: log.failed,
      failedCycles: devices.failedCycles - failedBefore,
      apiCpuS,
      devicesCpuS,
      bytes,
      historyEvents,
      runs: historyRuns,
      updated: onRelease(),
      stage: status?.stage ?? 'unknown',
    };
  } finally {
    await devices.stop();
  }
}

/** The API's request log lines written after byte `from`, between two times: sorted durations (ms), the polls' alone, and 5xx answers. */
async function requestLog(
  file: string,
  from: number,
  startMs: number,
  endMs: number,
): Promise<{ durations: number[]; polls: number[]; failed: number }> {
  const durations: number[] = [];
  const polls: number[] = [];
  let failed = 0;
  for await (const line of createInterface({ input: createReadStream(file, { start: from }), crlfDelay: Infinity })) {
    if (!line.includes('"msg":"request')) continue;
    const entry = JSON.parse(line) as { time: string; route?: string; durationMs?: number; status?: number };
    const at = Date.parse(entry.time);
    if (at < startMs || at > endMs || entry.durationMs === undefined) continue;
    durations.push(entry.durationMs);
    if (entry.route === '/v1/poll') polls.push(entry.durationMs);
    if ((entry.status ?? 0) >= 500) failed += 1;
  }
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  return { durations: sorted(durations), polls: sorted(polls), failed };
}

/** CPU seconds (user + system) a process has used, from Linux's /proc (NaN where there is none). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const line = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // After "pid (comm) ": state is field 3, utime and stime fields 14 and 15, in clock ticks (100/s).
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  return line ? (Number(fields[11]) + Number(fields[12])) / 100 : NaN;
}

if (isMainThread) {
  void main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  // A failure rejects unhandled: the thread ends with an 'error' event in enrollAll.
  void enrollShare(workerData as EnrollWork);
}
