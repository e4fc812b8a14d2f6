import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import type { RoleExpiry } from '../trust/tufRepository';
import type { ActivityDeps } from './deps';

/** Re-signs, in both repositories, every role that expires within the window. */
export async function refreshMetadata(deps: ActivityDeps, input: { withinHours: number }): Promise<Record<RepositoryName, RoleExpiry[]>> {
  const result = {} as Record<RepositoryName, RoleExpiry[]>;
  for (const repo of REPOSITORIES) result[repo] = await deps.repos[repo].refreshExpiring(input.withinHours);
  return result;
}
