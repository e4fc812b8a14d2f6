import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { fileSink, freeNow, unwritten } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { rejectionOf } from '../../rejection';
import { tempDirs } from '../tempDirs';

/** A buffer with memory of its own (as a socket's chunk is): Buffer.from may cut from a larger slab. */
function owned(bytes: Buffer): Buffer {
  const b = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(b);
  return b;
}

describe('fileSink and freeNow: memory a device frees as it goes', () => {
  const temp = tempDirs('ota-sink-');

  it('writes the chunks in order into a new file (replacing an old one) and appends to a partial one', async () => {
    const dir = await temp();
    const file = join(dir, 'artifact');
    await writeFile(file, 'stale bytes that must go');
    const chunks = Array.from({ length: 40 }, () => randomBytes(16 * 1024 + 7));
    // A small buffer: the chunks go out in several writev batches.
    await pipeline(Readable.from(chunks.map(owned)), fileSink(file, { append: false, highWaterMark: 64 * 1024 }));
    expect((await readFile(file)).equals(Buffer.concat(chunks))).to.equal(true);
    const more = [randomBytes(1000), randomBytes(3)];
    await pipeline(Readable.from(more.map(owned)), fileSink(file, { append: true, highWaterMark: 1 << 20 }));
    expect((await readFile(file)).equals(Buffer.concat([...chunks, ...more]))).to.equal(true);
  });

  it('frees each chunk it was given once the chunk is on the file, and leaves a slice of shared memory alone', async () => {
    const dir = await temp();
    const own = [randomBytes(20_000), randomBytes(20_000)].map(owned);
    const slab = randomBytes(8192);
    const slice = slab.subarray(100, 600);
    const expected = Buffer.concat([...own, slice]);
    await pipeline(Readable.from([...own, slice]), fileSink(join(dir, 'f'), { append: false, highWaterMark: 1 << 20 }));
    expect((await readFile(join(dir, 'f'))).equals(expected)).to.equal(true);
    expect(own.map((c) => c.buffer.byteLength)).to.deep.equal([0, 0]);
    expect(slab.buffer.byteLength, 'the slab its slice came from').to.be.at.least(8192);
    expect(slice.length).to.equal(500);
  });

  it('fails the transfer with the error of a file it cannot open, and waits for nothing', async () => {
    const dir = await temp();
    const err = await rejectionOf(
      pipeline(
        Readable.from([Buffer.from('x')]),
        fileSink(join(dir, 'missing', 'f'), { append: false, highWaterMark: 1024 }),
      ),
    );
    expect((err as NodeJS.ErrnoException).code).to.equal('ENOENT');
  });

  it('after a short write, resumes at the first byte not written, across chunk boundaries', () => {
    const chunks = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')];
    const left = (written: number) => unwritten(chunks, written).map((c) => c.toString());
    expect(left(0)).to.deep.equal(['abc', 'defg', 'h']);
    expect(left(2)).to.deep.equal(['c', 'defg', 'h']);
    expect(left(3)).to.deep.equal(['defg', 'h']);
    expect(left(6)).to.deep.equal(['g', 'h']);
    expect(left(8)).to.deep.equal([]);
  });

  it('freeNow frees memory a buffer has to itself, or that it starts and is owned past a size; never a view into memory shared', () => {
    const whole = owned(randomBytes(4096));
    freeNow(whole);
    expect(whole.buffer.byteLength).to.equal(0);
    const big = Buffer.allocUnsafeSlow(1 << 20);
    const head = big.subarray(0, 1000);
    freeNow(head);
    expect(big.buffer.byteLength, 'not without ownedAtLeast').to.equal(1 << 20);
    freeNow(head, 1 << 20);
    expect(big.buffer.byteLength, 'owned memory of at least that size').to.equal(0);
    const shared = Buffer.allocUnsafeSlow(1 << 20);
    freeNow(shared.subarray(10, 20), 1);
    expect(shared.buffer.byteLength, 'a view that does not start the memory').to.equal(1 << 20);
    const pooled = Buffer.from('short'); // from Node's 8 KiB pool
    freeNow(pooled, 1 << 20);
    expect(pooled.toString()).to.equal('short');
  });
});
