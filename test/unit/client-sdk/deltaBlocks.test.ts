import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants, zstdCompressSync } from 'node:zlib';

import { BlockStream } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { rejectionOf } from '../../rejection';
import { tempDirs } from '../tempDirs';

const MiB = 1024 * 1024;
/** Compressible, not trivially: bsdiff's diff blocks are mostly zeros with changed bytes between. */
function blockOf(length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let at = 0; at < length; at += 997) randomBytes(Math.min(13, length - at)).copy(b, at);
  return b;
}
const frameOf = (b: Buffer) => zstdCompressSync(b, { params: { [constants.ZSTD_c_windowLog]: 20 } });

describe("BlockStream: a delta's diff or extra blocks decoded as they are used", () => {
  const temp = tempDirs('ota-blocks-');

  /** The frames written one after the other into a file, with where each is. */
  async function framesFile(frames: Buffer[]) {
    const file = join(await temp(), 'frames');
    await writeFile(file, Buffer.concat(frames));
    const handle = await open(file, 'r');
    let at = 0;
    const where = frames.map((f) => {
      const w = { at, length: f.length };
      at += f.length;
      return w;
    });
    return { handle, where };
  }

  /** Takes a frame's bytes in pieces of at most `step`, as the apply loop does. */
  async function takeAll(stream: BlockStream, length: number, step: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    for (let done = 0; done < length;) {
      const bytes = await stream.take(Math.min(step, length - done));
      bytes.copy(out, done);
      done += bytes.length;
    }
    return out;
  }

  it('decodes frame after frame through one decoder, exactly, in pieces of any size, larger than it decodes ahead', async () => {
    const blocks = [blockOf(5 * MiB + 3), blockOf(1), blockOf(3 * MiB)];
    const { handle, where } = await framesFile(blocks.map(frameOf));
    const stream = new BlockStream('diff', 23);
    try {
      for (const [i, block] of blocks.entries()) {
        stream.begin({ file: handle, ...where[i]!, decodesTo: block.length });
        expect((await takeAll(stream, block.length, [4099, 1 << 20, 7][i]!)).equals(block), `frame ${i}`).to.equal(
          true,
        );
        await stream.finish();
      }
    } finally {
      await stream.close();
      await handle.close();
    }
  });

  it("frees zlib's output buffers as they are used up, not at the collector's next turn", async () => {
    const block = blockOf(4 * MiB);
    const { handle, where } = await framesFile([frameOf(block)]);
    const stream = new BlockStream('extra', 23);
    const out = Buffer.alloc(block.length);
    /** The memory behind each piece that ended it, as it was handed out (before any freeing). */
    const ended = new Set<ArrayBufferLike>();
    try {
      stream.begin({ file: handle, ...where[0]!, decodesTo: block.length });
      for (let done = 0; done < block.length;) {
        const bytes = await stream.take(Math.min(100_000, block.length - done));
        bytes.copy(out, done);
        if (bytes.byteOffset + bytes.length === bytes.buffer.byteLength) ended.add(bytes.buffer);
        done += bytes.length;
      }
      await stream.finish();
    } finally {
      await stream.close();
      await handle.close();
    }
    expect(out.equals(block)).to.equal(true);
    // 4 MiB through 256 KiB buffers: 16 of them, each freed once its last bytes were used.
    expect(ended.size).to.equal(16);
    expect([...ended].filter((memory) => memory.byteLength === 0)).to.have.length(16);
  });

  it('refuses a block region that holds more than its frame (DELTA_INVALID)', async () => {
    const block = blockOf(1000);
    const padded = Buffer.concat([frameOf(block), Buffer.from('trailing bytes')]);
    const { handle, where } = await framesFile([padded]);
    const stream = new BlockStream('diff', 23);
    try {
      stream.begin({ file: handle, ...where[0]!, decodesTo: block.length });
      const err = await rejectionOf(takeAll(stream, block.length, 500).then(() => stream.finish()));
      expect([err.code, err.message]).to.deep.equal([
        'DELTA_INVALID',
        'delta patch: a diff frame has bytes after its end',
      ]);
    } finally {
      await stream.close();
      await handle.close();
    }
  });

  it('refuses a frame that decodes to more than its triples say as soon as it does, and one that decodes to less (DELTA_INVALID)', async () => {
    // 64 MiB of zeros in a few KiB: a stream that held what it decoded would hold all of it.
    const bomb = frameOf(Buffer.alloc(64 * MiB));
    const short = frameOf(blockOf(1000));
    const { handle, where } = await framesFile([bomb, short, Buffer.from('not a zstd frame at all')]);
    try {
      const over = new BlockStream('diff', 23);
      over.begin({ file: handle, ...where[0]!, decodesTo: MiB });
      const before = process.memoryUsage().arrayBuffers;
      const overError = await rejectionOf(takeAll(over, MiB, MiB).then(() => over.finish()));
      expect([overError.code, overError.message]).to.deep.equal([
        'DELTA_INVALID',
        `delta patch: the diff block is over ${MiB} bytes`,
      ]);
      expect(process.memoryUsage().arrayBuffers - before, 'bytes held').to.be.below(8 * MiB);
      await over.close();

      const under = new BlockStream('extra', 23);
      under.begin({ file: handle, ...where[1]!, decodesTo: 1001 });
      const underError = await rejectionOf(takeAll(under, 1001, 500));
      expect([underError.code, underError.message]).to.deep.equal([
        'DELTA_INVALID',
        'delta patch: the extra block is 1000 bytes, its control triples say 1001',
      ]);
      await under.close();

      const garbage = new BlockStream('diff', 23);
      garbage.begin({ file: handle, ...where[2]!, decodesTo: 10 });
      const garbageError = await rejectionOf(takeAll(garbage, 10, 10));
      expect(garbageError.code).to.equal('DELTA_INVALID');
      expect(garbageError.message).to.match(/^delta patch: a frame does not decompress/);
      await garbage.close();
    } finally {
      await handle.close();
    }
  });

  it('refuses a frame whose window is larger than the device accepts (DELTA_INVALID)', async () => {
    const wide = zstdCompressSync(blockOf(4 * MiB), { params: { [constants.ZSTD_c_windowLog]: 22 } });
    const { handle, where } = await framesFile([wide]);
    const stream = new BlockStream('diff', 20);
    try {
      stream.begin({ file: handle, ...where[0]!, decodesTo: 4 * MiB });
      const err = await rejectionOf(takeAll(stream, 4 * MiB, MiB));
      expect(err.code).to.equal('DELTA_INVALID');
    } finally {
      await stream.close();
      await handle.close();
    }
  });
});
