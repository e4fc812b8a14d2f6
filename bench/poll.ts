/**
 * Device poll: at least 0.7x the requests/s of a bare express endpoint
 * on the same machine, p99 under 10 ms below saturation, with 100k enrolled devices.
 *
 * Both servers run here with the same HTTPS and client-certificate setup; the baseline
 * answers `{ offer: null }` at once, ours is the real poll route: request id and JSON log
 * line (to /dev/null), mutual TLS identity read from the fleet store (PGlite, 100k enrolled
 * devices) on every request, schema validation, eligibility over 50 signed rollout entries.
 *
 *   bash scripts/node.sh dist/bench/poll.js [--seconds 5] [--json]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { newKeyAndCsr } from '@enigm-ota/client-sdk';
import express, { json } from 'express';
import pino from 'pino';
import { Agent, request } from 'undici';

import { type DeviceRouteDeps, deviceRoutes } from '../api/deviceRoutes';
import { ApiMetrics, observe } from '../api/observability';
import { OfferIndex } from '../fleet/offers';
import { loadConfig } from '../infra/config';
import { Devices } from '../infra/devices';
import { FleetCa } from '../infra/fleetCa';
import { FleetStore } from '../infra/fleetStore';
import type { Storage } from '../infra/storage';
import { targetFile } from '../trust/roleMetadata';
import { percentile, report, type Row } from './lib';

const DEVICES = 100_000;
const CLIENTS = 8;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const asJson = args.includes('--json');
  const seconds = Number(args[args.indexOf('--seconds') + 1] ?? 0) || 5;
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-poll-'));
  const store = await FleetStore.open({ pgliteDir: join(dir, 'fleet') });
  try {
    // The CA's key only matters for the certificates here, so it stays in memory (no HSM).
    const ca = FleetCa.ephemeral();
    const server = ca.issueServer('bench', ['127.0.0.1']);
    await store.sql.exec(
      `INSERT INTO devices (device_id, current_version, hardware_id, channel, status, cert_serial, enrolled_at)
       SELECT 'bench-' || i, '1.0.0', 'devkit-a', 'bench', 'enrolled', 'serial-' || i, now() FROM generate_series(1, ${DEVICES}) i`,
    );
    // A few of them get real certificates: the load comes from these, the rest fill the table.
    const clients = [];
    for (let i = 1; i <= CLIENTS; i++) {
      const id = `bench-${i * 997}`;
      const { keyPem, csrPem } = newKeyAndCsr(id);
      const cert = ca.signDeviceCsr(csrPem, id, 24);
      await store.sql.query('UPDATE devices SET cert_serial = $2 WHERE device_id = $1', [
        id,
        cert.serial.toLowerCase(),
      ]);
      clients.push({ id, keyPem, certPem: cert.certPem });
    }
    const tls = {
      key: server.keyPem,
      cert: server.certPem,
      ca: ca.certPem,
      minVersion: 'TLSv1.3' as const,
      requestCert: true,
      rejectUnauthorized: false,
    };

    const bare = express();
    bare.post('/v1/poll', json(), (_req, res) => {
      res.json({ offer: null });
    });
    const ours = express();
    const config = loadConfig({ ...process.env, OTA_HOME: dir });
    ours.use(observe(config, new ApiMetrics(), pino({ level: 'info' }, pino.destination('/dev/null'))));
    ours.use(
      deviceRoutes({
        storage: {} as Storage,
        repos: {} as DeviceRouteDeps['repos'],
        artifactServing: config.artifacts,
        fleet: store,
        devices: new Devices(store.sql, store.exclusive),
        offers: offerIndex(),
        maxBodyBytes: 16 * 1024,
      }),
    );

    const rows: Row[] = [];
    const results: Record<string, { rps: number; p99: number }> = {};
    for (const [name, app] of [
      ['bare express', bare],
      ['poll route', ours],
    ] as const) {
      const s = createServer(tls, app);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const url = `https://127.0.0.1:${(s.address() as AddressInfo).port}/v1/poll`;
      await load(url, clients, ca.certPem, 4, 1); // warm up
      const saturated = await load(url, clients, ca.certPem, 32, seconds);
      const light = await load(url, clients, ca.certPem, 1, seconds);
      results[name] = { rps: saturated.rps, p99: percentile(light.latencies, 99) };
      await close(s);
    }
    const b = results['bare express']!;
    const o = results['poll route']!;
    rows.push({
      measure: 'requests/s at 32 concurrent (saturated)',
      baseline: `${b.rps.toFixed(0)}/s`,
      ours: `${o.rps.toFixed(0)}/s`,
      ratio: o.rps / b.rps,
      target: '>= 0.70',
      met: o.rps / b.rps >= 0.7,
    });
    rows.push({
      measure: 'p99 latency, one request at a time',
      baseline: `${b.p99.toFixed(2)} ms`,
      ours: `${o.p99.toFixed(2)} ms`,
      ratio: o.p99 / b.p99,
      target: '< 10 ms',
      met: o.p99 < 10,
    });
    report(`Device poll with ${DEVICES} enrolled devices (mutual TLS, PGlite fleet store)`, rows, asJson);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** 50 signed-looking rollout entries on the device's channel; the device runs the newest. */
function offerIndex(): OfferIndex {
  const targets = Array.from({ length: 50 }, (_, i) => {
    const version = `1.0.${i}`;
    const custom = {
      version,
      channel: 'bench',
      hardwareIds: ['devkit-a'],
      rollbackIndex: 0,
      rollout: { percent: 100, salt: `s-${i}`, paused: false, withdrawn: false },
    };
    return targetFile({ name: `bench/${version}/fw.bin`, length: 10, sha256: 'ab'.repeat(32), custom });
  });
  const offeredTo = () =>
    Promise.resolve({ scope: 'rollout', targets: Object.fromEntries(targets.map((t) => [t.path, t])) });
  return new OfferIndex({ offeredTo }, 60_000);
}

/** Closed-loop load: `concurrency` workers, each on its own device identity, for `seconds`. */
async function load(
  url: string,
  clients: Array<{ id: string; keyPem: string; certPem: string }>,
  caPem: string,
  concurrency: number,
  seconds: number,
) {
  const agents = clients.map(
    (c) => new Agent({ connect: { ca: caPem, cert: c.certPem, key: c.keyPem }, connections: 8 }),
  );
  const latencies: number[] = [];
  const until = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const i = w % clients.length;
      const body = JSON.stringify({
        deviceId: clients[i]!.id,
        hardwareId: 'devkit-a',
        channel: 'bench',
        currentVersion: '1.0.49',
      });
      while (Date.now() < until) {
        const start = process.hrtime.bigint();
        const res = await request(url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
          dispatcher: agents[i],
        });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`poll answered ${res.statusCode}`);
        latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        done++;
      }
    }),
  );
  await Promise.all(agents.map((a) => a.close()));
  latencies.sort((a, b) => a - b);
  return { rps: done / seconds, latencies };
}

async function close(s: Server): Promise<void> {
  s.closeAllConnections();
  await new Promise((r) => s.close(r));
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
