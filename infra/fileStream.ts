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
  return { stream: createReadStream(file).pipe(meter), size };
}
