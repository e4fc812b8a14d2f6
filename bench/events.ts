/**
 * Webhook events: 10,000 events recorded at a steady rate into the outbox (PGlite, the
 * embedded default, then a PostgreSQL cluster of its own) and delivered by the API's
 * dispatcher to a receiver process, signed, in order per release. Measured: the latency from each change to its arrival (target: p99 at
 * most 2 s), and the dispatcher's CPU per event against the baseline of the same signed
 * CloudEvent bodies POSTed straight to the same receiver by a bare loop (no outbox, no claim,
 * no bookkeeping), in the same run. A burst (every event recorded at once) shows throughput.
 *
 *   OTA_TEST_PORT_OFFSET=160 bash scripts/node.sh dist/bench/events.js [--events 10000] [--rate 500]
 *     [--only pglite|postgresql] [--json]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { CloudEvent, HTTP } from 'cloudevents';
import { Agent, request } from 'undici';

import { EVENT_TYPES } from '../common/webhookEvents';
import { FleetStore } from '../infra/fleetStore';
import { type NewEvent, WebhookStore } from '../infra/webhookStore';
import { startPostgres, stopPostgres } from '../scripts/lib/postgres';
import { TEST_PORT_OFFSET } from '../scripts/lib/stack';
import { WebhookDispatcher } from '../webhooks/dispatcher';
import { newSecret, sign } from '../webhooks/signature';
import { intArg, loadNote, percentile, report, type Row } from './lib';

const KEYS = 100;
const json = process.argv.includes('--json');

interface Receiver {
  url: string;
  stats(): Promise<number[]>;
  stop(): void;
}

async function startReceiver(): Promise<Receiver> {
  const child = fork(join(__dirname, 'eventReceiver.js'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [port] = (await once(child, 'message')) as [number];
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/hook`,
    stats: async () => (await (await fetch(`${base}/stats`)).json()) as number[],
    stop: () => child.kill(),
  };
}

const eventOf = (i: number, run: string): NewEvent => ({
  key: `${run}-${i}`,
  type: 'release.step-published',
  subject: `releases/bench/1.${i % KEYS}.0`,
  channel: 'bench',
  orderingKey: `release:bench-${i % KEYS}`,
  data: { releaseId: `release-bench-1.${i % KEYS}.0`, channel: 'bench', version: `1.${i % KEYS}.0`, step: i },
});

/** CPU microseconds of this process while `fn` runs. */
async function cpu<T>(fn: () => Promise<T>): Promise<{ us: number; ms: number; value: T }> {
  const [c0, t0] = [process.cpuUsage(), Date.now()];
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { us: c.user + c.system, ms: Date.now() - t0, value };
}

/** The baseline: the same signed structured CloudEvents, POSTed by a bare loop, 4 at a time. */
async function bareLoop(url: string, events: number): Promise<void> {
  const agent = new Agent({ connections: 4 });
  const secret = newSecret();
  let next = 0;
  const worker = async () => {
    while (next < events) {
      const i = next++;
      const ce = new CloudEvent({
        id: `bare-${i}`,
        source: 'urn:enigm-ota:bench',
        type: 'dev.enigm-ota.release.step-published',
        subject: `releases/bench/1.${i % KEYS}.0`,
        time: new Date().toISOString(),
        data: { step: i },
      });
      const { headers, body } = HTTP.structured(ce);
      const timestamp = Math.floor(Date.now() / 1000);
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          ...(headers as Record<string, string>),
          'webhook-id': ce.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': sign(secret, { id: ce.id, timestamp, body: String(body) }),
        },
        body: String(body),
      });
      await res.body.dump();
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  await agent.close();
}

interface Run {
  events: number;
  rate: number;
  receiver: Receiver;
  /** CPU and time of the bare loop, the baseline. */
  bare: { us: number; ms: number };
}

/** One backend's store: recorded at a steady rate, then a burst; its rows. */
async function measure(
  backend: string,
  fleetConfig: { pgliteDir: string; databaseUrl?: string },
  run: Run,
): Promise<Row[]> {
  const { events, rate, receiver, bare } = run;
  const fleet = await FleetStore.open(fleetConfig);
  const store = new WebhookStore(fleet.sql);
  const dispatcher = new WebhookDispatcher(store, {
    policy: { allowPrivate: true, self: { hosts: [], ports: [] } },
    timeoutMs: 10_000,
    maxRetryMs: 60_000,
    giveUpAfterMs: 86_400_000,
    concurrency: 16,
    source: 'urn:enigm-ota:bench',
    warn: (msg) => console.error(msg),
  });
  try {
    await store.subscribe({ url: receiver.url, secret: newSecret(), types: EVENT_TYPES, createdBy: 'bench' });
    await receiver.stats();
    dispatcher.start();
    const delivered = async (n: number) => {
      for (;;) {
        const { rows } = await fleet.sql.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM webhook_deliveries WHERE state = 'delivered'",
        );
        if (rows[0]!.n >= n) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // Steady: `rate` events a second, recorded in batches every 10 ms, as changes happen.
    const steady = await cpu(async () => {
      const perTick = Math.max(1, Math.round(rate / 100));
      const start = Date.now();
      for (let i = 0; i < events; i += perTick) {
        const due = start + (i / rate) * 1000;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        await store.record(Array.from({ length: Math.min(perTick, events - i) }, (_, k) => eventOf(i + k, 'steady')));
        dispatcher.wake();
      }
      await delivered(events);
    });
    const latencies = (await receiver.stats()).sort((a, b) => a - b);
    // Burst: every event recorded first, then delivered as fast as it goes.
    const recordedAt = Date.now();
    for (let i = 0; i < events; i += 500)
      await store.record(Array.from({ length: Math.min(500, events - i) }, (_, k) => eventOf(i + k, 'burst')));
    const recordMs = Date.now() - recordedAt;
    const burst = await cpu(async () => {
      dispatcher.wake();
      await delivered(2 * events);
    });
    await receiver.stats();
    const p99 = percentile(latencies, 99);
    const p50 = percentile(latencies, 50);
    return [
      {
        measure: `${backend}: p99 change-to-arrival, ${rate}/s`,
        baseline: '-',
        ours: `${p99} ms`,
        ratio: p99 / 2000,
        target: '<= 2000 ms',
        met: p99 <= 2000 && latencies.length === events,
      },
      { measure: `${backend}: p50 change-to-arrival`, baseline: '-', ours: `${p50} ms`, ratio: p50 / 2000 },
      {
        measure: `${backend}: CPU per event`,
        baseline: `${(bare.us / events).toFixed(0)} us`,
        ours: `${(steady.us / events).toFixed(0)} us`,
        ratio: steady.us / bare.us,
      },
      {
        measure: `${backend}: burst delivered per s`,
        baseline: `${((events / bare.ms) * 1000).toFixed(0)}/s`,
        ours: `${((events / burst.ms) * 1000).toFixed(0)}/s`,
        ratio: bare.ms / burst.ms,
      },
      {
        measure: `${backend}: burst recorded per s`,
        baseline: '-',
        ours: `${((events / recordMs) * 1000).toFixed(0)}/s`,
        ratio: 1,
      },
    ];
  } finally {
    await dispatcher.stop();
    await fleet.close();
  }
}

async function main(): Promise<void> {
  const events = intArg('events', 10_000, 100, 1_000_000);
  const rate = intArg('rate', 500, 10, 100_000);
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const load0 = loadavg()[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-events-'));
  const receiver = await startReceiver();
  const rows: Row[] = [];
  try {
    const bare = await cpu(() => bareLoop(receiver.url, events));
    await receiver.stats();
    const run = { events, rate, receiver, bare };
    if (!only || only === 'pglite') rows.push(...(await measure('PGlite', { pgliteDir: join(dir, 'pglite') }, run)));
    if (!only || only === 'postgresql') {
      // A folder of its own under /tmp: the postgres user must reach it (startPostgres hands it over).
      const cluster = await mkdtemp(join(tmpdir(), 'ota-bench-events-postgres-'));
      try {
        const databaseUrl = await startPostgres(cluster, 15432 + TEST_PORT_OFFSET);
        rows.push(...(await measure('PostgreSQL', { pgliteDir: '', databaseUrl }, run)));
      } finally {
        stopPostgres(cluster);
        await rm(cluster, { recursive: true, force: true });
      }
    }
    report(`Webhook events: ${events} through the outbox to a receiver process (${loadNote(load0)})`, rows, json);
  } finally {
    receiver.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
