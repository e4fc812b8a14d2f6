import type { AuditRow, OperatorRow } from '../common/adminApi';
import { urlPath } from '../common/urlPath';
import type { AdminApiClient } from '../infra/adminApiClient';
import { type ApiCommand, type Invocation, queryString, required, subcommands } from './args';

export interface OperatorFlags {
  role?: string[];
  reason?: string;
  actor?: string;
  action?: string;
  limit?: string;
}

const OPERATOR_COMMANDS: Record<string, ApiCommand<OperatorFlags>> = {
  async add(api, { args, flags, out }) {
    const created = await api.send<{ operator: { name: string; roles: string[] }; token: string }>(
      'POST',
      '/v1/admin/operators',
      { name: required(args[0], 'NAME'), roles: (flags.role ?? []).flatMap((r) => r.split(',')) },
    );
    out.result(
      created,
      () =>
        `operator ${created.operator.name} (${created.operator.roles.join(', ')}); token, shown once:\n${created.token}`,
    );
    return 0;
  },
  async list(api, { out }) {
    const ops = await api.get<OperatorRow[]>('/v1/admin/operators');
    const line = (o: OperatorRow) =>
      `${o.name.padEnd(20)} ${o.roles.join(',').padEnd(30)} ${o.revokedAt ? `revoked ${o.revokedAt}` : 'active'}`;
    out.result(ops, () => ops.map(line).join('\n'));
    return 0;
  },
  async revoke(api, { args, flags, out }) {
    const done = await api.send<{ revoked: string }>(
      'POST',
      urlPath`/v1/admin/operators/${required(args[0], 'NAME')}/revoke`,
      { reason: flags.reason },
    );
    out.result(done, () => `revoked operator ${done.revoked}`);
    return 0;
  },
};

/** `ota operator add|list|revoke` (admins). */
export const operatorCommand = subcommands('operator', OPERATOR_COMMANDS);

/** `ota audit` (anyone who may read). */
export async function auditCommand(api: AdminApiClient, { flags, out }: Invocation<OperatorFlags>): Promise<number> {
  const rows = await api.get<AuditRow[]>(
    `/v1/admin/audit?${queryString({ actor: flags.actor, action: flags.action, limit: flags.limit })}`,
  );
  out.result(rows, () =>
    rows.length
      ? rows
          .map(
            (r) =>
              `${r.at}  ${r.actor.padEnd(16)} ${r.action.padEnd(18)} ${r.subject}  ${r.outcome}${r.reason ? `  "${r.reason}"` : ''}${r.detail ? `  (${r.detail})` : ''}`,
          )
          .join('\n')
      : 'no audit entries',
  );
  return 0;
}
