import type { FileHandle } from 'node:fs/promises';
import type { ZstdDecompress } from 'node:zlib';

import { VerificationError } from './errors';
import { freeNow } from './freeNow';

export const invalidPatch = (why: string) => new VerificationError('DELTA_INVALID', `delta patch: ${why}`);

/** Compressed bytes go to the decoder in pieces of this size, read from the delta file. */
const PIECE = 64 * 1024;
/** The decoder's output buffers (zlib's `chunkSize`). */
const CHUNK = 256 * 1024;
/** Decoded bytes the apply loop has not taken yet, at most about this many: the decoder waits. */
const AHEAD = 1024 * 1024;

/** Where a block's zstd frame is in the delta file, and how many bytes it must decode to. */
export interface BlockFrame {
  file: FileHandle;
  at: number;
  length: number;
  /** Exactly this many bytes: the patch's control triples say so. */
  decodesTo: number;
}

/**
 * The diff blocks, or the extra blocks, of a delta's patches, one frame after the other through
 * one zstd decoder: a patch's blocks are never held whole (together as long as their segment:
 * 16 MiB from the server, at most MAX_DELTA_SEGMENT), only
 * the decoder's window and about AHEAD decoded bytes. One decoder for the whole delta, so its
 * window is allocated once: a decoder per frame left freed windows in the arenas of libuv's
 * threads, where zlib decodes, and the device's memory grew with the segment count.
 *
 * Each frame must decode to exactly what the control triples say: a byte more fails at once
 * (nothing is held past the limit), a byte less fails when the frame is used up.
 */
export class BlockStream {
  readonly #name: string;
  readonly #decoder: ZstdDecompress;
  readonly #piece = Buffer.allocUnsafeSlow(PIECE);
  #chunks: Buffer[] = [];
  #ahead = 0;
  #decodesTo = 0;
  #produced = 0;
  #fed = true;
  #feeding: Promise<void> = Promise.resolve();
  /** The feed's read of the delta file under way, if any (settles either way). */
  #reading: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  /** Settles when the stream fails: a destroyed decoder may never call a write back. */
  readonly #failed: Promise<void>;
  #onFailure: () => void = () => undefined;
  #wake: (() => void) | undefined;
  /** The last bytes handed out, freed once the caller is done with them if they end their memory. */
  #lent: Buffer | undefined;

  constructor(name: 'diff' | 'extra', windowLogMax: number) {
    const zlib = process.getBuiltinModule('node:zlib');
    this.#name = name;
    this.#failed = new Promise((resolve) => (this.#onFailure = resolve));
    this.#decoder = zlib.createZstdDecompress({
      chunkSize: CHUNK,
      params: { [zlib.constants.ZSTD_d_windowLogMax]: windowLogMax },
    });
    this.#decoder.on('data', (chunk: Buffer) => {
      if (this.#failure) return;
      this.#produced += chunk.length;
      if (this.#produced > this.#decodesTo) {
        this.#fail(invalidPatch(`the ${this.#name} block is over ${this.#decodesTo} bytes`));
        return;
      }
      this.#chunks.push(chunk);
      this.#ahead += chunk.length;
      if (this.#ahead >= AHEAD) this.#decoder.pause();
      this.#notify();
    });
    this.#decoder.on('error', (err: Error) => this.#fail(invalidPatch(`a frame does not decompress: ${err.message}`)));
    // zlib ends the stream when a frame ends with bytes of the same write left over: the
    // patch's region for this block holds more than one frame.
    this.#decoder.on('end', () => this.#fail(invalidPatch(`a ${this.#name} frame has bytes after its end`)));
  }

  /** Starts decoding the next frame; the previous one must have been finished. */
  begin(frame: BlockFrame): void {
    if (frame.length === 0) throw invalidPatch('an empty frame');
    this.#decodesTo = frame.decodesTo;
    this.#produced = 0;
    this.#fed = false;
    this.#feeding = this.#feed(frame).then(
      () => {
        this.#fed = true;
        this.#notify();
      },
      (err: unknown) => this.#fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** The frame's next decoded bytes, at least one and at most `max`; valid until the next call. */
  async take(max: number): Promise<Buffer> {
    this.#giveBack();
    for (;;) {
      if (this.#failure) throw this.#failure;
      const head = this.#chunks[0];
      if (head) {
        const bytes = head.length <= max ? head : head.subarray(0, max);
        if (bytes === head) this.#chunks.shift();
        else this.#chunks[0] = head.subarray(max);
        this.#ahead -= bytes.length;
        if (this.#ahead < AHEAD / 2 && this.#decoder.isPaused()) this.#decoder.resume();
        this.#lent = bytes;
        return bytes;
      }
      if (this.#exhausted())
        throw invalidPatch(
          `the ${this.#name} block is ${this.#produced} bytes, its control triples say ${this.#decodesTo}`,
        );
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** After the last byte was taken: the frame decoded to exactly its length, and no more. */
  async finish(): Promise<void> {
    this.#giveBack();
    if (this.#chunks.length > 0 || this.#produced > this.#decodesTo)
      throw invalidPatch(`the ${this.#name} block is over ${this.#decodesTo} bytes`);
    if (this.#decoder.isPaused()) this.#decoder.resume();
    await Promise.race([this.#feeding, this.#failed]);
    while (!this.#failure && !this.#exhausted()) await new Promise<void>((resolve) => (this.#wake = resolve));
    if (this.#failure) throw this.#failure;
    if (this.#produced !== this.#decodesTo || this.#chunks.length > 0)
      throw invalidPatch(
        `the ${this.#name} block is ${this.#produced} bytes, its control triples say ${this.#decodesTo}`,
      );
  }

  /**
   * Frees the decoder (its window) and what it still holds, wakes anyone still waiting on it,
   * and waits for its reads of the delta file to stop, so the file can be closed after.
   */
  async close(): Promise<void> {
    this.#fail(new Error('the block stream is closed'));
    this.#chunks = [];
    // A read under way finishes (the feed stops after it); a write into the destroyed
    // decoder may never call back, so the feed itself is not waited for.
    await this.#reading;
  }

  /** The frame was fed whole and everything it decoded to has been seen. */
  #exhausted(): boolean {
    return this.#fed && this.#decoder.readableLength === 0 && this.#chunks.length === 0;
  }

  async #feed(frame: BlockFrame): Promise<void> {
    for (let done = 0; done < frame.length && !this.#failure;) {
      const n = Math.min(PIECE, frame.length - done);
      const read = frame.file.read(this.#piece, 0, n, frame.at + done);
      this.#reading = read.then(
        () => undefined,
        () => undefined,
      );
      if ((await read).bytesRead !== n) throw invalidPatch('the file ends inside a patch');
      if (this.#failure) return;
      // The piece is reused once zlib has consumed it: its write callback says so.
      await new Promise<void>((resolve, reject) =>
        this.#decoder.write(this.#piece.subarray(0, n), (err) => (err ? reject(err) : resolve())),
      );
      done += n;
    }
  }

  /**
   * zlib fills each output buffer once, handing it out in views, and takes a new one when it
   * is full: bytes that end their memory were the last of it, and it can be freed now rather
   * than pile up until a collection (a GiB of output is four thousand such buffers).
   */
  #giveBack(): void {
    const lent = this.#lent;
    this.#lent = undefined;
    // Only zlib's own output buffers (CHUNK bytes each), never memory of another size that
    // could be a slab shared with other buffers.
    const memory = lent?.buffer;
    if (lent && memory instanceof ArrayBuffer && memory.byteLength === CHUNK && lent.byteOffset + lent.length === CHUNK)
      freeNow(Buffer.from(memory));
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#onFailure();
    this.#decoder.destroy();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
