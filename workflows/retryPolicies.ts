/**
 * Every activity retry policy, in one place, each with a bound. A failure with a permanent
 * code is not retried at all (the activity says so: activities/failures.ts); any other
 * (storage or the API down, a worker lost, an uncoded error) is retried with backoff until
 * the bound, then the workflow fails with that error rather than waiting for ever on a
 * failure no retry fixes.
 */

/** Release stage activities (intake, preparation, deltas, validation): about an hour of backoff (30 s apart). */
export const LONG_ACTIVITY_RETRY = { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 120 } as const;

/** Short release activities (signing, registration, publishing, health): about an hour (10 s apart). */
export const SHORT_ACTIVITY_RETRY = { initialInterval: '500ms', maximumInterval: '10s', maximumAttempts: 360 } as const;

/** Re-signing for freshness: the Schedule runs again within the hour, so ten attempts are enough. */
export const FRESHNESS_RETRY = { initialInterval: '5s', maximumInterval: '1 minute', maximumAttempts: 10 } as const;

/** Release events for webhooks: about a day (a minute apart), the time a delivery is retried too. */
export const EVENT_RETRY = { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 1440 } as const;
