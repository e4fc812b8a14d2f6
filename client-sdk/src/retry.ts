import { ApiRequestError, OtaError } from './errors';

/**
 * How a device retries its API requests and spaces its polls, so that a fleet coming back
 * from an API outage does not arrive in the same second (S-21). Pure: the clock, the
 * random source and the sleep come in, so every branch is unit-tested without a server.
 */
export interface RetryPolicy {
  /** First backoff window; each retry doubles it (full jitter: a uniform wait within it). */
  baseMs: number;
  /** Largest backoff window. */
  capMs: number;
  /** Attempts of one request, the first included (1: no retry). */
  maxAttempts: number;
  /** No retry starts once this much time has passed since the first attempt. */
  maxElapsedMs: number;
  /** A server's Retry-After above this is read as this (it is untrusted input). */
  maxRetryAfterMs: number;
  /** Time between two poll cycles of the agent. */
  pollIntervalMs: number;
  /** Share of the poll interval (0..1) the agent spreads it by, either way. */
  pollJitter: number;
}

export const defaultRetry: RetryPolicy = {
  baseMs: 1_000,
  capMs: 60_000,
  maxAttempts: 4,
  maxElapsedMs: 60_000,
  maxRetryAfterMs: 600_000,
  pollIntervalMs: 60_000,
  pollJitter: 0.2,
};

const HOUR = 3_600_000;
/** Bounds of each setting: a device never retries in a tight loop, nor waits for days. */
const BOUNDS: Record<keyof RetryPolicy, readonly [number, number]> = {
  baseMs: [10, 60_000],
  capMs: [10, HOUR],
  maxAttempts: [1, 20],
  maxElapsedMs: [0, HOUR],
  maxRetryAfterMs: [0, HOUR],
  pollIntervalMs: [100, 24 * HOUR],
  pollJitter: [0, 1],
};

/** The defaults with the given settings, each checked against its bounds (fails fast: CONFIG_INVALID). */
export function retryPolicy(given: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...defaultRetry, ...given };
  for (const [key, [min, max]] of Object.entries(BOUNDS) as Array<[keyof RetryPolicy, readonly [number, number]]>) {
    const value = policy[key];
    if (
      typeof value !== 'number' ||
      !(value >= min && value <= max) ||
      (key !== 'pollJitter' && !Number.isInteger(value))
    ) {
      throw new OtaError(
        'CONFIG_INVALID',
        `retry.${key} must be ${key === 'pollJitter' ? 'a number' : 'an integer'} in ${min}..${max}`,
      );
    }
  }
  if (policy.capMs < policy.baseMs) throw new OtaError('CONFIG_INVALID', 'retry.capMs must not be below retry.baseMs');
  return policy;
}

/** Full jitter: a uniform wait within the window of this retry (0 is the first retry). */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * window);
}

/** The wait between two poll cycles: the interval, spread by the jitter either way. */
export function pollDelayMs(policy: RetryPolicy, random: () => number): number {
  return Math.round(policy.pollIntervalMs * (1 - policy.pollJitter + 2 * policy.pollJitter * random()));
}

const HTTP_DATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Retry-After (RFC 9110: delay seconds or an HTTP date) in ms from `now`, capped at
 * `maxRetryAfterMs`; a date in the past is 0; anything else (absent, malformed) is undefined.
 */
export function retryAfterMs(header: string | undefined, now: number, policy: RetryPolicy): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  let ms: number;
  if (/^\d{1,12}$/.test(value)) ms = Number(value) * 1000;
  else if (HTTP_DATE.test(value) && !Number.isNaN(Date.parse(value))) ms = Math.max(0, Date.parse(value) - now);
  else return undefined;
  return Math.min(ms, policy.maxRetryAfterMs);
}

/**
 * A request is worth repeating when it got no answer, or the server said it is unavailable or
 * overloaded (5xx, 429). Any other refusal (4xx) is the same the next time: never retried.
 */
export function isRetryable(err: unknown): err is ApiRequestError {
  if (!(err instanceof ApiRequestError)) return false;
  const s = err.status;
  return s === undefined || s === 429 || (s >= 500 && s <= 599);
}

export interface RetryDeps {
  now: () => number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

export const realRetryDeps: RetryDeps = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A retry policy and the clock, random source and sleep it runs on (`realRetryDeps` when absent). */
export interface RetryOptions {
  policy: RetryPolicy;
  deps?: RetryDeps;
}

/**
 * The wait before the next try after `err` (the `retry`-th retry): the backoff, and never
 * earlier than the server's Retry-After; the jitter is added on top of it, so devices told
 * the same Retry-After still spread out.
 */
export function retryDelayMs(
  { policy, deps = realRetryDeps }: RetryOptions,
  retry: number,
  err: ApiRequestError,
): number {
  return (retryAfterMs(err.retryAfter, deps.now(), policy) ?? 0) + backoffMs(policy, retry, deps.random);
}

/**
 * The wait after one cycle of an agent's schedule: the poll interval spread by its jitter;
 * after a cycle whose requests failed for good (retryable errors only), the backoff, growing
 * with each failed cycle in a row (`failedBefore` of them before this one), never before the
 * API's Retry-After. Any other error waits the poll interval.
 */
export function cycleDelayMs(
  { policy, deps = realRetryDeps }: RetryOptions,
  outcome: { error?: unknown; failedBefore: number },
): number {
  if (outcome.error !== undefined && isRetryable(outcome.error))
    return retryDelayMs({ policy, deps }, policy.maxAttempts - 1 + outcome.failedBefore, outcome.error);
  return pollDelayMs(policy, deps.random);
}

/**
 * `work` until it succeeds, fails for good (not retryable), or the attempts or the time run out:
 * then its last error.
 */
export async function withRetry<T>(
  work: () => Promise<T>,
  policy: RetryPolicy,
  deps: RetryDeps = realRetryDeps,
): Promise<T> {
  const started = deps.now();
  for (let retry = 0; retry < policy.maxAttempts - 1; retry++) {
    try {
      return await work();
    } catch (err) {
      if (!isRetryable(err)) throw err;
      const delay = retryDelayMs({ policy, deps }, retry, err);
      if (deps.now() + delay - started > policy.maxElapsedMs) throw err;
      await deps.sleep(delay);
    }
  }
  // The last attempt: whatever it gives is the answer.
  return work();
}
