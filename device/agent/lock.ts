import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
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
const TAKEOVER_EXPIRES_MS = 60_000;

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
  const holder: LockHolder = {
    pid: process.pid,
    command,
    since: new Date().toISOString(),
    started: processStart(process.pid),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await linkLock(file, holder)) return { file, release: () => rm(file, { force: true }) };
    const held = await lockHolder(stateDir);
    if (held) return { heldBy: held };
    if (!(await removeStale(stateDir, file))) break;
  }
  throw new Error(`${file}: could not take the lock (another agent is starting)`);
}

/**
 * The lock file appears whole or not at all: written beside it, then linked into place (a
 * link fails when the name exists), so no other agent ever reads a half-written holder.
 */
async function linkLock(file: string, holder: LockHolder): Promise<boolean> {
  const tmp = `${file}.${randomUUID()}`;
  await writeFile(tmp, JSON.stringify(holder), { mode: 0o644 });
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Removes a stale lock, one agent at a time: without the takeover marker, two agents that both
 * judged it stale could each remove the other's fresh lock. A marker left by a crash expires.
 */
async function removeStale(stateDir: string, file: string): Promise<boolean> {
  const marker = `${file}.takeover`;
  try {
    await mkdir(marker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - (await stat(marker).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if (age > TAKEOVER_EXPIRES_MS) await rmdir(marker).catch(() => undefined);
    return false;
  }
  try {
    // Judged again under the marker: another agent may have taken the lock since.
    if (!(await lockHolder(stateDir))) await rm(file, { force: true });
    return true;
  } finally {
    await rmdir(marker).catch(() => undefined);
  }
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
