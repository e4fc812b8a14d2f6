import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';

import type { createActivities } from '../activities';
import { FRESHNESS_RETRY } from './retryPolicies';

const { refreshMetadata } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '5 minutes',
  retry: FRESHNESS_RETRY,
});

/**
 * Started by the freshness Schedule: re-signs timestamp, snapshot (and targets) well
 * before they expire, so a running system never serves stale metadata. A device that
 * only ever sees stale metadata installs nothing (freeze attack), so this must not stop.
 */
export async function metadataFreshnessWorkflow(input: {
  withinHours: number;
}): Promise<Awaited<ReturnType<typeof refreshMetadata>>> {
  setCurrentDetails(`Re-signing roles that expire within ${input.withinHours} h`);
  const result = await refreshMetadata(input);
  setCurrentDetails(
    Object.entries(result)
      .map(([repo, sets]) => `**${repo}**: ${summary(sets)}`)
      .join('\n\n'),
  );
  return result;
}

type RoleLine = { role: string; version: number; expires: string };

/** Each role's soonest expiry over the file sets (a partitioned repository has one per channel and hardware). */
function summary(sets: Array<{ partition?: string; roles: RoleLine[] } | RoleLine>): string {
  // A run of a flat-layout stack returned one flat list of roles (recorded histories replay it).
  const roles = sets.flatMap((s) => ('roles' in s ? s.roles : [s]));
  const soonest = new Map<string, RoleLine>();
  for (const r of roles) if (!soonest.has(r.role) || r.expires < soonest.get(r.role)!.expires) soonest.set(r.role, r);
  const count = sets.length === roles.length ? '' : `${sets.length} file set(s); soonest: `;
  return count + [...soonest.values()].map((r) => `${r.role} v${r.version} until ${r.expires}`).join(', ');
}
