import { open, rename, rm, writeFile } from 'node:fs/promises';

/**
 * A file read whole, refused when it is larger than `maxBytes`: the configuration, the
 * provisioned certificates and roots, the agent's own records. Read through one handle, so a
 * file that grows while being read is still cut off at the limit.
 */
export async function readCapped(file: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(maxBytes + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    }
    return buf.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/** Absent is an answer (undefined); any other read error is not. */
export async function readCappedIfPresent(file: string, maxBytes: number): Promise<Buffer | undefined> {
  try {
    return await readCapped(file, maxBytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A record another process may read at any time: it sees the old or the new content, never half. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
