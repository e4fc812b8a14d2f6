/**
 * Artifact delivery: the API's CPU time per GiB of artifacts served, streamed
 * through the API (`OTA_ARTIFACT_DELIVERY=stream`, the baseline) against redirected to a
 * presigned MinIO URL (the default), side by side in one run. Target: at least 20x less.
 *
 * Each mode runs the real device routes (mutual TLS identity from a PGlite fleet store, the
 * access decision, the artifact route) in a child process of its own, so its CPU time is
 * the API's alone; this process is the device: it downloads the artifact over mutual TLS
 * (following the redirect to MinIO) and checks every byte's sha256.
 *
 *   bash scripts/node.sh dist/bench/delivery.js [--mib 256] [--rounds 4] [--json]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { newKeyAndCsr } from '@enigm-ota/client-sdk';
import express from 'express';
import pino from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';

import { type DeviceRouteDeps, deviceRoutes } from '../api/deviceRoutes';
import { ApiMetrics, observe } from '../api/observability';
import { OfferIndex } from '../fleet/offers';
import { loadConfig } from '../infra/config';
import { Devices } from '../infra/devices';
import { FleetCa } from '../infra/fleetCa';
import { FleetStore } from '../infra/fleetStore';
import { artifactKey, Storage } from '../infra/storage';
import { httpOk, ProcessManager } from '../scripts/lib/processes';
import { targetFile } from '../trust/roleMetadata';
import { report, type Row } from './lib';

const MINIO_PORT = 19_790;
const DEVICE = 'bench-device';

/** What the parent hands each server process (IPC). */
interface ServerSetup {
  dir: string;
  delivery: 'redirect' | 'stream';
  sha256: string;
  length: number;
  tls: { keyPem: string; certPem: string; caPem: string };
  env: Record<string, string>;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const asJson = args.includes('--json');
  const num = (flag: string, fallback: number) => Number(args[args.indexOf(flag) + 1] ?? 0) || fallback;
  const mib = num('--mib', 256);
  const rounds = num('--rounds', 4);
  const say = (line: string) => asJson || process.stdout.write(`${line}\n`);
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-delivery-'));
  const pm = new ProcessManager(dir);
  const env = {
    MINIO_URL: `http://127.0.0.1:${MINIO_PORT}`,
    MINIO_ACCESS_KEY: 'bench-delivery',
    MINIO_SECRET_KEY: randomBytes(12).toString('hex'),
    OTA_HOME: dir,
  };
  try {
    await pm.start({
      name: 'minio',
      command: 'minio',
      args: [
        'server',
        join(dir, 'minio'),
        '--address',
        `127.0.0.1:${MINIO_PORT}`,
        '--console-address',
        `127.0.0.1:${MINIO_PORT + 1}`,
        '--quiet',
      ],
      env: { MINIO_ROOT_USER: env.MINIO_ACCESS_KEY, MINIO_ROOT_PASSWORD: env.MINIO_SECRET_KEY },
      ready: () => httpOk(`http://127.0.0.1:${MINIO_PORT}/minio/health/live`),
    });
    const storage = new Storage(loadConfig({ ...process.env, ...env }).minio);
    await storage.ensureBuckets();
    const { sha256, file } = await randomArtifact(dir, mib);
    await storage.putFile('artifacts', artifactKey(sha256), { file });
    say(`artifact: ${mib} MiB in MinIO; ${rounds} downloads per mode (${((mib * rounds) / 1024).toFixed(2)} GiB)`);

    // One enrolled device with a real certificate from an in-memory CA (no HSM needed here).
    const ca = FleetCa.ephemeral();
    const server = ca.issueServer('bench', ['127.0.0.1']);
    const { keyPem, csrPem } = newKeyAndCsr(DEVICE);
    const cert = ca.signDeviceCsr(csrPem, DEVICE, 24);
    const store = await FleetStore.open({ pgliteDir: join(dir, 'fleet') });
    await store.sql.query(
      `INSERT INTO devices (device_id, current_version, hardware_id, channel, status, cert_serial, enrolled_at) VALUES ($1, '0.0.1', 'devkit-a', 'bench', 'enrolled', $2, now())`,
      [DEVICE, cert.serial.toLowerCase()],
    );
    await store.close();

    const device = new Agent({ connect: { ca: ca.certPem, cert: cert.certPem, key: keyPem } });
    const cpu: Record<string, number> = {};
    for (const delivery of ['stream', 'redirect'] as const) {
      const setup: ServerSetup = {
        dir,
        delivery,
        sha256,
        length: mib << 20,
        tls: { keyPem: server.keyPem, certPem: server.certPem, caPem: ca.certPem },
        env,
      };
      const child = fork(__filename, ['--serve'], { stdio: 'inherit' });
      try {
        const port = await ask<number>(child, { setup });
        // Warm-up (first TLS handshake, the store's first query, the rollout load): not per GiB.
        const warm = await undiciFetch(`https://127.0.0.1:${port}/v1/artifacts/${sha256}`, {
          dispatcher: device,
          headers: { range: 'bytes=0-1023' },
        });
        if (warm.status !== 206) throw new Error(`${delivery}: warm-up answered HTTP ${warm.status}`);
        await warm.arrayBuffer();
        // The fresh process's background work (compiling, collecting start-up garbage) settles first.
        await new Promise((r) => setTimeout(r, 2000));
        const before = await ask<NodeJS.CpuUsage>(child, 'cpu');
        for (let i = 0; i < rounds; i++) {
          const res = await undiciFetch(`https://127.0.0.1:${port}/v1/artifacts/${sha256}`, { dispatcher: device });
          if (res.status !== 200 || !res.body) throw new Error(`${delivery}: HTTP ${res.status}`);
          const hash = createHash('sha256');
          for await (const chunk of res.body) hash.update(chunk as Uint8Array);
          if (hash.digest('hex') !== sha256) throw new Error(`${delivery}: the bytes do not match`);
        }
        const after = await ask<NodeJS.CpuUsage>(child, 'cpu');
        cpu[delivery] = (after.user + after.system - before.user - before.system) / 1000 / ((mib * rounds) / 1024);
        say(`${delivery}: API CPU ${cpu[delivery].toFixed(1)} ms per GiB`);
      } finally {
        child.kill();
      }
    }
    await device.close();
    const ratio = cpu['stream']! / cpu['redirect']!;
    const rows: Row[] = [
      {
        measure: 'API CPU time per GiB served',
        baseline: `${cpu['stream']!.toFixed(1)} ms (streamed)`,
        ours: `${cpu['redirect']!.toFixed(1)} ms (presigned URL)`,
        ratio: cpu['redirect']! / cpu['stream']!,
        target: '<= 0.05 (20x less)',
        met: ratio >= 20,
      },
    ];
    report(`Artifact delivery: ${rounds} x ${mib} MiB over mutual TLS, the API in its own process`, rows, asJson);
    if (ratio < 20) process.exitCode = 1;
  } finally {
    await pm.stop('minio');
    await rm(dir, { recursive: true, force: true });
  }
}

/** The server side: the real device routes on this process's own HTTPS server. */
function serve(): void {
  let server: ReturnType<typeof createServer> | undefined;
  process.on('message', (msg: { setup?: ServerSetup } | 'cpu') => {
    void (async () => {
      if (msg === 'cpu') return process.send!(process.cpuUsage());
      const s = msg.setup!;
      const config = loadConfig({ ...process.env, ...s.env, OTA_ARTIFACT_DELIVERY: s.delivery });
      const fleet = await FleetStore.open({ pgliteDir: join(s.dir, 'fleet') });
      const custom = {
        version: '1.0.0',
        channel: 'bench',
        hardwareIds: ['devkit-a'],
        rollbackIndex: 0,
        rollout: { percent: 100, salt: 's', paused: false, withdrawn: false, protected: true },
      };
      const target = targetFile({ name: 'bench/1.0.0/fw.bin', length: s.length, sha256: s.sha256, custom });
      const offers = new OfferIndex(
        { offeredTo: () => Promise.resolve({ scope: 'rollout', targets: { [target.path]: target } }) },
        60_000,
      );
      const app = express();
      app.use(observe(config, new ApiMetrics(), pino({ level: 'info' }, pino.destination('/dev/null'))));
      const deps: DeviceRouteDeps = {
        storage: new Storage(config.minio),
        repos: {} as DeviceRouteDeps['repos'],
        artifactServing: config.artifacts,
        fleet,
        devices: new Devices(fleet.sql, { mode: 'exclusive' }),
        offers,
        maxBodyBytes: 16 * 1024,
      };
      app.use(deviceRoutes(deps));
      server = createServer(
        {
          key: s.tls.keyPem,
          cert: s.tls.certPem,
          ca: s.tls.caPem,
          minVersion: 'TLSv1.3',
          requestCert: true,
          rejectUnauthorized: false,
        },
        app,
      );
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      process.send!((server.address() as AddressInfo).port);
    })();
  });
}

function ask<T>(child: ChildProcess, msg: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (answer) => resolve(answer as T));
    child.once('exit', (code) => reject(new Error(`server process exited ${String(code)}`)));
    child.send(msg as object);
  });
}

/** Random bytes (nothing compresses) written to a file, and their sha256. */
async function randomArtifact(dir: string, mib: number): Promise<{ sha256: string; file: string }> {
  const file = join(dir, 'artifact.bin');
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) {
    const chunk = randomBytes(1 << 20);
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
  return { sha256: hash.digest('hex'), file };
}

if (process.argv.includes('--serve')) serve();
else
  void main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
