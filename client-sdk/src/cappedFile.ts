import { open } from 'node:fs/promises';

/**
 * A file read whole, refused when it is larger than `maxBytes`: the agent's configuration and
 * certificates, and every record it keeps in its state folder (a file there may have been
 * damaged or replaced). Read through one handle, so a file that grows while being read is
 * still cut off at the limit, and never more than `maxBytes + 1` bytes are held.
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

/** Absent is an answer (undefined); any other read error, and an oversized file, are not. */
export async function readCappedIfPresent(file: string, maxBytes: number): Promise<Buffer | undefined> {
  try {
    return await readCapped(file, maxBytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
