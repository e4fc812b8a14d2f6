/**
 * The events webhooks carry: what happened to a release (told by its workflow), to a device
 * (told by the API in the statement that changed it) and to the repositories. A subscription
 * names the ones it wants; each goes out as a CloudEvent of type `dev.enigm-ota.<name>`.
 */
export const EVENT_TYPES = [
  'release.created',
  'release.stage-changed',
  'release.approval-requested',
  'release.approved',
  'release.rejected',
  'release.step-published',
  'release.paused',
  'release.resumed',
  'release.gate-paused',
  'release.gate-rolled-back',
  'release.rolled-back',
  'release.aborted',
  'release.stable',
  'release.failed',
  'device.enrolled',
  'device.revoked',
  'storage.rollback-detected',
  'keys.changed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The CloudEvents `type` of an event: reverse-DNS, as the specification recommends. */
export const CLOUDEVENT_TYPE_PREFIX = 'dev.enigm-ota.';

/** The events the workflow tells of: the release's own, from created to stable or failed. */
export type ReleaseEventType = Extract<EventType, `release.${string}`>;
export const RELEASE_EVENT_TYPES = EVENT_TYPES.filter((t): t is ReleaseEventType => t.startsWith('release.'));

/** One release event as the workflow records it: the activity adds which release it is. */
export interface ReleaseEvent {
  type: ReleaseEventType;
  /** Workflow time of the change, ISO 8601. */
  at: string;
  /** Who, why, which step: small and flat (the receiver sees it as the CloudEvent's data). */
  data: Record<string, string | number | boolean>;
}

/**
 * The events a subscription asks for: names, `release.*`-style prefixes, or `all`. Returns
 * the names, or the first word that is none of these.
 */
export function expandEventTypes(words: readonly string[]): { types: EventType[] } | { unknown: string } {
  const out = new Set<EventType>();
  for (const w of words) {
    const matched =
      w === 'all'
        ? EVENT_TYPES
        : w.endsWith('.*')
          ? EVENT_TYPES.filter((t) => t.startsWith(w.slice(0, -1)))
          : EVENT_TYPES.filter((t) => t === w);
    if (matched.length === 0) return { unknown: w };
    for (const t of matched) out.add(t);
  }
  return { types: EVENT_TYPES.filter((t) => out.has(t)) };
}
