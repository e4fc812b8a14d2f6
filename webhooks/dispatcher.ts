import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

import { CloudEvent, HTTP } from 'cloudevents';
import { Agent, request } from 'undici';

import { CLOUDEVENT_TYPE_PREFIX } from '../common/webhookEvents';
import type { ClaimedDelivery, WebhookStore } from '../infra/webhookStore';
import { givesUp, retryDelayMs } from './backoff';
import { sign, SIGNATURE_HEADERS } from './signature';
import { checkAddress, checkTargetUrl, type TargetPolicy } from './targets';

export interface DispatcherOptions {
  policy: TargetPolicy;
  /** One attempt's whole time: connect, send, answer. */
  timeoutMs: number;
  maxRetryMs: number;
  /** A delivery still failing this long after its event (or its redelivery) is dead. */
  giveUpAfterMs: number;
  /** Chains of deliveries in flight at once, and at most half of them to one subscription (a hanging receiver). */
  concurrency: number;
  /** The CloudEvents `source` of every event (this deployment). */
  source: string;
  warn: (msg: string, detail: Record<string, unknown>) => void;
  /** How often to look for due deliveries when nothing wakes the dispatcher sooner. */
  idleMs?: number;
}

/** A receiver's answer body is read up to this much (and dropped): it is not ours to keep. */
const MAX_ANSWER_BYTES = 4096;
/** Deliveries of one key claimed together and sent one after another (one claim serves them all). */
const CHAIN_LENGTH = 10;
/**
 * Claims at most this often: a claim costs a few milliseconds of the store (PGlite's in this
 * process), so changes recorded one after another are picked up together.
 */
const MIN_CLAIM_GAP_MS = 20;

/**
 * Sends the outbox's deliveries (ADR 0075). Each API replica runs one; the store's claim
 * gives each delivery to one sender at a time and keeps a release's events in order. An
 * event is delivered at least once: a receiver that answered 2xx gets it once, one that did
 * not (or whose answer was lost) gets it again, with the same `webhook-id`.
 */
export class WebhookDispatcher {
  private running = false;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private again = false;
  private lastClaim = 0;
  private soon: NodeJS.Timeout | undefined;
  /** The last claim filled every free slot: there may be more due than it took. */
  private backlog = false;
  private readonly agent: Agent;
  private readonly sends = new Set<Promise<void>>();

  constructor(
    private readonly store: WebhookStore,
    private readonly o: DispatcherOptions,
  ) {
    // S-31: every connection's resolved address is checked, so DNS cannot point a URL inside later
    // (the API's own port was checked against the name when the subscription was made).
    const lookup = (host: string, opts: object, cb: (...args: unknown[]) => void): void => {
      dnsLookup(host, { ...opts, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return cb(err);
        try {
          for (const a of addresses) checkAddress(a.address, 0, o.policy);
        } catch (e) {
          return cb(e);
        }
        const first = addresses[0]!;
        return (opts as { all?: boolean }).all ? cb(null, addresses) : cb(null, first.address, first.family);
      });
    };
    this.agent = new Agent({ connect: { lookup: lookup as never }, connections: 4 });
  }

  start(): void {
    this.running = true;
    this.wake();
  }

  /** Looks for due deliveries now (an event was recorded, here or on another replica). */
  wake(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    const wait = this.lastClaim + MIN_CLAIM_GAP_MS - Date.now();
    if (wait > 0) {
      this.soon ??= setTimeout(() => {
        this.soon = undefined;
        this.wake();
      }, wait);
      return;
    }
    void this.tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    clearTimeout(this.soon);
    await Promise.allSettled([...this.sends]);
    await this.agent.close();
  }

  private async tick(): Promise<void> {
    this.ticking = true;
    clearTimeout(this.timer);
    try {
      do {
        this.again = false;
        const free = this.o.concurrency - this.inFlight;
        if (free <= 0) break;
        this.lastClaim = Date.now();
        const claimed = await this.store.claim(free, {
          leaseMs: this.o.timeoutMs * CHAIN_LENGTH + 30_000,
          perSubscription: Math.max(1, Math.floor(this.o.concurrency / 2)),
          chainLength: CHAIN_LENGTH,
        });
        const chains = new Map<number, ClaimedDelivery[]>();
        for (const d of claimed) chains.set(d.chain, [...(chains.get(d.chain) ?? []), d]);
        for (const chain of chains.values()) this.launch(chain);
        this.backlog = chains.size === free;
        if (this.backlog) this.again = true;
      } while (this.again && this.running);
    } catch (err) {
      this.o.warn('webhook deliveries could not be read; trying again', { err });
    } finally {
      this.ticking = false;
      if (this.running) this.timer = setTimeout(() => this.wake(), this.o.idleMs ?? 500);
    }
  }

  private launch(chain: ClaimedDelivery[]): void {
    this.inFlight++;
    const send = this.deliverChain(chain)
      .catch((err: unknown) => this.o.warn('webhook delivery outcome not recorded', { err, delivery: chain[0]!.id }))
      .finally(() => {
        this.inFlight--;
        this.sends.delete(send);
        // More may be due: the claim left some for want of a slot, or this key had more than a chain.
        if (this.backlog || chain.length === CHAIN_LENGTH) this.wake();
      });
    this.sends.add(send);
  }

  /**
   * A chain in order. What was delivered is recorded together, before anything else of the
   * key moves; at the first failure the rest is released (it waits behind the failed one).
   */
  private async deliverChain(chain: ClaimedDelivery[]): Promise<void> {
    const done: Array<{ id: number; status: number }> = [];
    let i = 0;
    try {
      for (; i < chain.length && this.running; i++) {
        const d = chain[i]!;
        const outcome = await this.attempt(d);
        if ('status' in outcome && outcome.status >= 200 && outcome.status < 300) {
          done.push({ id: d.id, status: outcome.status });
          continue;
        }
        await this.store.delivered(done.splice(0));
        await this.fail(d, outcome);
        i++;
        break;
      }
    } finally {
      await this.store.delivered(done);
      await this.store.release(chain.slice(i).map((x) => x.id));
    }
  }

  /** One attempt: the answer's status, or why there was none. */
  private async attempt(d: ClaimedDelivery): Promise<{ status: number; error: string } | { error: string }> {
    try {
      const status = await this.send(d);
      return { status, error: `answered ${status}` };
    } catch (err) {
      return { error: errorText(err) };
    }
  }

  private async fail(d: ClaimedDelivery, f: { status?: number; error: string }): Promise<void> {
    const now = new Date();
    const dead = givesUp(d.retryFrom, now, this.o.giveUpAfterMs) || f.error.startsWith('WEBHOOK_URL_REFUSED');
    const retryAt = dead ? undefined : new Date(now.getTime() + retryDelayMs(d.attempts + 1, this.o.maxRetryMs));
    await this.store.failed(d.id, { ...f, ...(retryAt ? { retryAt } : {}) });
  }

  /** One attempt: the event as a structured CloudEvent, signed; the answer's status. */
  private async send(d: ClaimedDelivery): Promise<number> {
    const url = checkTargetUrl(d.url, this.o.policy);
    const { headers, body } = HTTP.structured(cloudEventOf(d, this.o.source));
    const timestamp = Math.floor(Date.now() / 1000);
    const id = d.event.key;
    const text = String(body);
    const res = await request(url, {
      method: 'POST',
      dispatcher: this.agent,
      headers: {
        ...(headers as Record<string, string>),
        [SIGNATURE_HEADERS.id]: id,
        [SIGNATURE_HEADERS.timestamp]: String(timestamp),
        [SIGNATURE_HEADERS.signature]: sign(d.secret, { id, timestamp, body: text }),
        'user-agent': 'enigm-ota-webhooks/1',
      },
      body: text,
      signal: AbortSignal.timeout(this.o.timeoutMs),
      maxRedirections: 0,
    } as Parameters<typeof request>[1]);
    await drain(res.body);
    return res.statusCode;
  }
}

/** The CloudEvent of a delivery: its id is the event's key (the receiver's idempotency key). */
export function cloudEventOf(d: Pick<ClaimedDelivery, 'event'>, source: string): CloudEvent<unknown> {
  const e = d.event;
  return new CloudEvent({
    specversion: '1.0',
    id: e.key,
    source,
    type: CLOUDEVENT_TYPE_PREFIX + e.type,
    subject: e.subject,
    time: e.at.toISOString(),
    datacontenttype: 'application/json',
    data: JSON.parse(e.data) as unknown,
    // The Partitioning and Sequence extensions: what is ordered, and where this event stands.
    partitionkey: e.orderingKey,
    sequence: String(e.id).padStart(12, '0'),
  });
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (read > MAX_ANSWER_BYTES) break;
  }
}

function errorText(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    const message = err instanceof Error ? err.message : '';
    return `${err.code}: ${message}`.slice(0, 500);
  }
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}
