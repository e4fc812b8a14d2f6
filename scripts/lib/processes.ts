import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Resolves true once the service answers. */
  ready: () => Promise<boolean>;
  timeoutMs?: number;
}

/** The start of each run of a service in its log (one JSON line, like the services' own). */
export const START_MARKER = 'service starting';

/**
 * Background services with pid files in <home>/run and logs in <home>/log, so `npm start`
 * can leave them running and `npm run stop` (or a test's teardown) can end them.
 */
export class ProcessManager {
  constructor(private readonly home: string) {}

  private pidFile(name: string): string {
    return join(this.home, 'run', `${name}.pid`);
  }

  logFile(name: string): string {
    return join(this.home, 'log', `${name}.log`);
  }

  running(name: string): number | undefined {
    const file = this.pidFile(name);
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8'));
    return isAlive(pid) ? pid : undefined;
  }

  async start(spec: ServiceSpec): Promise<'started' | 'running'> {
    await mkdir(join(this.home, 'run'), { recursive: true });
    await mkdir(join(this.home, 'log'), { recursive: true });
    if (this.running(spec.name) && (await spec.ready())) return 'running';
    await this.stop(spec.name);
    // Appended, never truncated: a restart keeps what the last run said before it ended.
    const fd = openSync(this.logFile(spec.name), 'a');
    writeSync(
      fd,
      `${JSON.stringify({ level: 'info', time: new Date().toISOString(), service: spec.name, msg: START_MARKER, command: spec.command })}\n`,
    );
    const child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...spec.env },
    });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.once('error', () => undefined);
    if (child.pid === undefined) throw new Error(`cannot start ${spec.command}`);
    await writeFile(this.pidFile(spec.name), String(child.pid));
    child.unref();
    const deadline = Date.now() + (spec.timeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      if (await spec.ready().catch(() => false)) return 'started';
      const code = await Promise.race([exited, sleep(250).then(() => 'waiting' as const)]);
      if (code !== 'waiting')
        throw new Error(
          `${spec.name} exited with ${String(code)}; see ${this.logFile(spec.name)}:\n${await this.tail(spec.name)}`,
        );
    }
    throw new Error(
      `${spec.name} not ready after ${spec.timeoutMs ?? 60_000} ms; see ${this.logFile(spec.name)}:\n${await this.tail(spec.name)}`,
    );
  }

  /** SIGTERM, then SIGKILL after a grace period; the whole process group goes. `kill` skips the grace. */
  async stop(name: string, options: { kill?: boolean } = {}): Promise<boolean> {
    const pid = this.running(name);
    await rm(this.pidFile(name), { force: true });
    if (!pid) return false;
    signal(pid, options.kill ? 'SIGKILL' : 'SIGTERM');
    for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(250);
    if (isAlive(pid)) signal(pid, 'SIGKILL');
    return true;
  }

  async tail(name: string, lines = 20): Promise<string> {
    try {
      return (await readFile(this.logFile(name), 'utf8')).split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** Whether the service's current run (after the last start marker) has logged `text`. */
export async function logContains(file: string, text: string): Promise<boolean> {
  try {
    return currentRun(await readFile(file, 'utf8')).includes(text);
  } catch {
    return false;
  }
}

/** The log of the latest run: the text after the last start marker (all of it in a log without one). */
export function currentRun(log: string): string {
  const at = log.lastIndexOf(`"msg":"${START_MARKER}"`);
  return at < 0 ? log : log.slice(log.indexOf('\n', at) + 1);
}
