import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';

import type { ScheduleState } from '../common/adminApi';
import { FRESHNESS_SCHEDULE_ID, FRESHNESS_WORKFLOW, RELEASE_TASK_QUEUE } from '../common/temporalNames';
import type { Config } from './config';

/** Creates the freshness Schedule if it is missing (the worker calls this at start-up). */
export async function ensureFreshnessSchedule(client: Client, config: Config): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: FRESHNESS_SCHEDULE_ID,
      spec: { intervals: [{ every: `${config.freshness.everyMinutes} minutes` }] },
      action: {
        type: 'startWorkflow',
        workflowType: FRESHNESS_WORKFLOW,
        taskQueue: RELEASE_TASK_QUEUE,
        args: [{ withinHours: config.freshness.withinHours }],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      state: { note: 'Re-signs TUF snapshot and timestamp well before they expire', triggerImmediately: true },
    });
    return 'created';
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return 'exists';
    throw err;
  }
}

/** What `ota metadata status` shows of the Schedule: paused, the last run's outcome, the next run. */
export async function freshnessScheduleState(client: Client): Promise<ScheduleState> {
  let desc;
  try {
    desc = await client.schedule.getHandle(FRESHNESS_SCHEDULE_ID).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return { exists: false, paused: false };
    throw err;
  }
  const state: ScheduleState = { exists: true, paused: desc.state.paused, note: desc.state.note };
  const last = desc.info.recentActions.at(-1);
  if (last && 'workflow' in last.action) {
    const { workflowId, firstExecutionRunId } = last.action.workflow;
    const run = await client.workflow.getHandle(workflowId, firstExecutionRunId).describe();
    state.lastRun = { startedAt: last.takenAt.toISOString(), workflowId, status: run.status.name };
  }
  state.nextRunAt = desc.info.nextActionTimes[0]?.toISOString();
  return state;
}
