import { EventEmitter } from 'node:events';

/**
 * What changed in the fleet store, for the per-replica caches that must drop their copy:
 * 'rollout' (signed metadata was published, by a release route or by a writer's report: the
 * offers, the checked timestamps, the metadata cache and the watermark floor), 'device' (an
 * enrollment, renewal, revocation, labels or attestation: the device records every device
 * request is authorized against, infra/devices.ts), 'webhook' (events were recorded or
 * redelivered: every replica's webhook dispatcher looks for due deliveries at once).
 */
const CHANGE_KINDS = ['rollout', 'device', 'webhook'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/**
 * The PostgreSQL channel every API replica LISTENs on; the payload is `{"kind": ...}`, with
 * `"id"` when the change concerns one thing only (a device): listeners then drop just that.
 */
export const CHANGE_CHANNEL = 'ota_changes';
/** A payload larger than this is not ours: ignored (and everything invalidated, see below). */
const MAX_PAYLOAD = 256;
/** What an id may be (a device id's own rule, infra/fleetCa.ts); any other id drops the whole kind. */
const CHANGE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** What changed: a kind, and the one thing of that kind when it is one (no id: all of them). */
export interface Change {
  kind: ChangeKind;
  id?: string;
}

/** Tells every process sharing the store that something changed, and hears it. */
export interface ChangeBus {
  notify(kind: ChangeKind, id?: string): Promise<void>;
  /** `fn` gets the id of the one thing changed, or nothing when any of that kind may have. */
  onChange(kind: ChangeKind, fn: (id?: string) => void): void;
  /**
   * Whether every change made from now on will be heard: false while the listener is down
   * (a notification sent then is lost), when a cache must not serve what it holds.
   */
  listening(): boolean;
  close(): Promise<void>;
}

/** PGlite: one process owns the store, so a change is heard where it is made. */
export function localBus(): ChangeBus {
  const events = new EventEmitter();
  return {
    notify: (kind, id) => {
      events.emit(kind, id);
      return Promise.resolve();
    },
    onChange: (kind, fn) => void events.on(kind, fn),
    listening: () => true,
    close: () => {
      events.removeAllListeners();
      return Promise.resolve();
    },
  };
}

/** The part of a pg Client the bus uses (tests may pass a fake). */
interface ListenClient {
  connect(): Promise<unknown>;
  query(text: string, params?: unknown[]): Promise<unknown>;
  on(event: 'notification', fn: (msg: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', fn: (err?: Error) => void): unknown;
  removeAllListeners(): unknown;
  end(): Promise<void>;
}

/**
 * PostgreSQL: NOTIFY through the shared pool, LISTEN on one dedicated connection (a pooled
 * one would be handed back and lose it). A lost connection is reopened after `retryMs`; a
 * notification sent while it was down is lost, so on every (re)connect all listeners run:
 * a cache dropped once too often costs a reload, one kept too long serves a stale pause.
 * The replica that makes a change runs its listeners itself too, without the round trip.
 */
export function postgresBus(
  pg: { notifyQuery: (text: string, params: unknown[]) => Promise<unknown>; newClient: () => ListenClient },
  { log = () => undefined, retryMs = 1000 }: { log?: (msg: string, err?: unknown) => void; retryMs?: number } = {},
): ChangeBus & { ready: Promise<void> } {
  const local = new EventEmitter();
  let client: ListenClient | undefined;
  /** The client whose LISTEN succeeded: listening while it is still the current one. */
  let listened: ListenClient | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const everything = () => CHANGE_KINDS.forEach((k) => local.emit(k));

  const connect = async (): Promise<void> => {
    const c = pg.newClient();
    client = c;
    const lost = (err?: Error) => {
      if (client !== c) return;
      client = undefined;
      quiet(c);
      c.end().catch(() => undefined);
      if (closed) return;
      log(`lost the ${CHANGE_CHANNEL} listener; reconnecting`, err);
      timer = setTimeout(() => void connect().catch(() => undefined), retryMs);
    };
    c.on('error', lost);
    c.on('end', lost);
    c.on('notification', (msg) => {
      if (msg.channel !== CHANGE_CHANNEL) return;
      const change = changeOf(msg.payload);
      if (change) local.emit(change.kind, change.id);
      else everything();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      lost(err as Error);
      throw err;
    }
    listened = c;
    everything();
  };

  const ready = connect().catch(() => undefined);
  return {
    ready,
    notify: async (kind, id) => {
      local.emit(kind, id);
      await pg.notifyQuery('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, JSON.stringify({ kind, id })]);
    },
    onChange: (kind, fn) => void local.on(kind, fn),
    listening: () => client !== undefined && listened === client,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      local.removeAllListeners();
      const c = client;
      client = undefined;
      if (c) quiet(c);
      await c?.end().catch(() => undefined);
    },
  };
}

/** A pg client with no 'error' listener throws the error: a closed one keeps a no-op. */
function quiet(c: ListenClient): void {
  c.removeAllListeners();
  c.on('error', () => undefined);
}

/**
 * A known kind from a payload, and its id when the id is well formed (a malformed one makes it
 * the whole kind); undefined for anything else, which invalidates everything: fail closed.
 */
export function changeOf(payload: string | undefined): Change | undefined {
  if (!payload || payload.length > MAX_PAYLOAD) return undefined;
  try {
    const { kind, id } = JSON.parse(payload) as { kind?: unknown; id?: unknown };
    if (!(CHANGE_KINDS as readonly unknown[]).includes(kind)) return undefined;
    return typeof id === 'string' && CHANGE_ID.test(id)
      ? { kind: kind as ChangeKind, id }
      : { kind: kind as ChangeKind };
  } catch {
    return undefined;
  }
}
