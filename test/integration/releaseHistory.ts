import { temporal } from '@temporalio/proto';

import { releaseWorkflowId } from '../../common/release';
import { temporalClient } from './helpers';

/**
 * What Temporal recorded of a release workflow (its event history, its pending activities),
 * not what the workflow says of itself: the positive signal a "nothing happened" check waits
 * for, so it neither sleeps longer than needed nor passes before the thing had its chance.
 */
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;

async function handleOf(channel: string, version: string) {
  return (await temporalClient()).workflow.getHandle(releaseWorkflowId(channel, version));
}

export async function releaseEvents(channel: string, version: string): Promise<HistoryEvent[]> {
  return (await (await handleOf(channel, version)).fetchHistory()).events ?? [];
}

/** The completion events of `activity`, oldest first. */
export function completions(events: HistoryEvent[], activity: string): HistoryEvent[] {
  const scheduled = new Set(
    events
      .filter(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
          e.activityTaskScheduledEventAttributes?.activityType?.name === activity,
      )
      .map((e) => String(e.eventId)),
  );
  return events.filter(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED &&
      scheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
  );
}

/** Events recorded after `event`. */
export function after(events: HistoryEvent[], event: HistoryEvent): HistoryEvent[] {
  return events.filter((e) => Number(e.eventId) > Number(event.eventId));
}

export function ofType(events: HistoryEvent[], type: keyof typeof EventType): HistoryEvent[] {
  return events.filter((e) => e.eventType === EventType[type]);
}

/** Failed attempts of the running `activity` (Temporal records retries only on its pending activity). */
export async function failedAttempts(channel: string, version: string, activity: string): Promise<number> {
  const pending = (await (await handleOf(channel, version)).describe()).raw.pendingActivities ?? [];
  const p = pending.find((a) => a.activityType?.name === activity);
  return p?.lastFailure ? (p.attempt ?? 1) - 1 : 0;
}

const WORKFLOW_TASK_EVENTS = new Set<unknown>([
  EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
]);

/**
 * The workflow waits on nothing but a message: its last task completed (the events of that
 * task's commands come after it), no activity is pending and every timer it started fired
 * or was cancelled. Only a signal or update moves it.
 */
export async function waitsOnlyForAMessage(channel: string, version: string): Promise<boolean> {
  const handle = await handleOf(channel, version);
  const events = (await handle.fetchHistory()).events ?? [];
  const closedTimers = new Set(
    events.map((e) => (e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes)?.timerId).filter(Boolean),
  );
  const openTimer = ofType(events, 'EVENT_TYPE_TIMER_STARTED').some(
    (e) => !closedTimers.has(e.timerStartedEventAttributes?.timerId),
  );
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  return (
    events.findLast((e) => WORKFLOW_TASK_EVENTS.has(e.eventType))?.eventType ===
      EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED &&
    !openTimer &&
    pending.length === 0
  );
}
