/**
 * When a failed delivery is tried again: exponential from 5 s, doubled per attempt, capped,
 * with jitter (a random half to whole of the delay) so receivers coming back are not hit by
 * every sender at once. A delivery still failing 24 hours after its event is dead.
 */
export const RETRY = {
  firstMs: 5_000,
  maxMs: 15 * 60_000,
  giveUpAfterMs: 24 * 3_600_000,
} as const;

/** The delay after the `attempts`-th failed attempt; `random` in [0, 1). */
export function retryDelayMs(attempts: number, maxMs: number = RETRY.maxMs, random = Math.random()): number {
  const exp = Math.min(maxMs, RETRY.firstMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp * (0.5 + random / 2));
}

/** Whether a delivery that failed now stops being tried (its event is too old). */
export function givesUp(eventAt: Date, now: Date, giveUpAfterMs: number = RETRY.giveUpAfterMs): boolean {
  return now.getTime() - eventAt.getTime() >= giveUpAfterMs;
}
