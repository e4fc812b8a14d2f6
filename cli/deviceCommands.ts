import type { AuditRow, DeviceDetail, DeviceRecord, Explanation, OperatorRow } from '../common/adminApi';
import { InputError } from '../common/errors';
import { parseDuration } from '../common/validation';
import type { AdminApi } from '../infra/apiClient';
import { type Invocation, parseTags, required } from './args';

export interface InventoryFlags {
  hardware?: string;
  channel?: string;
  group?: string[];
  tag?: string[];
  ttl?: string;
  status?: string;
  prefix?: string;
  limit?: string;
  reason?: string;
  role?: string[];
  actor?: string;
  action?: string;
}

type Subcommand = (api: AdminApi, call: Invocation<InventoryFlags>) => Promise<number>;

/** `ota device token|list|show|revoke|label|explain`: the fleet inventory, through the admin API. */
export async function deviceCommand(api: AdminApi, call: Invocation<InventoryFlags>): Promise<number> {
  const run = call.command === undefined ? undefined : DEVICE_COMMANDS[call.command];
  if (!run) throw new InputError(`unknown device command: ${call.command ?? ''} (ota --help)`);
  return run(api, call);
}

/** `ota operator add|list|revoke` (admins). */
export async function operatorCommand(api: AdminApi, call: Invocation<InventoryFlags>): Promise<number> {
  const run = call.command === undefined ? undefined : OPERATOR_COMMANDS[call.command];
  if (!run) throw new InputError(`unknown operator command: ${call.command ?? ''} (ota --help)`);
  return run(api, call);
}

const devicePath = (id: string) => `/v1/admin/devices/${encodeURIComponent(id)}`;

const DEVICE_COMMANDS: Record<string, Subcommand> = {
  async token(api, { args, flags, out }) {
    const ttlSeconds = flags.ttl === undefined ? undefined : Math.round(parseDuration(flags.ttl) / 1000);
    const grant = await api.send<{ deviceId: string; token: string; expiresAt: string }>(
      'POST',
      '/v1/admin/devices/tokens',
      {
        deviceId: required(args[0], 'DEVICE'),
        hardwareId: required(flags.hardware, '--hardware'),
        channel: required(flags.channel, '--channel'),
        groups: flags.group ?? [],
        tags: parseTags(flags.tag ?? []),
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      },
    );
    out.result(
      grant,
      () => `enrollment token for ${grant.deviceId} (single use, expires ${grant.expiresAt}):\n${grant.token}`,
    );
    return 0;
  },
  async list(api, { flags, out }) {
    const filters = {
      status: flags.status,
      channel: flags.channel,
      group: flags.group?.[0],
      prefix: flags.prefix,
      limit: flags.limit,
    };
    const devices = await api.get<DeviceRecord[]>(`/v1/admin/devices?${query(filters)}`);
    out.result(devices, () => (devices.length ? devices.map(describeDevice).join('\n') : 'no devices'));
    return 0;
  },
  async show(api, { args, out }) {
    const device = await api.get<DeviceDetail>(devicePath(required(args[0], 'DEVICE')));
    out.result(device, () => JSON.stringify(device, null, 2));
    return 0;
  },
  async revoke(api, { args, flags, out }) {
    const path = `${devicePath(required(args[0], 'DEVICE'))}/revoke`;
    const device = await api.send<DeviceRecord>('POST', path, { reason: flags.reason });
    out.result(device, () => `revoked ${device.deviceId}: its certificate is refused from the next request on`);
    return 0;
  },
  async label(api, { args, flags, out }) {
    const device = await api.send<DeviceRecord>('POST', `${devicePath(required(args[0], 'DEVICE'))}/labels`, {
      groups: flags.group ?? [],
      tags: parseTags(flags.tag ?? []),
    });
    const tags = Object.entries(device.tags).map(([k, v]) => `${k}=${v}`);
    out.result(
      device,
      () => `${device.deviceId}: groups ${device.groups.join(', ') || '-'}; tags ${tags.join(', ') || '-'}`,
    );
    return 0;
  },
  async explain(api, { args, out }) {
    const version = required(args[1], 'VERSION');
    const e = await api.get<Explanation>(
      `${devicePath(required(args[0], 'DEVICE'))}/explain?version=${encodeURIComponent(version)}`,
    );
    out.result(e, () =>
      [
        `${e.deviceId} and ${e.version}${e.targetName ? ` (${e.targetName})` : ''}: ${e.eligible ? 'ELIGIBLE' : 'NOT ELIGIBLE'}`,
        ...e.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(18)} ${c.reason}`),
        `  a poll now gets: ${e.offer ? `${e.offer.version} (${e.offer.targetName})` : 'nothing'}`,
      ].join('\n'),
    );
    return 0;
  },
};

const OPERATOR_COMMANDS: Record<string, Subcommand> = {
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
      `/v1/admin/operators/${encodeURIComponent(required(args[0], 'NAME'))}/revoke`,
      { reason: flags.reason },
    );
    out.result(done, () => `revoked operator ${done.revoked}`);
    return 0;
  },
};

/** The flags given, as a query string (absent ones left out). */
function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return q.toString();
}

/** `ota audit` (anyone who may read). */
export async function auditCommand(api: AdminApi, { flags, out }: Invocation<InventoryFlags>): Promise<number> {
  const rows = await api.get<AuditRow[]>(
    `/v1/admin/audit?${query({ actor: flags.actor, action: flags.action, limit: flags.limit })}`,
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

function describeDevice(d: DeviceRecord): string {
  return `${d.deviceId.padEnd(24)} ${d.status.padEnd(9)} ${(d.hardwareId ?? '-').padEnd(12)} ${(d.channel ?? '-').padEnd(10)} ${d.currentVersion.padEnd(10)} ${d.groups.join(',')}`;
}
