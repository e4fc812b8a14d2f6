import { createHash } from 'node:crypto';

/** Buckets run 0..9999 so a rollout percent can have two decimals (percent * 100). */
export const BUCKET_COUNT = 10_000;

/**
 * A device's place in a release's rollout. It depends only on the release's salt and the
 * device id, so the answer for a device never changes while the percent grows, and the
 * API (as a hint) and the device (as the rule) compute the same number.
 */
export function rolloutBucket(salt: string, deviceId: string): number {
  const digest = createHash('sha256').update(`${salt}:${deviceId}`).digest();
  return digest.readUInt32BE(0) % BUCKET_COUNT;
}

export function bucketInPercent(bucket: number, percent: number): boolean {
  return bucket < Math.round(percent * 100);
}
