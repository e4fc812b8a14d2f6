import { readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { readCappedIfPresent } from '@enigm-ota/client-sdk';

/** Who holds the state directory: the service (`run`) or a one-off `check-now`. */
export interface LockHolder {
  pid: number;
  command: string;
  since: string;
  /** The process's start time in clock ticks since boot (Linux): a reused pid is not the holder. */
  started?: string;
}

const LOCK_FILE = 'agent.lock';
const MAX_LOCK_BYTES = 4096;

/**
 * One agent process per state directory: two would race on the slots, state.json and the
 * partial downloads. The lock names its holder's pid; a lock whose process is gone (a crash,
 * a power cut) is taken over.
 */
export async function acquireLock(
  stateDir: string,
  command: string,
): Promise<{ release: () => Promise<void>; file: string } | { heldBy: LockHolder }> {
  const file = join(stateDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o644);
      const holder: LockHolder = {
        pid: process.pid,
        command,
        since: new Date().toISOString(),
        started: processStart(process.pid),
      };
      await handle.writeFile(JSON.stringify(holder));
      await handle.close();
      return { file, release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await lockHolder(stateDir);
    if (holder) return { heldBy: holder };
    await rm(file, { force: true });
  }
  throw new Error(`${file}: could not take the lock (another agent is starting)`);
}

/** The live holder of the lock, or undefined (no lock, a stale one, or one that does not read). */
export async function lockHolder(stateDir: string): Promise<LockHolder | undefined> {
  const text = await readCappedIfPresent(join(stateDir, LOCK_FILE), MAX_LOCK_BYTES);
  if (!text) return undefined;
  let holder: Partial<LockHolder>;
  try {
    holder = JSON.parse(text.toString('utf8')) as Partial<LockHolder>;
  } catch {
    return undefined;
  }
  const { pid, command, since, started } = holder;
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0 || typeof command !== 'string' || typeof since !== 'string')
    return undefined;
  if (!isAlive(pid as number)) return undefined;
  // Signalled by check-now: a pid now used by another process must never be taken for the agent.
  if (started !== undefined && processStart(pid as number) !== started) return undefined;
  return { pid: pid as number, command, since, started };
}

/** Field 22 of /proc/<pid>/stat, read after the command name (which may hold spaces and parentheses). */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
