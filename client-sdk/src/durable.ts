import { copyFile, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `file` in one atomic step that survives a power cut. A rename alone is
 * atomic for running processes, but the kernel may write the rename to disk before the
 * data: after a cut the file would exist but be empty, which for state.json stops every
 * install (D-10) and for an A/B slot means a selected slot with no image. Syncing the
 * data first rules that out; syncing the folder afterwards makes the rename itself
 * durable before the caller moves on (the agent raises the rollback index, then reports).
 */
export async function writeFileDurably(file: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomically(file, data);
  await syncFolder(dirname(file));
}

/**
 * `writeFileDurably` without the folder's sync: after a cut the file is the old one or the
 * new, never empty or torn, but the rename itself may be lost (the old file is back). For
 * state whose older version is still a valid state (the log's kept checkpoint), at half the
 * syncs.
 */
export async function writeFileAtomically(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/** `writeFileDurably` for a file copied from disk (artifacts can be gigabytes). */
export async function copyFileDurably(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp`;
  await copyFile(from, tmp);
  const handle = await open(tmp, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, to);
  await syncFolder(dirname(to));
}

async function syncFolder(dir: string): Promise<void> {
  // Windows cannot open a folder for syncing; its renames are journaled by NTFS.
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
