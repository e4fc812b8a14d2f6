import { randomUUID } from 'node:crypto';

import type { WebhookDelivery, WebhookSubscription } from '../common/adminApi';
import type { EventType } from '../common/webhookEvents';
import type { Sql } from './fleetStore';

/** An event to record: the key makes a retried write record it once. */
export interface NewEvent {
  key: string;
  type: EventType;
  subject: string;
  channel?: string;
  /** Deliveries with the same key go out in order: a release's, a device's. */
  orderingKey: string;
  at?: Date;
  data: Record<string, unknown>;
}

/** A delivery a sender holds: the event and where it goes. */
export interface ClaimedDelivery {
  id: number;
  /** The head it was claimed with: a chain's deliveries are sent one after another, in order. */
  chain: number;
  /** Attempts made before this one. */
  attempts: number;
  retryFrom: Date;
  url: string;
  secret: string;
  event: {
    id: number;
    key: string;
    type: string;
    subject: string;
    orderingKey: string;
    at: Date;
    data: string;
  };
}

/** What a subscription's stored columns are cut to (the API's schema refuses longer first). */
const MAX_DATA_CHARS = 8 * 1024;

/**
 * Webhook subscriptions, the outbox of events and their deliveries (infra/migrations/010):
 * an event's deliveries are made by the table's trigger in the transaction that records it.
 */
export class WebhookStore {
  constructor(private readonly sql: Sql) {}

  async subscribe(s: {
    url: string;
    secret: string;
    types: readonly EventType[];
    channel?: string;
    createdBy: string;
  }): Promise<number> {
    const row = await this.sql.query<{ id: string }>(
      'INSERT INTO webhook_subscriptions (url, secret, types, channel, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id',
      [s.url, s.secret, s.types, s.channel ?? null, s.createdBy],
    );
    return Number(row.rows[0]!.id);
  }

  /** Removes a subscription; its undelivered events are given up (dead), kept in its log. */
  async remove(id: number): Promise<boolean> {
    const done = await this.sql.query<{ id: string }>(
      `WITH s AS (UPDATE webhook_subscriptions SET removed_at = now() WHERE id = $1 AND removed_at IS NULL RETURNING id),
       d AS (UPDATE webhook_deliveries SET state = 'dead', last_error = 'subscription removed', lease_until = NULL
             WHERE subscription_id IN (SELECT id FROM s) AND state = 'pending')
       SELECT id FROM s`,
      [id],
    );
    return done.rows.length > 0;
  }

  async list(): Promise<WebhookSubscription[]> {
    const rows = await this.sql.query<{
      id: string;
      url: string;
      types: string[];
      channel: string | null;
      created_by: string;
      created_at: Date;
      pending: number;
      dead: number;
      delivered: number;
    }>(
      `SELECT s.id, s.url, s.types, s.channel, s.created_by, s.created_at,
         count(*) FILTER (WHERE d.state = 'pending')::int AS pending,
         count(*) FILTER (WHERE d.state = 'dead')::int AS dead,
         count(*) FILTER (WHERE d.state = 'delivered')::int AS delivered
       FROM webhook_subscriptions s LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id
       WHERE s.removed_at IS NULL GROUP BY s.id ORDER BY s.id`,
    );
    return rows.rows.map((r) => ({
      id: Number(r.id),
      url: r.url,
      types: r.types,
      ...(r.channel !== null ? { channel: r.channel } : {}),
      createdBy: r.created_by,
      createdAt: new Date(r.created_at).toISOString(),
      pending: r.pending,
      dead: r.dead,
      delivered: r.delivered,
    }));
  }

  /** Records events once each (by key), in one statement; returns how many were new. */
  async record(events: readonly NewEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const rows = events.map((e, n) => ({
      n,
      event_key: e.key,
      type: e.type,
      subject: e.subject,
      channel: e.channel ?? null,
      ordering_key: e.orderingKey,
      at: (e.at ?? new Date()).toISOString(),
      data: dataOf(e.data),
    }));
    const added = await this.sql.query(
      `INSERT INTO webhook_events (event_key, type, subject, channel, ordering_key, at, data)
       SELECT event_key, type, subject, channel, ordering_key, at, data
       FROM json_to_recordset($1::json)
         AS x(n int, event_key text, type text, subject text, channel text, ordering_key text, at timestamptz, data text)
       -- In the order given: ids, and so deliveries, follow it.
       ORDER BY n
       ON CONFLICT (event_key) DO NOTHING RETURNING id`,
      [JSON.stringify(rows)],
    );
    return added.rows.length;
  }

  /**
   * Takes up to `limit` chains of deliveries that are due, for `leaseMs`: the oldest undelivered
   * delivery (the head) of a subscription's ordering key with up to `chainLength - 1` after it,
   * to be sent in order (a claim costs more than a send, so one claim serves several), and no
   * more per subscription than `perSubscription` in flight across replicas (so one hanging
   * receiver cannot hold every sender). A delivery another replica holds is skipped; one whose
   * holder died is taken after its lease.
   */
  async claim(
    limit: number,
    o: { leaseMs: number; perSubscription: number; chainLength: number },
  ): Promise<ClaimedDelivery[]> {
    const rows = await this.sql.query<ClaimRow>(
      `WITH busy AS (
         SELECT subscription_id, count(*) AS n FROM webhook_deliveries
         WHERE state = 'pending' AND head AND lease_until > now() GROUP BY subscription_id),
       heads AS (
         SELECT d.id, d.subscription_id, row_number() OVER (PARTITION BY d.subscription_id ORDER BY d.next_at, d.id) AS rn
         FROM webhook_deliveries d
         WHERE d.state = 'pending' AND d.head AND d.next_at <= now() AND (d.lease_until IS NULL OR d.lease_until < now())),
       due AS (
         SELECT d.id FROM webhook_deliveries d JOIN heads h ON h.id = d.id LEFT JOIN busy b ON b.subscription_id = h.subscription_id
         -- Checked again on the row as it is when locked: another replica may have taken it
         -- since this statement's snapshot (PostgreSQL re-evaluates only this level's conditions).
         WHERE h.rn + coalesce(b.n, 0) <= $3
           AND d.state = 'pending' AND d.head AND d.next_at <= now() AND (d.lease_until IS NULL OR d.lease_until < now())
         ORDER BY d.next_at, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED),
       -- Each head with the deliveries after it in its key: one sender sends them in order.
       chained AS (
         SELECT c.id, due.id AS chain FROM due JOIN webhook_deliveries h ON h.id = due.id
         CROSS JOIN LATERAL (
           SELECT x.id FROM webhook_deliveries x
           WHERE x.subscription_id = h.subscription_id AND x.ordering_key = h.ordering_key AND x.state = 'pending'
           ORDER BY x.id LIMIT $4) c),
       taken AS (
         UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => $2::float8 / 1000)
         FROM chained WHERE d.id = chained.id AND d.state = 'pending'
         RETURNING d.id, chained.chain, d.attempts, d.retry_from, d.subscription_id, d.event_id)
       SELECT t.id, t.chain, t.attempts, t.retry_from, s.url, s.secret, e.id AS event_id, e.event_key, e.type, e.subject,
              e.ordering_key, e.at, e.data
       FROM taken t JOIN webhook_subscriptions s ON s.id = t.subscription_id JOIN webhook_events e ON e.id = t.event_id
       ORDER BY t.chain, t.id`,
      [limit, o.leaseMs, o.perSubscription, o.chainLength],
    );
    return rows.rows.map((r) => ({
      id: Number(r.id),
      chain: Number(r.chain),
      attempts: r.attempts,
      retryFrom: new Date(r.retry_from),
      url: r.url,
      secret: r.secret,
      event: {
        id: Number(r.event_id),
        key: r.event_key,
        type: r.type,
        subject: r.subject,
        orderingKey: r.ordering_key,
        at: new Date(r.at),
        data: r.data,
      },
    }));
  }

  /** Deliveries of one chain answered 2xx (with their statuses): done, and their key's head moves on. */
  async delivered(done: ReadonlyArray<{ id: number; status: number }>): Promise<void> {
    if (done.length === 0) return;
    await this.sql.query('SELECT webhook_delivered($1::bigint[], $2::int[])', [
      done.map((d) => d.id),
      done.map((d) => d.status),
    ]);
  }

  /** A failed attempt: tried again at `retryAt`, or given up (dead) without one. */
  async failed(id: number, f: { status?: number; error: string; retryAt?: Date }): Promise<void> {
    await this.sql.query('SELECT webhook_failed($1, $2, $3, $4)', [
      id,
      f.status ?? null,
      f.error.slice(0, 500),
      f.retryAt ?? null,
    ]);
  }

  /** Deliveries claimed but not tried (their chain stopped at a failure): any sender may take them. */
  async release(ids: readonly number[]): Promise<void> {
    if (ids.length > 0)
      await this.sql.query('UPDATE webhook_deliveries SET lease_until = NULL WHERE id = ANY ($1::bigint[])', [ids]);
  }

  /** The delivery log of a subscription, newest first. */
  async deliveries(subscriptionId: number, filter: { state?: string; limit: number }): Promise<WebhookDelivery[]> {
    const rows = await this.sql.query<DeliveryRow>(
      `SELECT d.id, d.subscription_id, d.event_id, e.type, e.subject, e.at AS event_at, d.state, d.attempts, d.next_at,
              d.last_at, d.last_status, d.last_error, d.delivered_at
       FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
       WHERE d.subscription_id = $1 AND ($2::text IS NULL OR d.state = $2) ORDER BY d.id DESC LIMIT $3`,
      [subscriptionId, filter.state ?? null, filter.limit],
    );
    return rows.rows.map(deliveryOf);
  }

  /**
   * Sends again: the given deliveries, or every dead one of a subscription. They are retried
   * for another 24 hours from now. Returns the deliveries now pending.
   */
  async redeliver(target: { subscriptionId: number; deliveryIds?: readonly number[] }): Promise<number[]> {
    const rows = await this.sql.query<{ id: string; ordering_key: string }>(
      `UPDATE webhook_deliveries d SET state = 'pending', next_at = now(), retry_from = now(), lease_until = NULL
       FROM webhook_subscriptions s
       WHERE s.id = d.subscription_id AND s.removed_at IS NULL AND d.subscription_id = $1
         AND (($2::bigint[] IS NULL AND d.state = 'dead') OR (d.id = ANY ($2::bigint[]) AND d.state <> 'pending'))
       RETURNING d.id, d.ordering_key`,
      [target.subscriptionId, target.deliveryIds ?? null],
    );
    // In key order, each key's oldest pending delivery becomes its head again.
    for (const key of new Set(rows.rows.map((r) => r.ordering_key)))
      await this.sql.query('SELECT webhook_rehead($1, $2)', [target.subscriptionId, key]);
    return rows.rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  async exists(id: number): Promise<boolean> {
    const rows = await this.sql.query('SELECT 1 FROM webhook_subscriptions WHERE id = $1 AND removed_at IS NULL', [id]);
    return rows.rows.length > 0;
  }
}

/** A key for an event written once, by the statement of its change (no retry writes it twice). */
export function oneTimeKey(): string {
  return randomUUID();
}

/** The event's data as stored: JSON, cut to its bound (a receiver is never sent a truncated document). */
function dataOf(data: Record<string, unknown>): string {
  const text = JSON.stringify(data);
  return text.length <= MAX_DATA_CHARS ? text : JSON.stringify({ truncated: true });
}

interface ClaimRow {
  id: string;
  chain: string;
  attempts: number;
  retry_from: Date;
  url: string;
  secret: string;
  event_id: string;
  event_key: string;
  type: string;
  subject: string;
  ordering_key: string;
  at: Date;
  data: string;
}

interface DeliveryRow {
  id: string;
  subscription_id: string;
  event_id: string;
  type: string;
  subject: string;
  event_at: Date;
  state: WebhookDelivery['state'];
  attempts: number;
  next_at: Date;
  last_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
}

function deliveryOf(r: DeliveryRow): WebhookDelivery {
  const iso = (d: Date) => new Date(d).toISOString();
  return {
    id: Number(r.id),
    subscriptionId: Number(r.subscription_id),
    eventId: Number(r.event_id),
    type: r.type,
    subject: r.subject,
    eventAt: iso(r.event_at),
    state: r.state,
    attempts: r.attempts,
    ...(r.state === 'pending' ? { nextAt: iso(r.next_at) } : {}),
    ...(r.last_at !== null ? { lastAt: iso(r.last_at) } : {}),
    ...(r.last_status !== null ? { lastStatus: r.last_status } : {}),
    ...(r.last_error !== null ? { lastError: r.last_error } : {}),
    ...(r.delivered_at !== null ? { deliveredAt: iso(r.delivered_at) } : {}),
  };
}
