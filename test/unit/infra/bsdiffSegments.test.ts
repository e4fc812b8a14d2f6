import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';

import {
  applyDelta,
  DELTA_FORMAT,
  type DeltaBinding,
  encodeDeltaHeader,
  MAX_DELTA_REGION,
  MAX_PATCH,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { ServerError } from '../../../common/errors';
import { buildDeltaFile, folderPatches, type PatchStore, planSegments, sliceFile } from '../../../infra/bsdiffSegments';
import { refusal, rejectionOf } from '../../rejection';

const KiB = 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A "next release": the base with edits spread over it, some bytes moved, and a longer tail. */
function nextImage(base: Buffer): Buffer {
  const next = Buffer.from(base);
  for (let at = 1000; at < next.length; at += 37 * KiB) randomBytes(64).copy(next, at);
  return Buffer.concat([next.subarray(4 * KiB), next.subarray(0, 4 * KiB), randomBytes(3 * KiB)]);
}

describe('delta files (infra/bsdiffSegments.ts builds with qbsdiff, client-sdk/src/delta.ts applies)', () => {
  let dir: string;
  let base: Buffer;
  let target: Buffer;
  const binding = (): DeltaBinding => ({
    format: DELTA_FORMAT,
    base: { sha256: sha(base), length: base.length },
    target: { name: 'c/2.0.0/fw.bin', sha256: sha(target), length: target.length },
  });
  // Small segments and margins so a 256 KiB image takes several segments, as a large one does.
  const small = { segmentBytes: 64 * KiB, marginBytes: 16 * KiB };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-delta-'));
    // Compressible but not trivial: repeated text with random words, like a binary's tables.
    base = Buffer.from(
      Array.from({ length: 6000 }, (_, i) => `line ${i} ${randomBytes(6).toString('hex')}\n`).join(''),
    );
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
    expect(planSegments(1000, 2000)).to.deep.equal([
      { outputOffset: 0, outputLength: 2000, baseOffset: 0, baseLength: 1000 },
    ]);
  });

  it('fails a pair it cannot build with a permanent code: a plan past the device bounds, an image shorter than its size', async () => {
    const tooWide = refusal(() =>
      planSegments(200 * 1024 ** 2, 200 * 1024 ** 2, { segmentBytes: 100 * 1024 ** 2, marginBytes: 0 }),
    );
    expect(tooWide).to.be.instanceOf(ServerError).and.have.property('code', 'DELTA_BUILD_FAILED');
    const short = await rejectionOf(
      sliceFile(join(dir, 'base'), { offset: 0, length: 10 * 1024 ** 2 }, join(dir, 'cut')),
    );
    expect(short).to.be.instanceOf(ServerError).and.have.property('code', 'ARTIFACT_CORRUPT');
  });

  it('rebuilds the target exactly over several segments, and the delta is far smaller than the image', async () => {
    const built = await buildDeltaFile(
      { base: join(dir, 'base'), target: join(dir, 'target'), work: join(dir, 'work1'), out: join(dir, 'delta') },
      small,
    );
    expect(built.segments.length).to.be.greaterThan(2);
    expect(built.length).to.be.lessThan(target.length / 4);
    await applyDelta(
      { base: join(dir, 'base'), delta: join(dir, 'delta'), deltaLength: built.length, output: join(dir, 'out') },
      binding(),
    );
    expect((await readFile(join(dir, 'out'))).equals(target)).to.equal(true);
  });

  it("builds another pair in the same work folder from its own patches, never the last pair's (only a given store resumes)", async () => {
    const other = nextImage(target);
    await writeFile(join(dir, 'other-target'), other);
    await buildDeltaFile(
      {
        base: join(dir, 'base'),
        target: join(dir, 'target'),
        work: join(dir, 'work-shared'),
        out: join(dir, 'delta-first'),
      },
      small,
    );
    const second = await buildDeltaFile(
      {
        base: join(dir, 'base'),
        target: join(dir, 'other-target'),
        work: join(dir, 'work-shared'),
        out: join(dir, 'delta-second'),
      },
      small,
    );
    const b = { ...binding(), target: { name: 'c/3.0.0/fw.bin', sha256: sha(other), length: other.length } };
    await applyDelta(
      {
        base: join(dir, 'base'),
        delta: join(dir, 'delta-second'),
        deltaLength: second.length,
        output: join(dir, 'out-second'),
      },
      b,
    );
    expect((await readFile(join(dir, 'out-second'))).equals(other)).to.equal(true);
  });

  it('resumes after a crash from the patches already kept, making only the rest (the activity keeps them in storage)', async () => {
    const fresh = await buildDeltaFile(
      {
        base: join(dir, 'base'),
        target: join(dir, 'target'),
        work: join(dir, 'work-fresh'),
        out: join(dir, 'delta-fresh'),
      },
      small,
    );
    const kept = folderPatches(join(dir, 'kept'));
    await mkdir(join(dir, 'kept'));
    const made: number[] = [];
    const crashingAt = (n: number | undefined): PatchStore => ({
      ...kept,
      keep: async (i, file) => {
        if (i === n) throw new Error('worker killed');
        made.push(i);
        return kept.keep(i, file);
      },
    });
    // Two segments at a time: the crash at segment 2 lets the one beside it finish, and starts no other.
    const first = await rejectionOf(
      buildDeltaFile(
        { base: join(dir, 'base'), target: join(dir, 'target'), work: join(dir, 'work-a'), out: join(dir, 'delta-a') },
        {
          ...small,
          concurrency: 2,
          patches: crashingAt(2),
        },
      ),
    );
    expect(first.message).to.equal('worker killed');
    const before = [...made].sort((a, b) => a - b);
    expect(before).to.include.members([0, 1]).and.not.include(2);
    expect(before.length).to.be.at.most(3);
    made.length = 0;
    const resumed = await buildDeltaFile(
      { base: join(dir, 'base'), target: join(dir, 'target'), work: join(dir, 'work-b'), out: join(dir, 'delta-b') },
      { ...small, concurrency: 2, patches: crashingAt(undefined) },
    );
    expect(
      [...made].sort((a, b) => a - b),
      'only the segments not kept before',
    ).to.deep.equal(fresh.segments.map((_, i) => i).filter((i) => !before.includes(i)));
    expect(resumed.sha256, 'the same delta as one built without a crash').to.equal(fresh.sha256);
  });

  /**
   * A one-segment delta made by hand from control triples (diff run, extra run, seek), and the
   * image bspatch's rule says it rebuilds; applies it and returns whether the device's output
   * is exactly that image.
   */
  async function appliesAsBspatch(
    name: string,
    patch: { old: Buffer; diff: Buffer; extra: Buffer; triples: number[][] },
  ): Promise<boolean> {
    const { old, diff, extra, triples } = patch;
    const outputLength = triples.reduce((sum, [x, y]) => sum + x! + y!, 0);
    const expected = Buffer.alloc(outputLength);
    let [n, o, d, e] = [0, 0, 0, 0];
    for (const [x, y, z] of triples) {
      for (let i = 0; i < x!; i++, n++, o++, d++)
        expected[n] = (diff[d]! + (o >= 0 && o < old.length ? old[o]! : 0)) & 255;
      for (let i = 0; i < y!; i++) expected[n++] = extra[e++]!;
      o += z!;
    }
    const control = Buffer.alloc(24 * triples.length);
    triples.forEach((t, i) =>
      t.forEach((v, j) => control.writeBigUInt64LE(v < 0 ? BigInt(-v) | (1n << 63n) : BigInt(v), 24 * i + 8 * j)),
    );
    const frames = [control, diff, extra].map((b) => zstdCompressSync(b));
    const head = Buffer.alloc(12);
    frames.forEach((f, i) => head.writeUInt32BE(f.length, 4 * i));
    const patchBytes = Buffer.concat([head, ...frames]);
    const file = Buffer.concat([
      encodeDeltaHeader([{ baseOffset: 0, baseLength: old.length, outputLength, patchLength: patchBytes.length }]),
      patchBytes,
    ]);
    await writeFile(join(dir, `${name}-base`), old);
    await writeFile(join(dir, `${name}-delta`), file);
    const b: DeltaBinding = {
      format: DELTA_FORMAT,
      base: { sha256: sha(old), length: old.length },
      target: { name: 'c/2.0.0/fw.bin', sha256: sha(expected), length: outputLength },
    };
    await applyDelta(
      {
        base: join(dir, `${name}-base`),
        delta: join(dir, `${name}-delta`),
        deltaLength: file.length,
        output: join(dir, `${name}-out`),
      },
      b,
    );
    return (await readFile(join(dir, `${name}-out`))).equals(expected);
  }

  it("applies bspatch's rule exactly: diff bytes added to old ones (mod 256) only inside the region, extra bytes copied, seeks either way", async () => {
    // Unaligned runs, one starting before the region, one running past its end.
    const triples = [
      [301, 50, -40],
      [150, 25, -450],
      [149, 25, 850],
      [100, 0, 0],
    ];
    const patch = { old: randomBytes(1000), diff: randomBytes(700), extra: randomBytes(100), triples };
    expect(await appliesAsBspatch('rule', patch)).to.equal(true);
  });

  it('adds a diff run shorter than the distance to the next 4-byte boundary of the output', async () => {
    // Bytes 1..2 are added byte by byte: no word of the output starts there.
    const triples = [
      [1, 0, 0],
      [2, 0, 0],
      [1, 0, 0],
      [97, 3, 0],
    ];
    const patch = { old: randomBytes(200), diff: randomBytes(101), extra: randomBytes(3), triples };
    expect(await appliesAsBspatch('short-runs', patch)).to.equal(true);
  });

  it('rebuilds a segment whose region and output are larger than the base window and the output buffer, seeks jumping back out of the window', async () => {
    // The device reads the base through a 4 MiB window and writes through a 1 MiB buffer: runs
    // cross both, and seeks land before the window and past the region's end.
    const MiB = 1024 * KiB;
    const triples = [
      [3 * MiB + 5, MiB + 3, -2 * MiB],
      [2 * MiB + 1, 10, 5 * MiB],
      [MiB + MiB / 2, 0, -8 * MiB],
      [MiB, 7, 9 * MiB],
      [4099, 1, 0],
    ];
    const diffLength = triples.reduce((sum, [x]) => sum + x!, 0);
    const extraLength = triples.reduce((sum, [, y]) => sum + y!, 0);
    const patch = {
      old: randomBytes(9 * MiB),
      diff: randomBytes(diffLength),
      extra: randomBytes(extraLength),
      triples,
    };
    expect(await appliesAsBspatch('windowed', patch)).to.equal(true);
  });

  describe('refuses, with its code', () => {
    let built: { length: number };
    before(async () => {
      built = await buildDeltaFile(
        { base: join(dir, 'base'), target: join(dir, 'target'), work: join(dir, 'work3'), out: join(dir, 'delta3') },
        small,
      );
    });
    const apply = (delta: string, deltaLength: number, b = binding(), baseFile = join(dir, 'base')) =>
      rejectionOf(applyDelta({ base: baseFile, delta, deltaLength, output: join(dir, 'out3') }, b));

    it('a base of another length (DELTA_BASE_MISMATCH) and a base with other bytes (DELTA_OUTPUT_MISMATCH)', async () => {
      await writeFile(join(dir, 'short-base'), base.subarray(1));
      expect((await apply(join(dir, 'delta3'), built.length, binding(), join(dir, 'short-base'))).code).to.equal(
        'DELTA_BASE_MISMATCH',
      );
      const other = Buffer.from(base);
      randomBytes(4 * KiB).copy(other, 20 * KiB);
      await writeFile(join(dir, 'other-base'), other);
      expect((await apply(join(dir, 'delta3'), built.length, binding(), join(dir, 'other-base'))).code).to.be.oneOf([
        'DELTA_OUTPUT_MISMATCH',
        'DELTA_INVALID',
      ]);
    });

    it('a delta whose output is not the bound target (DELTA_OUTPUT_MISMATCH)', async () => {
      const b = binding();
      b.target.sha256 = sha(Buffer.from('another image'));
      expect((await apply(join(dir, 'delta3'), built.length, b)).code).to.equal('DELTA_OUTPUT_MISMATCH');
    });

    it('a header out of bounds, control triples out of bounds, blocks that do not match their triples, a frame that does not decompress (DELTA_INVALID, DELTA_OUTPUT_MISMATCH)', async () => {
      const bytes = await readFile(join(dir, 'delta3'));
      const headerLength = bytes.readUInt32BE(8);
      const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString()) as {
        segments: Array<{ baseLength: number }>;
      };
      header.segments[0]!.baseLength = MAX_DELTA_REGION + 1;
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(4);
      len.writeUInt32BE(json.length);
      const badHeader = Buffer.concat([bytes.subarray(0, 8), len, json, bytes.subarray(12 + headerLength)]);
      await writeFile(join(dir, 'bad-header'), badHeader);
      expect((await apply(join(dir, 'bad-header'), badHeader.length)).code).to.equal('DELTA_INVALID');
      // A patch longer than any segment's blocks can be (the device would hold it whole): refused
      // from the header, though the (sparse) file is as long as the header says.
      const oversized = JSON.parse(bytes.subarray(12, 12 + headerLength).toString()) as {
        segments: Array<{ patchLength: number }>;
      };
      oversized.segments = [{ ...oversized.segments[0]!, patchLength: MAX_PATCH + 1 }];
      const bigHeader = encodeDeltaHeader(oversized.segments as Parameters<typeof encodeDeltaHeader>[0]);
      await writeFile(join(dir, 'big-patch'), bigHeader);
      await truncate(join(dir, 'big-patch'), bigHeader.length + MAX_PATCH + 1);
      const big = await apply(join(dir, 'big-patch'), bigHeader.length + MAX_PATCH + 1);
      expect([big.code, big.message]).to.deep.equal([
        'DELTA_INVALID',
        `delta file: segment ${JSON.stringify(oversized.segments[0])} is out of bounds`,
      ]);
      // The first segment's patch replaced by a crafted one: control triples, diff and extra blocks.
      const crafted = async (
        name: string,
        triples: number[][],
        diff: Buffer,
        extra: Buffer,
        frameLengths?: (l: number[]) => number[],
      ) => {
        const control = Buffer.alloc(24 * triples.length);
        triples.forEach((t, i) =>
          t.forEach((v, j) => control.writeBigUInt64LE(v < 0 ? BigInt(-v) | (1n << 63n) : BigInt(v), 24 * i + 8 * j)),
        );
        const frames = [control, diff, extra].map((b) => zstdCompressSync(b));
        const head = Buffer.alloc(12);
        (frameLengths ?? ((l) => l))(frames.map((f) => f.length)).forEach((l, i) => head.writeUInt32BE(l, 4 * i));
        const patch = Buffer.concat([head, ...frames]);
        const h = JSON.parse(bytes.subarray(12, 12 + headerLength).toString()) as {
          segments: Array<{ patchLength: number }>;
        };
        const rest = bytes.subarray(12 + headerLength + h.segments[0]!.patchLength);
        h.segments[0]!.patchLength = patch.length;
        const j = Buffer.from(JSON.stringify(h));
        const l = Buffer.alloc(4);
        l.writeUInt32BE(j.length);
        const file = Buffer.concat([bytes.subarray(0, 8), l, j, patch, rest]);
        await writeFile(join(dir, name), file);
        return (await apply(join(dir, name), file.length)).code;
      };
      const header0 = JSON.parse(bytes.subarray(12, 12 + headerLength).toString()) as {
        segments: Array<{ outputLength: number }>;
      };
      const n = header0.segments[0]!.outputLength;
      const zeros = Buffer.alloc(n);
      expect(
        await crafted('whole', [[n, 0, 0]], zeros, Buffer.alloc(0)),
        'a well-formed patch that rebuilds other bytes',
      ).to.equal('DELTA_OUTPUT_MISMATCH');
      expect(
        await crafted('past-end', [[n + 1, 0, 0]], Buffer.alloc(n + 1), Buffer.alloc(0)),
        'a triple writing past the segment',
      ).to.equal('DELTA_INVALID');
      expect(await crafted('negative', [[-1, 0, 0]], zeros, Buffer.alloc(0)), 'a negative diff length').to.equal(
        'DELTA_INVALID',
      );
      expect(
        await crafted('short', [[n - 1, 0, 0]], Buffer.alloc(n - 1), Buffer.alloc(0)),
        'triples that rebuild too little',
      ).to.equal('DELTA_OUTPUT_MISMATCH');
      expect(
        await crafted('long-diff', [[n, 0, 0]], Buffer.alloc(n + 5), Buffer.alloc(0)),
        'a diff block longer than its triples',
      ).to.equal('DELTA_INVALID');
      expect(
        await crafted('short-extra', [[0, n, 0]], Buffer.alloc(0), Buffer.alloc(n - 1)),
        'an extra block shorter than its triples',
      ).to.equal('DELTA_INVALID');
      expect(await crafted('far-seek', [[n, 0, 2 ** 53]], zeros, Buffer.alloc(0)), 'a seek out of any bounds').to.equal(
        'DELTA_INVALID',
      );
      expect(
        await crafted('unfilled', [[n, 0, 0]], zeros, Buffer.alloc(0), (l) => [l[0]!, l[1]! - 1, l[2]!]),
        'frame lengths that do not fill the patch',
      ).to.equal('DELTA_INVALID');
      const corrupt = Buffer.from(bytes);
      corrupt.fill(0xff, 12 + headerLength + 12, 12 + headerLength + 40);
      await writeFile(join(dir, 'corrupt'), corrupt);
      expect((await apply(join(dir, 'corrupt'), corrupt.length)).code, 'a frame that does not decompress').to.equal(
        'DELTA_INVALID',
      );
      expect((await apply(join(dir, 'target'), target.length)).code).to.equal('DELTA_INVALID');
    });
  });
});
