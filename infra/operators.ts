import { createHash, randomBytes } from 'node:crypto';

import { type Operator, OPERATOR_ROLES, type OperatorRole, type OperatorRow } from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import { matches } from '../common/validation';
import type { Sql } from './fleetStore';

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
    if (!matches('operatorName', name))
      throw new InputError('operator name must be lowercase letters, digits, ".", "_" or "-" (up to 64)');
    if (!matches('sha256', hash)) throw new InputError('token hash must be 64 hex digits');
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
