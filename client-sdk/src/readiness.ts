import { OtaError } from './errors';
import { runProgram } from './runProgram';

/**
 * A readiness hook: an executable the device vendor provides that says whether the device
 * may install now (battery, a user at work, a machine mid-job). Exit code 0: ready; any
 * other exit, a signal, no answer within `timeoutMs`: not now. It is run without a shell
 * (`command[0]` is the program, the rest its arguments), with no input, and only the first
 * `READINESS_OUTPUT_BYTES` of its output are kept (for the report's message).
 */
export interface ReadinessHook {
  command: string[];
  timeoutMs: number;
}

/** Kept from the hook's stdout and stderr together; the rest is read and dropped. */
export const READINESS_OUTPUT_BYTES = 512;
const MAX_TIMEOUT_MS = 10 * 60_000;

export type Readiness = { ready: true } | { ready: false; detail: string };

/** Refuses a hook that cannot be run as configured (CONFIG_INVALID), before the agent starts. */
export function checkReadinessHook(hook: ReadinessHook): ReadinessHook {
  const ok =
    Array.isArray(hook.command) &&
    hook.command.length >= 1 &&
    hook.command.length <= 64 &&
    hook.command.every((a) => typeof a === 'string' && a.length <= 4096 && !a.includes('\u0000')) &&
    (hook.command[0] ?? '').length > 0 &&
    Number.isSafeInteger(hook.timeoutMs) &&
    hook.timeoutMs >= 1 &&
    hook.timeoutMs <= MAX_TIMEOUT_MS;
  if (!ok)
    throw new OtaError(
      'CONFIG_INVALID',
      `readiness: command is a program and its arguments (1 to 64), timeoutMs 1..${MAX_TIMEOUT_MS}`,
    );
  return hook;
}

/** Runs the hook once; never throws: a hook that cannot start counts as "not now", with why. */
export async function askReadiness(hook: ReadinessHook): Promise<Readiness> {
  const run = await runProgram({
    argv: hook.command,
    timeoutMs: hook.timeoutMs,
    maxOutputBytes: READINESS_OUTPUT_BYTES,
    overflow: 'drop',
    merge: true,
  });
  if (run.startError) return { ready: false, detail: `could not run: ${run.startError.message}` };
  if (run.stopped === 'timeout') return { ready: false, detail: `no answer within ${hook.timeoutMs} ms` };
  if (run.exitCode === 0) return { ready: true };
  const why = run.exitCode === undefined ? `ended by ${run.signal ?? 'a signal'}` : `exit code ${run.exitCode}`;
  const output = run.stdout.trim();
  return { ready: false, detail: `${why}${output ? `: ${output}` : ''}` };
}

/**
 * When to ask a hook that said "not now" again: doubling from `baseMs` with each answer in a
 * row, up to `capMs`; a "ready" starts over. "Not now" is not a failure: nothing is reported
 * as failed and the agent only waits.
 */
export class ReadinessBackoff {
  private notReady = 0;
  private askAfter = -Infinity;

  constructor(private readonly delays: { baseMs: number; capMs: number } = { baseMs: 30_000, capMs: 30 * 60_000 }) {}

  /** Whether the hook may be asked at `nowMs`, or how long until then. */
  waitMs(nowMs: number): number {
    return Math.max(0, this.askAfter - nowMs);
  }

  /** Records an answer at `nowMs`; returns the wait before the next question (0 once ready). */
  record(ready: boolean, nowMs: number): number {
    if (ready) {
      this.notReady = 0;
      this.askAfter = -Infinity;
      return 0;
    }
    const delay = Math.min(this.delays.capMs, this.delays.baseMs * 2 ** Math.min(this.notReady, 30));
    this.notReady++;
    this.askAfter = nowMs + delay;
    return delay;
  }
}
