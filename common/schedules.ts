/** The freshness Schedule's id: one per deployment, created by the worker at start-up. */
export const FRESHNESS_SCHEDULE_ID = 'ota-metadata-freshness';
