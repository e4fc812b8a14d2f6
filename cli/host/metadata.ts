import { REPOSITORIES } from '@enigm-ota/client-sdk';

import type { MetadataWatermark } from '../../common/adminApi';
import { InputError } from '../../common/errors';
import { describeMetadataStatus, readMetadataStatus } from '../../control/metadataStatus';
import { connectClient } from '../../control/temporal';
import { AdminApi } from '../../infra/apiClient';
import type { Config } from '../../infra/config';
import type { Invocation } from '../args';
import type { Output } from '../output';

/**
 * `ota metadata status`: exit 1 when a role is about to expire, storage was rolled back or the
 * Schedule is not running.
 */
export async function metadataStatus(config: Config, out: Output): Promise<number> {
  const client = await connectClient(config);
  try {
    // The highest versions seen are the API's (its fleet store): asked over the admin API.
    const api = AdminApi.fromConfig(config);
    const report = await readMetadataStatus(client, config, () =>
      api.get<MetadataWatermark[]>('/v1/admin/metadata/watermarks'),
    ).finally(() => api.close());
    out.result(report, () => describeMetadataStatus(report));
    return report.healthy ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}

/**
 * `ota metadata accept-storage REPOSITORY --reason TEXT`: after a deliberate restore of older
 * storage, drop that repository's watermarks (S-25) so the servers serve and build on it
 * again. Through the admin API (an admin's token; audited with the reason).
 */
export async function acceptStorage(
  config: Config,
  { args, flags, out }: Invocation<{ reason?: string }>,
): Promise<number> {
  const { reason } = flags;
  const repo = args[0];
  if (!repo || !(REPOSITORIES as readonly string[]).includes(repo) || args.length > 1)
    throw new InputError('usage: ota metadata accept-storage release|rollout --reason TEXT');
  if (!reason) throw new InputError('say why storage is accepted: --reason TEXT (it goes to the audit log)');
  const api = AdminApi.fromConfig(config);
  try {
    const accepted = await api.send<{ repo: string; cleared: MetadataWatermark[] }>(
      'POST',
      '/v1/admin/metadata/accept-storage',
      { repo, reason },
    );
    out.result(
      accepted,
      () =>
        `${repo}: watermarks dropped (${accepted.cleared.map((m) => `${m.role} v${m.version}`).join(', ') || 'none were set'}); the next verified reads set them from what storage holds now`,
    );
    return 0;
  } finally {
    await api.close();
  }
}
