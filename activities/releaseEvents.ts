import { Context } from '@temporalio/activity';

import { ServerError } from '../common/errors';
import type { ReleaseEvent } from '../common/webhookEvents';
import type { ActivityDeps } from './deps';

/** What the workflow tells of one release: which release, and its events in order. */
export interface ReleaseEventsInput {
  releaseId: string;
  channel: string;
  version: string;
  events: ReleaseEvent[];
}

/**
 * Records a release's events in the API's webhook outbox (the fleet store is the API's). Each
 * event's key is the run, this activity and its place in the batch: a retried attempt records
 * nothing twice, and the receiver sees the same id if it is sent again.
 */
export async function recordReleaseEvents(deps: ActivityDeps, input: ReleaseEventsInput): Promise<void> {
  const { workflowExecution, activityId } = Context.current().info;
  const run = workflowExecution?.runId ?? 'no-run';
  const body = {
    events: input.events.map((e, i) => ({
      key: `${run}:${activityId}:${i}`,
      type: e.type,
      at: e.at,
      releaseId: input.releaseId,
      channel: input.channel,
      version: input.version,
      data: e.data,
    })),
  };
  try {
    await deps.api.send('POST', '/v1/admin/events', body);
  } catch (err) {
    // No retry mends a token without the worker role: a permanent failure, and the release goes on.
    if (err instanceof ServerError && (err.code === 'FORBIDDEN' || err.code === 'UNAUTHENTICATED'))
      throw new ServerError(
        'CONFIG_INVALID',
        `release events not recorded: ${err.message} (give the worker's token the worker role)`,
        {
          cause: err,
        },
      );
    throw err;
  }
}
