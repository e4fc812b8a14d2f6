import { hash } from 'node:crypto';

/** Buckets run 0..9999 so a rollout percent can have two decimals (percent * 100). */
export const BUCKET_COUNT = 10_000;

/**
 * A device's place in a release's rollout. It depends only on the release's salt and the
 * device id, so the answer for a device never changes while the percent grows, and the
 * API (as a hint) and the device (as the rule) compute the same number.
 */
export function rolloutBucket(salt: string, deviceId: string): number {
  // The first four bytes of sha256(salt:deviceId), big-endian. One-shot and hex: every poll
  // computes this for each release it considers, and a Hash object or a Buffer costs 3x more.
  return Number.parseInt(hash('sha256', `${salt}:${deviceId}`, 'hex').slice(0, 8), 16) % BUCKET_COUNT;
}

export function bucketInPercent(bucket: number, percent: number): boolean {
  return bucket < Math.round(percent * 100);
}
