import { InstallError } from '../errors';
import { runProgram } from '../runProgram';

/** A program the installer runs: its arguments as an array (never a shell) and its deadline. */
export interface CommandSpec {
  argv: readonly string[];
  timeoutMs: number;
}

export interface CommandLimits {
  /** Output beyond this many bytes (stdout and stderr each) ends the command as a failure. */
  maxOutputBytes: number;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a program (runProgram.ts: no shell, SIGKILL at the deadline or when its output outgrows
 * the limit) and answers its output only when it exited 0; everything else is an
 * INSTALLER_COMMAND_FAILED with the tail of what it said.
 */
export async function runCommand(spec: CommandSpec, limits: CommandLimits): Promise<CommandResult> {
  const [file, ...args] = spec.argv;
  if (file === undefined || !(spec.timeoutMs > 0)) {
    throw new InstallError('CONFIG_INVALID', 'a command needs a program and a positive deadline');
  }
  const run = await runProgram({ ...spec, maxOutputBytes: limits.maxOutputBytes, overflow: 'kill' });
  if (run.startError) {
    throw new InstallError('INSTALLER_COMMAND_FAILED', `${file}: ${run.startError.message}`, { cause: run.startError });
  }
  if (run.stopped === undefined && run.exitCode === 0) return { stdout: run.stdout, stderr: run.stderr };
  const why =
    run.stopped === 'timeout'
      ? `still running after ${spec.timeoutMs} ms`
      : run.stopped
        ? `${run.stopped} over ${limits.maxOutputBytes} bytes`
        : run.signal
          ? `killed by ${run.signal}`
          : `exit code ${run.exitCode}`;
  const said = run.stderr.trim().slice(-300);
  throw new InstallError('INSTALLER_COMMAND_FAILED', `${file} ${args[0] ?? ''}: ${why}${said ? `: ${said}` : ''}`);
}
