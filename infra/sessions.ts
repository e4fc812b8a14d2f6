import { randomBytes } from 'node:crypto';

import type { Operator, OperatorRole } from '../common/adminApi';
import type { Sql } from './fleetStore';
import { tokenHash } from './operators';

export interface Session {
  operator: Operator;
  csrfToken: string;
  expiresAt: string;
}

/** The session id's shape: 32 random bytes, base64url. Anything else is not looked up. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Operator sessions for the dashboard, in the fleet store so every API replica sees a
 * sign-in and a sign-out at once. A session ends at its expiry, at sign-out, or when its
 * operator is revoked (checked on every request, as bearer tokens are).
 */
export class Sessions {
  constructor(private readonly sql: Sql) {}

  async create(operator: Operator, ttlMs: number): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + ttlMs).toISOString();
    await this.sql.query(
      'INSERT INTO operator_sessions (id_hash, operator, csrf_token, expires_at) VALUES ($1, $2, $3, $4)',
      [tokenHash(id), operator.name, csrfToken, expiresAt],
    );
    return { id, session: { operator, csrfToken, expiresAt } };
  }

  /** The live session an id names, with its operator's current roles; undefined otherwise. */
  async authenticate(id: string): Promise<Session | undefined> {
    if (!SESSION_ID.test(id)) return undefined;
    const found = await this.sql.query<{ name: string; roles: string; csrf_token: string; expires_at: Date }>(
      `SELECT o.name, o.roles, s.csrf_token, s.expires_at FROM operator_sessions s JOIN operators o ON o.name = s.operator
       WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now() AND o.revoked_at IS NULL`,
      [tokenHash(id)],
    );
    const row = found.rows[0];
    if (!row) return undefined;
    return {
      operator: { name: row.name, roles: row.roles.split(',') as OperatorRole[] },
      csrfToken: row.csrf_token,
      expiresAt: new Date(row.expires_at).toISOString(),
    };
  }

  async end(id: string): Promise<void> {
    if (!SESSION_ID.test(id)) return;
    await this.sql.query('UPDATE operator_sessions SET ended_at = now() WHERE id_hash = $1 AND ended_at IS NULL', [
      tokenHash(id),
    ]);
  }
}
