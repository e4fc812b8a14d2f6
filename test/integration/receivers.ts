import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

import { verify } from '../../webhooks/signature';
import { DIST } from '../paths';

/** One request as the receiver process got it. */
export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
}

/** A CloudEvent as a receiver parses it from a structured-mode body. */
export interface ReceivedEvent {
  id: string;
  type: string;
  subject: string;
  partitionkey: string;
  sequence: string;
  data: Record<string, unknown>;
}

/** A webhook receiver in a process of its own (test/integration/webhookReceiver.ts). */
export interface Receiver {
  port: number;
  url: string;
  received(): Promise<ReceivedRequest[]>;
  answerWith(status: '200' | '500' | 'hang'): Promise<void>;
  stop(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(DIST, 'test', 'integration', 'webhookReceiver.js'), String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    once(child, 'exit').then(() => {
      throw new Error(`the webhook receiver did not start on port ${port}`);
    }),
  ])) as [Buffer];
  const listening = Number(String(line).trim());
  const base = `http://127.0.0.1:${listening}`;
  return {
    port: listening,
    url: `${base}/hook`,
    received: async () => (await (await fetch(`${base}/_received`)).json()) as ReceivedRequest[],
    answerWith: async (status) => {
      await fetch(`${base}/_answer?with=${status}`, { method: 'POST' });
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The events among `requests`, each checked as a receiver should: a CloudEvents structured
 * body whose Standard Webhooks signature verifies with `secret` at the time it arrived.
 */
export function verifiedEvents(requests: readonly ReceivedRequest[], secret: string): ReceivedEvent[] {
  return requests.map((r) => {
    const m = {
      id: r.headers['webhook-id'] ?? '',
      timestamp: r.headers['webhook-timestamp'] ?? '',
      body: r.body,
      signature: r.headers['webhook-signature'] ?? '',
    };
    if (!verify(secret, m, { nowS: Math.floor(r.receivedAt / 1000) }))
      throw new Error(`a delivery whose signature does not verify: ${r.body.slice(0, 200)}`);
    if (!r.headers['content-type']?.startsWith('application/cloudevents+json'))
      throw new Error(`not a structured CloudEvent: ${r.headers['content-type']}`);
    const event = JSON.parse(r.body) as ReceivedEvent & { specversion: string };
    if (event.specversion !== '1.0' || event.id !== m.id) throw new Error(`not the CloudEvent signed: ${r.body}`);
    return event;
  });
}

/** Distinct events (by id) in the order they first arrived: delivery is at least once. */
export function firstArrivals(events: readonly ReceivedEvent[]): ReceivedEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id));
}
