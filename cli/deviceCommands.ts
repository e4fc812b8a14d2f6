import type { DeviceDetail, DeviceRecord, Explanation } from '../common/adminApi';
import { urlPath } from '../common/urlPath';
import { parseDuration } from '../common/validation';
import { type ApiCommand, parseTags, queryString, required, subcommands } from './args';

export interface DeviceFlags {
  hardware?: string;
  channel?: string;
  group?: string[];
  tag?: string[];
  ttl?: string;
  status?: string;
  prefix?: string;
  limit?: string;
  reason?: string;
}

const devicePath = (id: string) => urlPath`/v1/admin/devices/${id}`;

const DEVICE_COMMANDS: Record<string, ApiCommand<DeviceFlags>> = {
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
    const devices = await api.get<DeviceRecord[]>(`/v1/admin/devices?${queryString(filters)}`);
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

/** `ota device token|list|show|revoke|label|explain`: the fleet inventory, through the admin API. */
export const deviceCommand = subcommands('device', DEVICE_COMMANDS);

function describeDevice(d: DeviceRecord): string {
  return `${d.deviceId.padEnd(24)} ${d.status.padEnd(9)} ${(d.hardwareId ?? '-').padEnd(12)} ${(d.channel ?? '-').padEnd(10)} ${d.currentVersion.padEnd(10)} ${d.groups.join(',')}`;
}
