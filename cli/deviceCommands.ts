import type { AuditRow, DeviceDetail, DeviceRecord, Explanation, OperatorRow } from '../common/adminApi';
import { InputError } from '../common/errors';
import { parseDuration } from '../common/validation';
import type { AdminApi } from '../infra/apiClient';
import { parseTags, required } from './args';
import type { Output } from './output';

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

/** `ota device token|list|show|revoke`: the fleet inventory, through the admin API. */
export async function deviceCommand(
  api: AdminApi,
  command: string | undefined,
  args: string[],
  flags: InventoryFlags,
  out: Output,
): Promise<number> {
  if (command === 'token') {
    const deviceId = required(args[0], 'DEVICE');
    const tags = parseTags(flags.tag ?? []);
    const ttlSeconds = flags.ttl === undefined ? undefined : Math.round(parseDuration(flags.ttl) / 1000);
    const grant = await api.send<{ deviceId: string; token: string; expiresAt: string }>(
      'POST',
      '/v1/admin/devices/tokens',
      {
        deviceId,
        hardwareId: required(flags.hardware, '--hardware'),
        channel: required(flags.channel, '--channel'),
        groups: flags.group ?? [],
        tags,
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      },
    );
    out.result(
      grant,
      () => `enrollment token for ${grant.deviceId} (single use, expires ${grant.expiresAt}):\n${grant.token}`,
    );
    return 0;
  }
  if (command === 'list') {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({
      status: flags.status,
      channel: flags.channel,
      group: flags.group?.[0],
      prefix: flags.prefix,
      limit: flags.limit,
    }))
      if (v !== undefined) q.set(k, v);
    const devices = await api.get<DeviceRecord[]>(`/v1/admin/devices?${q.toString()}`);
    out.result(devices, () => (devices.length ? devices.map(describeDevice).join('\n') : 'no devices'));
    return 0;
  }
  if (command === 'show') {
    const device = await api.get<DeviceDetail>(`/v1/admin/devices/${encodeURIComponent(required(args[0], 'DEVICE'))}`);
    out.result(device, () => JSON.stringify(device, null, 2));
    return 0;
  }
  if (command === 'revoke') {
    const device = await api.send<DeviceRecord>(
      'POST',
      `/v1/admin/devices/${encodeURIComponent(required(args[0], 'DEVICE'))}/revoke`,
      { reason: flags.reason },
    );
    out.result(device, () => `revoked ${device.deviceId}: its certificate is refused from the next request on`);
    return 0;
  }
  if (command === 'label') {
    const id = required(args[0], 'DEVICE');
    const device = await api.send<DeviceRecord>('POST', `/v1/admin/devices/${encodeURIComponent(id)}/labels`, {
      groups: flags.group ?? [],
      tags: parseTags(flags.tag ?? []),
    });
    out.result(
      device,
      () =>
        `${device.deviceId}: groups ${device.groups.join(', ') || '-'}; tags ${
          Object.entries(device.tags)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ') || '-'
        }`,
    );
    return 0;
  }
  if (command === 'explain') {
    const id = required(args[0], 'DEVICE');
    const version = required(args[1], 'VERSION');
    const e = await api.get<Explanation>(
      `/v1/admin/devices/${encodeURIComponent(id)}/explain?version=${encodeURIComponent(version)}`,
    );
    out.result(e, () =>
      [
        `${e.deviceId} and ${e.version}${e.targetName ? ` (${e.targetName})` : ''}: ${e.eligible ? 'ELIGIBLE' : 'NOT ELIGIBLE'}`,
        ...e.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(18)} ${c.reason}`),
        `  a poll now gets: ${e.offer ? `${e.offer.version} (${e.offer.targetName})` : 'nothing'}`,
      ].join('\n'),
    );
    return 0;
  }
  throw new InputError(`unknown device command: ${command ?? ''} (ota --help)`);
}

/** `ota operator add|list|revoke` (admins) and `ota audit` (anyone who may read). */
export async function operatorCommand(
  api: AdminApi,
  command: string | undefined,
  args: string[],
  flags: InventoryFlags,
  out: Output,
): Promise<number> {
  if (command === 'add') {
    const created = await api.send<{ operator: { name: string; roles: string[] }; token: string }>(
      'POST',
      '/v1/admin/operators',
      {
        name: required(args[0], 'NAME'),
        roles: (flags.role ?? []).flatMap((r) => r.split(',')),
      },
    );
    out.result(
      created,
      () =>
        `operator ${created.operator.name} (${created.operator.roles.join(', ')}); token, shown once:\n${created.token}`,
    );
    return 0;
  }
  if (command === 'list') {
    const ops = await api.get<OperatorRow[]>('/v1/admin/operators');
    out.result(ops, () =>
      ops
        .map(
          (o) =>
            `${o.name.padEnd(20)} ${o.roles.join(',').padEnd(30)} ${o.revokedAt ? `revoked ${o.revokedAt}` : 'active'}`,
        )
        .join('\n'),
    );
    return 0;
  }
  if (command === 'revoke') {
    const done = await api.send<{ revoked: string }>(
      'POST',
      `/v1/admin/operators/${encodeURIComponent(required(args[0], 'NAME'))}/revoke`,
      { reason: flags.reason },
    );
    out.result(done, () => `revoked operator ${done.revoked}`);
    return 0;
  }
  throw new InputError(`unknown operator command: ${command ?? ''} (ota --help)`);
}

export async function auditCommand(api: AdminApi, flags: InventoryFlags, out: Output): Promise<number> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ actor: flags.actor, action: flags.action, limit: flags.limit }))
    if (v !== undefined) q.set(k, v);
  const rows = await api.get<AuditRow[]>(`/v1/admin/audit?${q.toString()}`);
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
