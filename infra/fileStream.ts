import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';

export type Progress = (sent: number, total: number) => void;

/** A file as a stream that reports the bytes read so far (uploads of large artifacts). */
export async function meteredFile(file: string, onProgress?: Progress): Promise<{ stream: Readable; size: number }> {
  const { size } = await stat(file);
  let sent = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, done) {
      sent += chunk.length;
      onProgress?.(sent, size);
      done(null, chunk);
    },
  });
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  // An upload refused before it read everything must not leave the file open.
  meter.once('close', () => source.destroy());
  return { stream: source.pipe(meter), size };
}

/** A file's sha256 (hex), read in large chunks: the digest an upload is stored under and checked against. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 }) as AsyncIterable<Buffer>)
    hash.update(chunk);
  return hash.digest('hex');
}
