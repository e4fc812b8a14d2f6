import type { LogSource } from '../common/adminApi';
import type { Sql } from './fleetStore';

/** A leaf waiting for the log: its row, and the bytes to append. */
export interface PendingLeaf {
  id: number;
  leaf: string;
}

/** A row of the fleet store as it is now, in the form its leaf was made (ADR 0078). */
export interface SourceLeaf {
  source: LogSource;
  id: number;
  leaf: string;
  queued: boolean;
}

/** Each source's rows as they are now, rebuilt by the function that made their leaves (migrations 012, 013). */
const SOURCE_ROWS: Record<LogSource, string> = {
  event: `SELECT e.id, event_leaf(e) AS leaf FROM webhook_events e WHERE e.id > $1 ORDER BY e.id LIMIT $2`,
  audit: `SELECT a.id, audit_leaf(a) AS leaf FROM audit_log a WHERE a.id > $1 AND a.outcome <> 'pending' ORDER BY a.id LIMIT $2`,
  receipt: `SELECT r.id, receipt_leaf(r) AS leaf FROM install_reports r
            WHERE r.id > $1 AND r.receipt_signature IS NOT NULL ORDER BY r.id LIMIT $2`,
};

/**
 * The transparency log's outbox in the fleet store (infra/migrations/012): the trigger fills
 * it, the shipper empties it in id order, and `ota log verify` reads the rows as they are now.
 */
export class LogLeaves {
  constructor(private readonly sql: Sql) {}

  /** Up to `limit` leaves not in the log yet, held for `leaseMs` by this replica. */
  async claim(limit: number, leaseMs: number): Promise<PendingLeaf[]> {
    const rows = await this.sql.query<{ id: string; leaf: string }>(
      `WITH due AS (
         SELECT id FROM log_leaves
         WHERE log_index IS NULL AND (lease_until IS NULL OR lease_until < now())
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE log_leaves l SET lease_until = now() + make_interval(secs => $2::float8 / 1000)
       FROM due WHERE l.id = due.id RETURNING l.id, l.leaf`,
      [limit, leaseMs],
    );
    return rows.rows.map((r) => ({ id: Number(r.id), leaf: r.leaf })).sort((a, b) => a.id - b.id);
  }

  async shipped(done: ReadonlyArray<{ id: number; index: number }>): Promise<void> {
    if (done.length === 0) return;
    await this.sql.query(
      `UPDATE log_leaves l SET log_index = d.idx, lease_until = NULL
       FROM unnest($1::bigint[], $2::bigint[]) AS d(id, idx) WHERE l.id = d.id`,
      [done.map((d) => d.id), done.map((d) => d.index)],
    );
  }

  /** Leaves this replica claimed but could not append: free for the next look, here or elsewhere. */
  async release(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.sql.query(
      'UPDATE log_leaves SET lease_until = NULL WHERE id = ANY($1::bigint[]) AND log_index IS NULL',
      [ids],
    );
  }

  /** How many leaves wait for the log. */
  async backlog(): Promise<{ pending: number }> {
    const rows = await this.sql.query<{ n: string }>('SELECT count(*) AS n FROM log_leaves WHERE log_index IS NULL');
    return { pending: Number(rows.rows[0]?.n ?? 0) };
  }

  /**
   * The rows of `source` as they are now, rebuilt by the function that made their leaves, by id
   * from `after` (exclusive); `queued`: its leaf waits in the outbox (not appended yet).
   */
  async current(source: LogSource, after: number, limit: number): Promise<SourceLeaf[]> {
    const query = SOURCE_ROWS[source];
    const rows = await this.sql.query<{ id: string; leaf: string; queued: boolean }>(
      `WITH r AS (${query})
       SELECT r.id, r.leaf, EXISTS (
         SELECT 1 FROM log_leaves l WHERE l.source = $3 AND l.source_id = r.id AND l.log_index IS NULL) AS queued
       FROM r ORDER BY r.id`,
      [after, limit, source],
    );
    return rows.rows.map((r) => ({ source, id: Number(r.id), leaf: r.leaf, queued: r.queued }));
  }
}
