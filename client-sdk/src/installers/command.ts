import { spawn } from 'node:child_process';

import { InstallError } from '../errors';

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
 * Runs a program without a shell, kills it (SIGKILL) when its deadline passes or its output
 * outgrows the limit, and answers its output only when it exited 0; everything else is an
 * INSTALLER_COMMAND_FAILED with the tail of what it said. The output is the program's word
 * about the device, read by the agent as untrusted input: bounded before it is parsed.
 */
export function runCommand(spec: CommandSpec, limits: CommandLimits): Promise<CommandResult> {
  const [file, ...args] = spec.argv;
  if (file === undefined || !(spec.timeoutMs > 0)) {
    return Promise.reject(new InstallError('CONFIG_INVALID', 'a command needs a program and a positive deadline'));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    const out = { stdout: collector(), stderr: collector() };
    let failure: string | undefined;
    const stop = (why: string) => {
      failure ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(`still running after ${spec.timeoutMs} ms`), spec.timeoutMs);
    for (const name of ['stdout', 'stderr'] as const) {
      child[name].on('data', (chunk: Buffer) => {
        if (!out[name].add(chunk, limits.maxOutputBytes)) stop(`${name} over ${limits.maxOutputBytes} bytes`);
      });
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new InstallError('INSTALLER_COMMAND_FAILED', `${file}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = out.stdout.text();
      const stderr = out.stderr.text();
      if (failure === undefined && code === 0) return resolve({ stdout, stderr });
      const why = failure ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
      const said = stderr.trim().slice(-300);
      reject(
        new InstallError('INSTALLER_COMMAND_FAILED', `${file} ${args[0] ?? ''}: ${why}${said ? `: ${said}` : ''}`),
      );
    });
  });
}

function collector() {
  const chunks: Buffer[] = [];
  let bytes = 0;
  return {
    /** False once the limit is passed; nothing beyond it is kept. */
    add(chunk: Buffer, limit: number): boolean {
      bytes += chunk.length;
      if (bytes > limit) return false;
      chunks.push(chunk);
      return true;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}
