import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';

import type { FileSetStatus } from '../trust/metadataRepository';
import type { ActivityDeps } from './deps';

/** Re-signs, in both repositories and every file set of each, every role that expires within the window. */
export async function refreshMetadata(
  deps: ActivityDeps,
  input: { withinHours: number },
): Promise<Record<RepositoryName, FileSetStatus[]>> {
  const result = {} as Record<RepositoryName, FileSetStatus[]>;
  for (const repo of REPOSITORIES) result[repo] = await deps.repos[repo].refreshExpiring(input.withinHours);
  return result;
}
