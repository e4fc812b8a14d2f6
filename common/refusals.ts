/**
 * Refusals that say a release cannot be installed on a device it was offered to: its
 * rollback index or version is below what the device runs, or it does not fit the device.
 * A health gate counts them as failures (a release the fleet refuses must not go stable).
 * The device's other refusals are about timing (outside the rollout percent, paused,
 * withdrawn meanwhile) and say nothing about the release.
 */
export const BLOCKING_REFUSALS = [
  'ROLLBACK_INDEX_TOO_LOW',
  'NOT_NEWER',
  'SOURCE_VERSION_TOO_OLD',
  'HARDWARE_MISMATCH',
  'CHANNEL_MISMATCH',
] as const;
