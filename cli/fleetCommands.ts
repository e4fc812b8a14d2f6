import type { ComponentMatch } from '../common/adminApi';
import type { AdminApiClient } from '../infra/adminApiClient';
import { type Invocation, queryString, required } from './args';

export interface FleetFlags {
  name?: string;
  'version-below'?: string;
  limit?: string;
}

/**
 * `ota fleet components --name openssl [--version-below 3.0.14]`: the releases whose SBOM lists
 * the component, and how many devices run each now (anyone who may read).
 */
export async function componentsCommand(api: AdminApiClient, { flags, out }: Invocation<FleetFlags>): Promise<number> {
  const rows = await api.get<ComponentMatch[]>(
    `/v1/fleet/components?${queryString({ name: required(flags.name, '--name'), versionBelow: flags['version-below'], limit: flags.limit })}`,
  );
  const devices = rows.reduce((n, r) => n + r.devices, 0);
  out.result(rows, () =>
    rows.length
      ? [
          ...rows.map(
            (r) =>
              `${`${r.channel}/${r.version}`.padEnd(30)} ${r.component.name} ${r.component.version.padEnd(16)} ${String(r.devices).padStart(7)} device(s)${r.component.purl ? `  ${r.component.purl}` : ''}`,
          ),
          `${rows.length} release(s), ${devices} device(s)`,
        ].join('\n')
      : `no release's SBOM lists ${flags.name}${flags['version-below'] ? ` below ${flags['version-below']}` : ''}`,
  );
  return 0;
}
