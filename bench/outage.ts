/**
 * A fleet coming back from an API outage: N simulated devices (the real SDK,
 * each with its own enrolled identity and folder) poll a live embedded stack; the API is
 * stopped for the outage and started again; we measure when each device's first successful
 * poll after the restart lands (seconds after the API is back) and the API's busiest second.
 * Baseline, same devices, same run: the naive agent loop, a fixed 1 s retry with no jitter.
 * Targets: fewer requests in the busiest second than the naive loop's (< 1x), every device
 * back, and the last ones (p99) back by the naive loop's p99 plus one backoff window (the
 * retry policy's cap, 60 s): <= 1.00x of that. p0 and p50 are reported.
 *
 *   OTA_TEST_PORT_OFFSET=110 bash scripts/node.sh dist/bench/outage.js [--devices 1000] [--outage 60] [--poll 15] [--json]
 *
 * The stack lives in var/bench-outage on the test ports of that offset (identities are kept,
 * so a second run skips enrollment); `npm run stop` does not stop it: the run ends it.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { type DeviceAgent, type RetryPolicy, retryPolicy } from '@enigm-ota/client-sdk';

import type { Config } from '../infra/config';
import { currentRun, ProcessManager } from '../scripts/lib/processes';
import { stackDown, type StackProfile, stackUp, TEST_PROFILE } from '../scripts/lib/stack';
import { loadFactoryKit, mapLimited, provisionDevices, simulatedDevice } from '../simulator/fleet';
import { intArg, loadNote, percentile, report, type Row, timed } from './lib';

const PROFILE: StackProfile = { ...TEST_PROFILE, home: resolve(__dirname, '..', '..', 'var', 'bench-outage') };

const arg = (name: string, fallback: number) => intArg(name, fallback, 1, 10_000);

interface Outcome {
  /** Seconds after the API was back until each device's first successful poll, sorted. */
  backS: number[];
  /** Requests the API logged in its busiest second after the restart. */
  peakRps: number;
  /** Devices not back within the wait. */
  missing: number;
}

async function main(): Promise<void> {
  const devices = arg('devices', 1000);
  const outageMs = arg('outage', 60) * 1000;
  const pollMs = arg('poll', 15) * 1000;
  const asJson = process.argv.includes('--json');
  const say = (line: string) => asJson || process.stdout.write(`${line}\n`);
  const load = loadavg()[0]!;
  const config = await stackUp(PROFILE, { log: (l) => say(`[stack] ${l}`) });
  try {
    const ids = Array.from({ length: devices }, (_, i) => `outage-${String(i + 1).padStart(5, '0')}`);
    const enrolled = await timed(() => enrollAll(config, ids));
    say(`${devices} devices provisioned and polled once in ${(enrolled.ms / 1000).toFixed(0)} s`);

    // Ours: the SDK's own schedule (jittered polls, full-jitter backoff, Retry-After).
    const jittered = await outage(
      config,
      ids,
      outageMs,
      say,
      (agent, signal, seen) =>
        agent.run(signal, (o) => {
          if (o.result) seen();
        }),
      { pollIntervalMs: pollMs },
    );
    // Baseline: the same devices, a loop that retries every second and polls on a fixed beat.
    const fixed = await outage(
      config,
      ids,
      outageMs,
      say,
      async (agent, signal, seen) => {
        while (!signal.aborted) {
          const ok = await agent.checkForUpdate().then(
            () => true,
            () => false,
          );
          if (ok) seen();
          await sleep(ok ? pollMs : 1000, undefined, { signal }).catch(() => undefined);
        }
      },
      { pollIntervalMs: pollMs, pollJitter: 0, maxAttempts: 1 },
    );

    // Spreading the fleet out costs it time, within a bound: once the API answers, a device
    // waits at most one backoff window (the policy's cap) before its next try, so the last
    // devices should be back by the naive loop's time plus that window. Later than that, the
    // backoff is holding devices away from a working API.
    const capS = retryPolicy({ pollIntervalMs: pollMs }).capMs / 1000;
    const rows: Row[] = [0, 50].map((p) => ({
      measure: `p${p} back after restart`,
      baseline: `${percentile(fixed.backS, p).toFixed(2)} s`,
      ours: `${percentile(jittered.backS, p).toFixed(2)} s`,
      ratio: percentile(jittered.backS, p) / percentile(fixed.backS, p),
    }));
    const boundS = percentile(fixed.backS, 99) + capS;
    const p99 = percentile(jittered.backS, 99);
    rows.push({
      measure: 'p99 back after restart',
      baseline: `${boundS.toFixed(2)} s (fixed + cap)`,
      ours: `${p99.toFixed(2)} s`,
      ratio: p99 / boundS,
      target: '<= 1.00x',
      // NaN (no device back at all) is not met.
      met: p99 <= boundS,
    });
    rows.push({
      measure: 'peak requests/s at the API',
      baseline: `${fixed.peakRps}/s`,
      ours: `${jittered.peakRps}/s`,
      ratio: jittered.peakRps / fixed.peakRps,
      target: '< 1',
      met: jittered.peakRps < fixed.peakRps,
    });
    rows.push({
      measure: 'devices not back in time',
      baseline: String(fixed.missing),
      ours: String(jittered.missing),
      ratio: NaN,
      target: '0',
      met: jittered.missing === 0,
    });
    report(
      `${devices} devices, API down ${outageMs / 1000} s, poll every ${pollMs / 1000} s (baseline: fixed 1 s retry, no jitter; ${loadNote(load)})`,
      rows,
      asJson,
    );
  } finally {
    await stackDown(PROFILE);
  }
}

/** Every device enrolled (its first cycle), provisioned as `ota fleet simulate` does. */
async function enrollAll(config: Config, ids: string[]): Promise<void> {
  const agents = await provisionDevices(config, ids, (id) => ({
    deviceId: id,
    hardwareId: 'devkit-a',
    channel: 'bench',
    stateDir: join(config.home, 'devices', id),
  }));
  await mapLimited(agents, 8, (agent) => agent.checkForUpdate());
}

type Loop = (agent: DeviceAgent, signal: AbortSignal, seen: () => void) => Promise<void>;

/** The devices run `loop` until they are steady, the API goes for `outageMs`, then comes back. */
async function outage(
  config: Config,
  ids: string[],
  outageMs: number,
  say: (l: string) => void,
  loop: Loop,
  retry: Partial<RetryPolicy>,
): Promise<Outcome> {
  const kit = await loadFactoryKit(config);
  const pm = new ProcessManager(PROFILE.home);
  const stop = new AbortController();
  let stoppedAt = Infinity;
  /** Each device's first successful poll after the API was stopped. */
  const first = new Map<string, number>();
  const runs = ids.map((id) => {
    const agent = simulatedDevice(config, kit, {
      deviceId: id,
      hardwareId: 'devkit-a',
      channel: 'bench',
      stateDir: join(config.home, 'devices', id),
      retry,
    });
    return loop(agent, stop.signal, () => {
      const now = Date.now();
      if (now > stoppedAt && !first.has(id)) first.set(id, now);
    });
  });
  try {
    const steadyMs = (retry.pollIntervalMs ?? 15_000) * 1.5;
    say(`devices polling for ${steadyMs / 1000} s before the outage`);
    await sleep(steadyMs);
    await pm.stop('api');
    // Only once the API is down: polls answered while it was still shutting down are not "back".
    stoppedAt = Date.now();
    say(`api stopped; back in ${outageMs / 1000} s`);
    await sleep(outageMs);
    await stackUp(PROFILE);
    const backAt = Date.now();
    say('api back');
    const deadline = backAt + 180_000;
    while (Date.now() < deadline && first.size < ids.length) await sleep(250);
    const backS = [...first.values()].map((t) => (t - backAt) / 1000).sort((a, b) => a - b);
    return {
      backS,
      peakRps: peakRps(currentRun(await readFile(pm.logFile('api'), 'utf8'))),
      missing: ids.length - first.size,
    };
  } finally {
    stop.abort();
    await Promise.all(runs);
  }
}

/** The most requests the API logged (answered) within one wall-clock second. */
function peakRps(log: string): number {
  const perSecond = new Map<string, number>();
  for (const line of log.split('\n')) {
    const m = /^\{"level":"[a-z]+","time":"([^"]{19})[^"]*".*"msg":"request"\}$/.exec(line);
    if (m) perSecond.set(m[1]!, (perSecond.get(m[1]!) ?? 0) + 1);
  }
  return Math.max(0, ...perSecond.values());
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
