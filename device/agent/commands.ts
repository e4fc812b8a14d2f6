import { runProgram } from '@enigm-ota/client-sdk';

/** Output of a health check or hook kept for the log; the rest is read and dropped. */
const MAX_COMMAND_OUTPUT = 4096;

export interface CommandResult {
  /** Exit code, or undefined when it did not exit by itself (killed, timed out, not started). */
  exitCode: number | undefined;
  timedOut: boolean;
  /** The first MAX_COMMAND_OUTPUT bytes of stdout and stderr together, or why it did not start. */
  output: string;
}

/**
 * Runs a configured command without a shell; its output is captured (never passed to the
 * agent's stdout, which is one JSON event per line), and it is killed at the timeout.
 */
export async function runCommand(
  argv: readonly string[],
  options: { timeoutMs: number; env?: Record<string, string> },
): Promise<CommandResult> {
  const run = await runProgram({
    argv,
    timeoutMs: options.timeoutMs,
    maxOutputBytes: MAX_COMMAND_OUTPUT,
    overflow: 'drop',
    merge: true,
    env: options.env,
  });
  return {
    exitCode: run.exitCode,
    timedOut: run.stopped === 'timeout',
    output: run.startError ? run.startError.message : run.stdout,
  };
}
