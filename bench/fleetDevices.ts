/**
 * The fleet bench's simulated devices (bench/fleet.ts), a share of the fleet per worker
 * thread. With 10,000 devices on the bench's own event loop, its own calls (creating the
 * release, reading its status) waited minutes behind the devices' cycles; in threads the
 * devices use both cores and the bench's control stays responsive. Each device is still the
 * real SDK with its own identity and folder, speaking mutual TLS to the API.
 */
import { subscribe } from 'node:diagnostics_channel';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import type { DeviceAgent } from '@enigm-ota/client-sdk';

import type { Config } from '../infra/config';
import { errorKind, type FactoryKit, type SimulatedDevice, simulatedDevice } from '../simulator/fleet';

/**
 * The devices' own folders (state, metadata, slots, identities), on a tmpfs when the machine
 * has one: each install makes a dozen synced writes (D-10, D-13), and 10,000 devices' fsyncs
 * on one disk queue behind each other in the process's thread pool, so the devices' disk,
 * not the server, would set the pace. A tmpfs loses the identities at reboot (enrolment again).
 */
export const DEVICES_DIR = existsSync('/dev/shm')
  ? '/dev/shm/enigm-bench-fleet/devices'
  : join(__dirname, '..', '..', 'var', 'bench-fleet', 'devices');
export const HARDWARE = 'devkit-a';
const THREADS = 2;
const REPORT_EVERY_MS = 500;

export function device(channel: string, id: string, pollMs?: number): SimulatedDevice {
  return {
    deviceId: id,
    hardwareId: HARDWARE,
    channel,
    stateDir: join(DEVICES_DIR, id),
    ...(pollMs && { retry: { pollIntervalMs: pollMs } }),
  };
}

export interface DeviceBytes {
  metadata: number;
  artifact: number;
  api: number;
}

interface Share {
  kind: 'devices';
  config: Config;
  kit: FactoryKit;
  channel: string;
  ids: string[];
  pollMs: number;
}

/** What a thread tells the bench: devices whose version or state changed, failed cycles by kind, bytes once measured. */
interface Progress {
  changed: Array<{ id: string; version: string; upToDate: boolean }>;
  errors: Record<string, number>;
  bytes: DeviceBytes;
  /** The thread's last report: its devices stopped (the bench then ends the thread, open connections and all). */
  final: boolean;
}

/** The fleet as the bench sees it, from the threads' reports. */
export class RunningFleet {
  readonly running = new Map<string, string>();
  readonly upToDate = new Set<string>();
  readonly errors = new Map<string, number>();
  failedCycles = 0;
  private readonly bytesOf: DeviceBytes[] = [];
  private readonly threads: Worker[] = [];
  private readonly ended: Array<Promise<void>> = [];

  constructor(config: Config, kit: FactoryKit, channel: string, ids: string[], pollMs: number) {
    for (let t = 0; t < THREADS; t++) {
      const share: Share = {
        kind: 'devices',
        config,
        kit,
        channel,
        ids: ids.filter((_, i) => i % THREADS === t),
        pollMs,
      };
      const thread = new Worker(__filename, { workerData: share });
      this.bytesOf.push({ metadata: 0, artifact: 0, api: 0 });
      let final = false;
      thread.on('message', (p: Progress) => {
        this.take(t, p);
        final = p.final;
        if (final) void thread.terminate();
      });
      this.ended.push(
        new Promise((resolve, reject) => {
          thread.once('error', reject);
          thread.once('exit', (code) =>
            final ? resolve() : reject(new Error(`device thread exited with ${code} before its devices stopped`)),
          );
        }),
      );
      this.threads.push(thread);
    }
  }

  /** From now on the devices count the response bytes they receive. */
  measure(): void {
    for (const thread of this.threads) thread.postMessage('measure');
  }

  /** Bytes received since measure(), as last reported by the threads. */
  get bytes(): DeviceBytes {
    const sum = { metadata: 0, artifact: 0, api: 0 };
    for (const b of this.bytesOf) for (const k of ['metadata', 'artifact', 'api'] as const) sum[k] += b[k];
    return sum;
  }

  /** The devices stop after their current cycle; resolves once every thread has sent its last report. */
  async stop(): Promise<void> {
    for (const thread of this.threads) thread.postMessage('stop');
    await Promise.all(this.ended);
  }

  private take(thread: number, p: Progress): void {
    for (const { id, version, upToDate } of p.changed) {
      this.running.set(id, version);
      if (upToDate) this.upToDate.add(id);
    }
    for (const [kind, n] of Object.entries(p.errors)) {
      this.errors.set(kind, (this.errors.get(kind) ?? 0) + n);
      this.failedCycles += n;
    }
    this.bytesOf[thread] = p.bytes;
  }
}

/** One thread's devices: the SDK's own loop each, started spread over one poll interval. */
async function runShare(share: Share): Promise<void> {
  const stop = new AbortController();
  const bytes: DeviceBytes = { metadata: 0, artifact: 0, api: 0 };
  let changed: Progress['changed'] = [];
  let errors: Record<string, number> = {};
  const flush = (final = false) => {
    parentPort!.postMessage({ changed, errors, bytes, final } satisfies Progress);
    changed = [];
    errors = {};
  };
  parentPort!.on('message', (message: string) => {
    if (message === 'stop') stop.abort();
    // Every response body chunk this thread's HTTP client (undici) receives: only devices' requests run here.
    if (message === 'measure') {
      subscribe('undici:request:bodyChunkReceived', (m: unknown) => {
        const { request, chunk } = m as { request: { path: string }; chunk: Buffer };
        const kind = request.path.startsWith('/v1/repos/')
          ? 'metadata'
          : request.path.startsWith('/v1/') && !request.path.startsWith('/v1/artifacts/')
            ? 'api'
            : 'artifact';
        bytes[kind] += chunk.length;
      });
    }
  });
  const reporter = setInterval(() => flush(), REPORT_EVERY_MS);
  await Promise.all(
    share.ids.map(async (id) => {
      const agent: DeviceAgent = simulatedDevice(share.config, share.kit, device(share.channel, id, share.pollMs));
      // Spread over one interval, as a fleet that has been running for a while is.
      await sleep(Math.random() * share.pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
      await agent.run(stop.signal, (o) => {
        if (o.result) changed.push({ id, version: o.result.version, upToDate: o.result.status === 'up-to-date' });
        else errors[errorKind(o.error)] = (errors[errorKind(o.error)] ?? 0) + 1;
      });
    }),
  );
  clearInterval(reporter);
  flush(true);
}

// A failure rejects unhandled: the thread ends with an 'error' event in RunningFleet.
if (!isMainThread && (workerData as { kind?: string } | undefined)?.kind === 'devices')
  void runShare(workerData as Share);
