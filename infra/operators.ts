import { createHash, randomBytes } from 'node:crypto';

import {
  type AuditEntry,
  type AuditRow,
  type Operator,
  OPERATOR_ROLES,
  type OperatorRole,
  type OperatorRow,
} from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import { patterns } from '../common/validation';
import type { Sql } from './fleetStore';

const OPERATOR_NAME = new RegExp(patterns.operatorName);

/** Tokens are shown once; the store keeps only their sha256, so a leaked table grants nothing. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

function checkRoles(roles: string[]): OperatorRole[] {
  if (roles.length === 0 || roles.some((r) => !(OPERATOR_ROLES as readonly string[]).includes(r))) {
    throw new InputError(`roles must be some of ${OPERATOR_ROLES.join(', ')}`);
  }
  return [...new Set(roles)] as OperatorRole[];
}

export class Operators {
  constructor(private readonly sql: Sql) {}

  async create(name: string, roles: string[], createdBy: string): Promise<{ operator: Operator; token: string }> {
    const token = newToken('ota');
    return { operator: await this.createWithHash({ name, roles, createdBy, tokenSha256: tokenHash(token) }), token };
  }

  /** Bootstrap: the deployment holds the token, the store only its hash. */
  async createWithHash(operator: {
    name: string;
    roles: string[];
    createdBy: string;
    tokenSha256: string;
  }): Promise<Operator> {
    const { name, roles, createdBy, tokenSha256: hash } = operator;
    if (!OPERATOR_NAME.test(name))
      throw new InputError('operator name must be lowercase letters, digits, ".", "_" or "-" (up to 64)');
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new InputError('token hash must be 64 hex digits');
    const checked = checkRoles(roles);
    const inserted = await this.sql.query(
      `INSERT INTO operators (name, roles, token_hash, created_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING RETURNING name`,
      [name, checked.join(','), hash, createdBy],
    );
    if (inserted.rows.length === 0)
      throw new ServerError('ALREADY_EXISTS', `operator ${name} exists (revoked operators keep their name)`);
    return { name, roles: checked };
  }

  /** The operator a bearer token belongs to; undefined for unknown or revoked tokens. */
  async authenticate(token: string): Promise<Operator | undefined> {
    if (token.length > 200) return undefined;
    const found = await this.sql.query<{ name: string; roles: string }>(
      'SELECT name, roles FROM operators WHERE token_hash = $1 AND revoked_at IS NULL',
      [tokenHash(token)],
    );
    const row = found.rows[0];
    return row && { name: row.name, roles: row.roles.split(',') as OperatorRole[] };
  }

  async list(): Promise<OperatorRow[]> {
    const rows = await this.sql.query<{
      name: string;
      roles: string;
      created_by: string;
      created_at: Date;
      revoked_at: Date | null;
    }>('SELECT name, roles, created_by, created_at, revoked_at FROM operators ORDER BY name');
    return rows.rows.map((r) => ({
      name: r.name,
      roles: r.roles.split(',') as OperatorRole[],
      createdBy: r.created_by,
      createdAt: new Date(r.created_at).toISOString(),
      revokedAt: r.revoked_at && new Date(r.revoked_at).toISOString(),
    }));
  }

  async revoke(name: string): Promise<void> {
    const done = await this.sql.query(
      'UPDATE operators SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING name',
      [name],
    );
    if (done.rows.length === 0) throw new ServerError('NOT_FOUND', `no active operator ${name}`);
  }
}

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
