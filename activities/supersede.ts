import { compareSemver } from '@enigm-ota/client-sdk';

import { abortUpdate } from '../common/messages';
import { channelKey, releaseQuery, stageKey, versionKey } from '../common/temporalNames';
import type { ActivityDeps } from './deps';

export interface SupersedeResult {
  /** A newer release of the channel that is rolling out or stable: this one must not roll out. */
  supersededBy?: string;
  /** Older releases of the channel that were still running and are now aborted. */
  aborted: string[];
}

/**
 * The channel policy for concurrent releases: a release about to roll out supersedes
 * every older release of its channel that is still running (they are aborted, their
 * offers withdrawn), and is itself superseded by a newer one already rolling out or stable.
 */
export async function supersede(
  deps: ActivityDeps,
  input: { channel: string; version: string; releaseId: string },
): Promise<SupersedeResult> {
  const result: SupersedeResult = { aborted: [] };
  const query = releaseQuery({ channel: input.channel, runningOr: { stage: 'stable' } });
  for await (const wf of deps.temporal.workflow.list({ query })) {
    if (wf.workflowId === input.releaseId || wf.typedSearchAttributes.get(channelKey) !== input.channel) continue;
    const version = wf.typedSearchAttributes.get(versionKey);
    if (!version) continue;
    const newer = compareSemver(version, input.version) > 0;
    const stage = wf.typedSearchAttributes.get(stageKey);
    if (newer && (stage === 'rollout' || stage === 'stable')) {
      result.supersededBy = wf.workflowId;
    } else if (!newer && wf.status.name === 'RUNNING') {
      try {
        await deps.temporal.workflow
          .getHandle(wf.workflowId)
          .executeUpdate(abortUpdate, { args: [{ actor: 'supersede', reason: `superseded by ${input.releaseId}` }] });
        result.aborted.push(wf.workflowId);
      } catch {
        // It finished or was aborted meanwhile: nothing left to supersede.
      }
    }
  }
  return result;
}
