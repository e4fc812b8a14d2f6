import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { createActivities } from '../activities';

const { refreshMetadata } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5s', maximumInterval: '1 minute', maximumAttempts: 10 },
});

/**
 * Started by the freshness Schedule: re-signs timestamp, snapshot (and targets) well
 * before they expire, so a running system never serves stale metadata. A device that
 * only ever sees stale metadata installs nothing (freeze attack), so this must not stop.
 */
export async function metadataFreshnessWorkflow(input: { withinHours: number }): Promise<Awaited<ReturnType<typeof refreshMetadata>>> {
  setCurrentDetails(`Re-signing roles that expire within ${input.withinHours} h`);
  const result = await refreshMetadata(input);
  setCurrentDetails(
    Object.entries(result)
      .map(([repo, roles]) => `**${repo}**: ${roles.map((r) => `${r.role} v${r.version} until ${r.expires}`).join(', ')}`)
      .join('\n\n'),
  );
  return result;
}
