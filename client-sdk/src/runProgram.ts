import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * A program the device runs (RAUC, a health check, a hook): its arguments as an array, never
 * through a shell, with a deadline and a cap on what of its output is kept. Its output is the
 * program's word, read as untrusted input: bounded before anyone parses or logs it.
 */
export interface ProgramSpec {
  argv: readonly string[];
  /** Past it the program gets SIGKILL and its pipes are closed, whoever still holds them. */
  timeoutMs: number;
  /** Bytes kept of stdout and of stderr each (of both together with `merge`). */
  maxOutputBytes: number;
  /** Past `maxOutputBytes`: `drop` keeps the first bytes and reads the rest away; `kill` ends it. */
  overflow: 'drop' | 'kill';
  /** stdout and stderr kept as one text in `stdout`, in the order they came. */
  merge?: boolean;
  /** Added to the agent's own environment. */
  env?: Readonly<Record<string, string>>;
}

export interface ProgramOutcome {
  /** Its exit code; undefined when it did not exit by itself or never started. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** Why it was ended: its deadline passed, or that stream outgrew the limit (`overflow: 'kill'`). */
  stopped: 'timeout' | 'stdout' | 'stderr' | undefined;
  /** Why it did not start (no such program, not executable). */
  startError: Error | undefined;
  stdout: string;
  stderr: string;
}

/** Runs the program once; never throws: the caller decides what each outcome means. */
export function runProgram(spec: ProgramSpec): Promise<ProgramOutcome> {
  const [file, ...args] = spec.argv;
  let child: ChildProcessByStdio<null, Readable, Readable>;
  try {
    // Loaded on first use: an agent that runs no program (no hooks, the reference installer)
    // never loads child_process (with zlib loaded late too, 0.3-0.4 MiB less resident at rest).
    child = process.getBuiltinModule('node:child_process').spawn(file ?? '', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
      // A process group of its own, so that stopping it stops what it started too.
      detached: true,
      ...(spec.env ? { env: { ...process.env, ...spec.env } } : {}),
    });
  } catch (err) {
    // An empty program name or a NUL byte in an argument is refused before anything starts.
    const startError = err instanceof Error ? err : new Error(String(err));
    return Promise.resolve({ ...NOT_RUN, startError });
  }
  return outcomeOf(child, spec);
}

const NOT_RUN = { exitCode: undefined, signal: undefined, stopped: undefined, stdout: '', stderr: '' } as const;

function outcomeOf(child: ChildProcessByStdio<null, Readable, Readable>, spec: ProgramSpec): Promise<ProgramOutcome> {
  return new Promise((resolve) => {
    const stdout = collector(spec.maxOutputBytes);
    const stderr = spec.merge ? stdout : collector(spec.maxOutputBytes);
    let stopped: ProgramOutcome['stopped'];
    let settled = false;
    const stop = (why: NonNullable<ProgramOutcome['stopped']>) => {
      stopped ??= why;
      killGroup(child);
    };
    // A program that left a child of its own holding the pipes would otherwise keep 'close'
    // from coming, and the agent waiting, for as long as that child lives.
    const timer = setTimeout(
      () => {
        if (child.exitCode === null && child.signalCode === null) stop('timeout');
        child.stdout.destroy();
        child.stderr.destroy();
      },
      Math.max(0, spec.timeoutMs),
    );
    const finish = (outcome: Omit<ProgramOutcome, 'stdout' | 'stderr' | 'stopped'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, stopped, stdout: stdout.text(), stderr: spec.merge ? '' : stderr.text() });
    };
    for (const [name, kept] of [['stdout', stdout] as const, ['stderr', stderr] as const]) {
      child[name].on('data', (chunk: Buffer) => {
        if (!kept.add(chunk) && spec.overflow === 'kill') stop(spec.merge ? 'stdout' : name);
      });
    }
    child.on('error', (err) => {
      if (child.pid === undefined) finish({ exitCode: undefined, signal: undefined, startError: err });
    });
    child.on('close', (code, signal) => {
      const exitCode = stopped === undefined && code !== null ? code : undefined;
      finish({ exitCode, signal: signal ?? undefined, startError: undefined });
    });
  });
}

/** SIGKILL to the program's process group: a health check's own children do not outlive it. */
function killGroup(child: ChildProcessByStdio<null, Readable, Readable>): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function collector(limit: number) {
  const chunks: Buffer[] = [];
  let kept = 0;
  return {
    /** False once the output passed the limit; nothing beyond it is kept. */
    add(chunk: Buffer): boolean {
      const part = chunk.subarray(0, Math.max(0, limit - kept));
      if (part.length > 0) chunks.push(part);
      kept += part.length;
      return part.length === chunk.length;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}
