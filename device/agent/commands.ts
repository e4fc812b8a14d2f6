import { spawn } from 'node:child_process';

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
export function runCommand(
  argv: readonly string[],
  options: { timeoutMs: number; env?: Record<string, string> },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    const chunks: Buffer[] = [];
    let kept = 0;
    let timedOut = false;
    const child = spawn(file ?? '', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    const keep = (chunk: Buffer) => {
      if (kept >= MAX_COMMAND_OUTPUT) return;
      const part = chunk.subarray(0, MAX_COMMAND_OUTPUT - kept);
      chunks.push(part);
      kept += part.length;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: undefined, timedOut, output: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? undefined, timedOut, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}
