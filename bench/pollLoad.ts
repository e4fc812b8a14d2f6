/**
 * The poll benchmark's devices: closed-loop load on `POST /v1/poll` from many device
 * identities, the way a fleet opens connections (kept alive, a new TLS session for each
 * poll, or a resumed one), with the server process's CPU time read from /proc.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import type { SecureContext, TLSSocket } from 'node:tls';

import { Client } from 'undici';

/** One enrolled device: its TLS identity and the poll it sends. */
export interface PollingDevice {
  deviceId: string;
  context: SecureContext;
  body: string;
}

/** How each poll reaches the API. */
export type ConnectionMode = 'keep-alive' | 'new session' | 'resumed session';

export interface LoadResult {
  polls: number;
  rps: number;
  /** Sorted, in milliseconds. */
  latencies: number[];
  /** The server process's CPU time (user + system) per poll, in microseconds. */
  serverCpuUs: number;
  /** Polls whose TLS session was resumed. */
  resumed: number;
}

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU time of a process so far, in microseconds. */
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), counted from after the command name (which starts at field 3).
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}

/**
 * `concurrency` polls in flight, each from the next device in turn, for `seconds` (or until
 * `polls` were sent), through `poller`.
 */
export async function pollLoad(
  server: { pid: number },
  devices: PollingDevice[],
  run: { poller: Poller; concurrency: number; seconds?: number; polls?: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let resumed = 0;
  const cpuBefore = cpuUs(server.pid);
  const start = process.hrtime.bigint();
  const until = Date.now() + (run.seconds ?? 3600) * 1000;
  const limit = run.polls ?? Infinity;
  await Promise.all(
    Array.from({ length: run.concurrency }, async () => {
      while (Date.now() < until && next < limit) {
        const device = devices[next++ % devices.length]!;
        const t0 = process.hrtime.bigint();
        if (await run.poller.send(device)) resumed++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const serverCpu = cpuUs(server.pid) - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    polls: latencies.length,
    rps: latencies.length / seconds,
    latencies,
    serverCpuUs: serverCpu / Math.max(1, latencies.length),
    resumed,
  };
}

/** How polls reach one server: kept-alive connections stay open (one per device) until `close`. */
export function openPoller(url: URL, mode: ConnectionMode): Poller {
  return mode === 'keep-alive' ? keptAlive(url) : perPoll(url, mode);
}

export interface Poller {
  /** Sends one poll; true when its TLS session was resumed. */
  send(device: PollingDevice): Promise<boolean>;
  close(): Promise<void>;
}

function checkStatus(status: number | undefined, device: PollingDevice, text: string): void {
  if (status !== 200) throw new Error(`poll of ${device.deviceId} answered ${status}: ${text.slice(0, 200)}`);
}

/** One connection per device, opened on its first poll and kept. */
function keptAlive(url: URL): Poller {
  const clients = new Map<string, Client>();
  return {
    async send(device) {
      let client = clients.get(device.deviceId);
      if (!client) {
        client = new Client(url.origin, { connect: { secureContext: device.context }, keepAliveTimeout: 60_000 });
        clients.set(device.deviceId, client);
      }
      const res = await client.request({
        path: '/v1/poll',
        method: 'POST',
        body: device.body,
        headers: { 'content-type': 'application/json' },
      });
      checkStatus(res.statusCode, device, await res.body.text());
      return false;
    },
    async close() {
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
}

/** A new connection for each poll, closed after it: a full handshake, or resuming the device's last session. */
function perPoll(url: URL, mode: 'new session' | 'resumed session'): Poller {
  // Each device's ticket from this server's last connection (another server's would not resume).
  const sessions = new Map<string, Buffer>();
  return {
    send: (device) =>
      new Promise<boolean>((resolve, reject) => {
        // tls.connect's own options, which https.request hands on (its types list only some).
        const options: RequestOptions & { secureContext: SecureContext; session?: Buffer } = {
          host: url.hostname,
          port: url.port,
          path: '/v1/poll',
          method: 'POST',
          agent: false,
          secureContext: device.context,
          ...(mode === 'resumed session' && sessions.has(device.deviceId)
            ? { session: sessions.get(device.deviceId) }
            : {}),
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(device.body),
            connection: 'close',
          },
        };
        let tls: TLSSocket | undefined;
        const req = request(options, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode === 200) resolve(tls?.isSessionReused() ?? false);
            else reject(new Error(`poll of ${device.deviceId} answered ${res.statusCode}: ${text.slice(0, 200)}`));
          });
        });
        req.on('socket', (socket) => {
          tls = socket as TLSSocket;
          socket.on('session', (session: Buffer) => sessions.set(device.deviceId, session));
        });
        req.on('error', reject);
        req.end(device.body);
      }),
    close: () => Promise.resolve(),
  };
}
