import type { AuditEntry, AuditRow } from '../common/adminApi';
import type { Sql } from './fleetStore';

/**
 * Append-only: who did what, to what, when and why (and who was refused). The one update
 * is a `pending` entry (written before its change ran) getting its outcome, once.
 */
export class AuditLog {
  constructor(private readonly sql: Sql) {}

  async record(e: AuditEntry): Promise<void> {
    await this.sql.query(
      'INSERT INTO audit_log (actor, action, subject, reason, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)',
      fields(e),
    );
  }

  /** S-15: the entry of a change about to run, outcome `pending`; its id is for `complete`. */
  async begin(e: Omit<AuditEntry, 'outcome'>): Promise<number> {
    const row = await this.sql.query<{ id: string }>(
      'INSERT INTO audit_log (actor, action, subject, reason, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
      fields({ ...e, outcome: 'pending' }),
    );
    return Number(row.rows[0]!.id);
  }

  /** The outcome (and the handler's names for the action) of an entry `begin` wrote. */
  async complete(id: number, e: AuditEntry): Promise<void> {
    await this.sql.query(
      `UPDATE audit_log SET actor = $1, action = $2, subject = $3, reason = $4, outcome = $5, detail = $6 WHERE id = $7 AND outcome = 'pending'`,
      [...fields(e), id],
    );
  }

  async list(filter: { actor?: string; action?: string; limit: number }): Promise<AuditRow[]> {
    const rows = await this.sql.query<{
      id: string;
      at: Date;
      actor: string;
      action: string;
      subject: string;
      reason: string | null;
      outcome: AuditEntry['outcome'];
      detail: string | null;
    }>(
      `SELECT id, at, actor, action, subject, reason, outcome, detail FROM audit_log
       WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action LIKE $2 || '%')
       ORDER BY id DESC LIMIT $3`,
      [filter.actor ?? null, filter.action ?? null, filter.limit],
    );
    return rows.rows.map((r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      outcome: r.outcome,
      ...(r.reason !== null ? { reason: r.reason } : {}),
      ...(r.detail !== null ? { detail: r.detail } : {}),
    }));
  }
}

/** The columns of an entry, each cut to its size. */
function fields(e: AuditEntry): Array<string | null> {
  return [
    e.actor.slice(0, 128),
    e.action.slice(0, 64),
    e.subject.slice(0, 300),
    e.reason?.slice(0, 1000) ?? null,
    e.outcome,
    e.detail?.slice(0, 1000) ?? null,
  ];
}
