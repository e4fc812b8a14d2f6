import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyDelta, MAX_DELTA_REGION, ZSTD_DICT_MAGIC, type DeltaBinding } from '@enigm-ota/client-sdk';
import { buildDeltaFile, folderFrames, planSegments, type FrameStore } from '../../../infra/zstdPatch';
import { rejectionOf } from '../../rejection';

const KiB = 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A "next release": the base with edits spread over it, some bytes moved, and a longer tail. */
function nextImage(base: Buffer): Buffer {
  const next = Buffer.from(base);
  for (let at = 1000; at < next.length; at += 37 * KiB) randomBytes(64).copy(next, at);
  return Buffer.concat([next.subarray(4 * KiB), next.subarray(0, 4 * KiB), randomBytes(3 * KiB)]);
}

describe('delta files (infra/zstdPatch.ts builds, client-sdk/src/delta.ts applies)', () => {
  let dir: string;
  let base: Buffer;
  let target: Buffer;
  const binding = (): DeltaBinding => ({
    format: 'zstd-segments/v1',
    base: { sha256: sha(base), length: base.length },
    target: { name: 'c/2.0.0/fw.bin', sha256: sha(target), length: target.length },
  });
  // Small segments and margins so a 256 KiB image takes several segments, as a large one does.
  const small = { segmentBytes: 64 * KiB, marginBytes: 16 * KiB, level: 3 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-delta-'));
    // Compressible but not trivial: repeated text with random words, like a binary's tables.
    base = Buffer.from(Array.from({ length: 6000 }, (_, i) => `line ${i} ${randomBytes(6).toString('hex')}\n`).join(''));
    target = nextImage(base);
    await writeFile(join(dir, 'base'), base);
    await writeFile(join(dir, 'target'), target);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('plans segments that cover the image in order, each region inside the base and within the device bound', () => {
    const plan = planSegments(300 * 1024 ** 2, 310 * 1024 ** 2);
    expect(plan[0]!.outputOffset).to.equal(0);
    let next = 0;
    for (const s of plan) {
      expect(s.outputOffset).to.equal(next);
      next += s.outputLength;
      expect(s.baseOffset + s.baseLength).to.be.at.most(300 * 1024 ** 2);
      expect(s.baseLength).to.be.at.most(MAX_DELTA_REGION);
    }
    expect(next).to.equal(310 * 1024 ** 2);
    // A base that fits in one region is used whole.
    expect(planSegments(1000, 2000)).to.deep.equal([{ outputOffset: 0, outputLength: 2000, baseOffset: 0, baseLength: 1000 }]);
  });

  it('rebuilds the target exactly over several segments, and the delta is far smaller than the image', async () => {
    const built = await buildDeltaFile(join(dir, 'base'), join(dir, 'target'), join(dir, 'work1'), join(dir, 'delta'), small);
    expect(built.segments.length).to.be.greaterThan(2);
    expect(built.length).to.be.lessThan(target.length / 4);
    await applyDelta({ base: join(dir, 'base'), delta: join(dir, 'delta'), deltaLength: built.length, output: join(dir, 'out') }, binding());
    expect((await readFile(join(dir, 'out'))).equals(target)).to.equal(true);
  });

  it('resumes after a crash from the frames already kept, making only the rest (the activity keeps them in storage)', async () => {
    const fresh = await buildDeltaFile(join(dir, 'base'), join(dir, 'target'), join(dir, 'work-fresh'), join(dir, 'delta-fresh'), small);
    const kept = folderFrames(join(dir, 'kept'));
    await mkdir(join(dir, 'kept'));
    const made: number[] = [];
    const crashingAt = (n: number | undefined): FrameStore => ({
      ...kept,
      keep: async (i, file) => {
        if (i === n) throw new Error('worker killed');
        made.push(i);
        return kept.keep(i, file);
      },
    });
    const first = await rejectionOf(buildDeltaFile(join(dir, 'base'), join(dir, 'target'), join(dir, 'work-a'), join(dir, 'delta-a'), { ...small, frames: crashingAt(2) }));
    expect(first.message).to.equal('worker killed');
    expect(made).to.deep.equal([0, 1]);
    made.length = 0;
    const resumed = await buildDeltaFile(join(dir, 'base'), join(dir, 'target'), join(dir, 'work-b'), join(dir, 'delta-b'), { ...small, frames: crashingAt(undefined) });
    expect(made).to.deep.equal(fresh.segments.slice(2).map((_, i) => i + 2));
    expect(resumed.sha256, 'the same delta as one built without a crash').to.equal(fresh.sha256);
  });

  it('starts a region after the zstd dictionary magic, which zstd would read as a trained dictionary', async () => {
    const magicBase = Buffer.concat([ZSTD_DICT_MAGIC, base]);
    await writeFile(join(dir, 'magic-base'), magicBase);
    const built = await buildDeltaFile(join(dir, 'magic-base'), join(dir, 'target'), join(dir, 'work2'), join(dir, 'magic-delta'), small);
    expect(built.segments[0]!.baseOffset).to.equal(1);
    const b = { ...binding(), base: { sha256: sha(magicBase), length: magicBase.length } };
    await applyDelta({ base: join(dir, 'magic-base'), delta: join(dir, 'magic-delta'), deltaLength: built.length, output: join(dir, 'out2') }, b);
    expect((await readFile(join(dir, 'out2'))).equals(target)).to.equal(true);
  });

  describe('refuses, with its code', () => {
    let built: { length: number };
    before(async () => {
      built = await buildDeltaFile(join(dir, 'base'), join(dir, 'target'), join(dir, 'work3'), join(dir, 'delta3'), small);
    });
    const apply = (delta: string, deltaLength: number, b = binding(), baseFile = join(dir, 'base')) =>
      rejectionOf(applyDelta({ base: baseFile, delta, deltaLength, output: join(dir, 'out3') }, b));

    it('a base of another length (DELTA_BASE_MISMATCH) and a base with other bytes (DELTA_OUTPUT_MISMATCH)', async () => {
      await writeFile(join(dir, 'short-base'), base.subarray(1));
      expect((await apply(join(dir, 'delta3'), built.length, binding(), join(dir, 'short-base'))).code).to.equal('DELTA_BASE_MISMATCH');
      const other = Buffer.from(base);
      randomBytes(4 * KiB).copy(other, 20 * KiB);
      await writeFile(join(dir, 'other-base'), other);
      expect((await apply(join(dir, 'delta3'), built.length, binding(), join(dir, 'other-base'))).code).to.be.oneOf(['DELTA_OUTPUT_MISMATCH', 'DELTA_INVALID']);
    });

    it('a delta whose output is not the bound target (DELTA_OUTPUT_MISMATCH)', async () => {
      const b = binding();
      b.target.sha256 = sha(Buffer.from('another image'));
      expect((await apply(join(dir, 'delta3'), built.length, b)).code).to.equal('DELTA_OUTPUT_MISMATCH');
    });

    it('a header out of bounds or a frame that does not decompress (DELTA_INVALID)', async () => {
      const bytes = await readFile(join(dir, 'delta3'));
      const headerLength = bytes.readUInt32BE(8);
      const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString()) as { segments: Array<{ baseLength: number }> };
      header.segments[0]!.baseLength = MAX_DELTA_REGION + 1;
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(4);
      len.writeUInt32BE(json.length);
      const badHeader = Buffer.concat([bytes.subarray(0, 8), len, json, bytes.subarray(12 + headerLength)]);
      await writeFile(join(dir, 'bad-header'), badHeader);
      expect((await apply(join(dir, 'bad-header'), badHeader.length)).code).to.equal('DELTA_INVALID');
      const badFrame = Buffer.from(bytes);
      badFrame.fill(0xff, 12 + headerLength + 8, 12 + headerLength + 40);
      await writeFile(join(dir, 'bad-frame'), badFrame);
      expect((await apply(join(dir, 'bad-frame'), badFrame.length)).code).to.be.oneOf(['DELTA_INVALID', 'DELTA_OUTPUT_MISMATCH']);
      expect((await apply(join(dir, 'target'), target.length)).code).to.equal('DELTA_INVALID');
    });
  });
});
