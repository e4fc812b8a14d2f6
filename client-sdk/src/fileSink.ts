import { type FileHandle, open } from 'node:fs/promises';
import { Writable } from 'node:stream';

import { freeNow } from './freeNow';

/**
 * A download's way onto its file: chunks gather up to `highWaterMark` bytes, go out in one
 * writev, and each chunk's memory is freed as soon as it is on the file (`freeNow`). A file
 * stream would leave the chunks to the garbage collector, and a 1 GiB download's chunks piled
 * up by some 25 MiB before V8 collected them: the device's peak. The chunks must be nobody
 * else's: a download's are the socket's, handed on once they are counted and hashed.
 */
export function fileSink(file: string, options: { append: boolean; highWaterMark: number }): Writable {
  let handle: FileHandle | undefined;
  // Written at the file's own position: from its start ('w'), or its end ('a').
  const writeAll = async (chunks: Buffer[]) => {
    let pending = chunks;
    while (pending.length > 0) {
      const { bytesWritten } = await handle!.writev(pending);
      if (bytesWritten === 0) throw new Error(`${file}: a write took no bytes`);
      pending = unwritten(pending, bytesWritten);
    }
    for (const chunk of chunks) freeNow(chunk);
  };
  return new Writable({
    highWaterMark: options.highWaterMark,
    construct(done) {
      open(file, options.append ? 'a' : 'w').then((h) => {
        handle = h;
        done();
      }, done);
    },
    writev(entries, done) {
      writeAll(entries.map((e) => e.chunk as Buffer)).then(() => done(), done);
    },
    final(done) {
      const h = handle!;
      handle = undefined;
      h.close().then(() => done(), done);
    },
    destroy(err, done) {
      if (!handle) return done(err);
      handle.close().then(
        () => done(err),
        () => done(err),
      );
    },
  });
}

/** What of `chunks` is left after the first `written` bytes went out (a short write). */
export function unwritten(chunks: Buffer[], written: number): Buffer[] {
  const left: Buffer[] = [];
  for (const chunk of chunks) {
    if (written >= chunk.length) written -= chunk.length;
    else {
      left.push(written > 0 ? chunk.subarray(written) : chunk);
      written = 0;
    }
  }
  return left;
}
