import { REPOSITORIES } from '@enigm-ota/client-sdk';

import type { MetadataWatermark } from '../common/adminApi';
import { InputError } from '../common/errors';
import type { AdminApiClient } from '../infra/adminApiClient';
import type { Invocation } from './args';

/**
 * `ota metadata accept-storage REPOSITORY --reason TEXT`: after a deliberate restore of older
 * storage, drop that repository's watermarks (S-25) so the servers serve and build on it
 * again. Through the admin API (an admin's token; audited with the reason).
 */
export async function acceptStorage(
  api: AdminApiClient,
  { args, flags, out }: Invocation<{ reason?: string }>,
): Promise<number> {
  const { reason } = flags;
  const repo = args[0];
  if (!repo || !(REPOSITORIES as readonly string[]).includes(repo) || args.length > 1)
    throw new InputError('usage: ota metadata accept-storage release|rollout --reason TEXT');
  if (!reason) throw new InputError('say why storage is accepted: --reason TEXT (it goes to the audit log)');
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
}
