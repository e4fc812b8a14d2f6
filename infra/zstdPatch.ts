import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ServerError } from '../common/errors';
import { encodeDeltaHeader, MAX_DELTA_REGION, MAX_DELTA_SEGMENT, ZSTD_DICT_MAGIC, type DeltaSegment } from '@enigm-ota/client-sdk';

const run = promisify(execFile);

/**
 * Delta segments (client-sdk/src/delta.ts): the new image in SEGMENT-sized pieces, each
 * compressed by `zstd --patch-from` against the base region at the same relative place,
 * widened by MARGIN on both sides for code that moved. A device then holds one region and
 * one segment at a time (<= 48 MiB + 32 MiB), whatever the image size; a base that fits in
 * one region is used whole, so small images lose nothing to segmenting.
 */
export const SEGMENT_BYTES = 32 * 1024 * 1024;
export const MARGIN_BYTES = 8 * 1024 * 1024;

export type SegmentPlan = Omit<DeltaSegment, 'frameLength'> & { outputOffset: number };

/** Where each segment of a `targetLength`-byte image takes its base region from; pure. */
export function planSegments(baseLength: number, targetLength: number, segmentBytes = SEGMENT_BYTES, marginBytes = MARGIN_BYTES): SegmentPlan[] {
  const plan: SegmentPlan[] = [];
  const whole = baseLength <= segmentBytes + 2 * marginBytes;
  for (let outputOffset = 0; outputOffset < targetLength; outputOffset += segmentBytes) {
    const outputLength = Math.min(segmentBytes, targetLength - outputOffset);
    const centre = Math.floor((outputOffset / targetLength) * baseLength);
    const start = whole ? 0 : Math.max(0, Math.min(centre - marginBytes, baseLength - outputLength - 2 * marginBytes));
    const end = whole ? baseLength : Math.min(baseLength, start + outputLength + 2 * marginBytes);
    plan.push({ outputOffset, outputLength, baseOffset: start, baseLength: end - start });
  }
  for (const s of plan) {
    if (s.baseLength > MAX_DELTA_REGION || s.outputLength > MAX_DELTA_SEGMENT) throw new Error(`segment plan exceeds the device bounds: ${JSON.stringify(s)}`);
  }
  return plan;
}

/**
 * zstd reads a dictionary that starts with its magic number as a trained dictionary, not raw
 * content: such a region starts one byte later (the device refuses one that does not).
 */
export async function avoidDictionaryMagic(baseFile: string, s: SegmentPlan): Promise<SegmentPlan> {
  const file = await open(baseFile, 'r');
  try {
    let { baseOffset, baseLength } = s;
    const head = Buffer.alloc(4);
    while (baseLength > 4 && (await file.read(head, 0, 4, baseOffset)).bytesRead === 4 && head.equals(ZSTD_DICT_MAGIC)) {
      baseOffset += 1;
      baseLength -= 1;
    }
    return { ...s, baseOffset, baseLength };
  } finally {
    await file.close();
  }
}

/** Copies `length` bytes at `offset` of one file into another (the zstd CLI takes whole files). */
export async function sliceFile(from: string, offset: number, length: number, to: string): Promise<void> {
  const src = await open(from, 'r');
  const dst = await open(to, 'w');
  try {
    const chunk = Buffer.allocUnsafe(Math.min(length, 8 * 1024 * 1024));
    for (let done = 0; done < length; ) {
      const { bytesRead } = await src.read(chunk, 0, Math.min(chunk.length, length - done), offset + done);
      if (bytesRead === 0) throw new Error(`${from} ends before ${offset + length}`);
      await dst.write(chunk, 0, bytesRead);
      done += bytesRead;
    }
  } finally {
    await Promise.all([src.close(), dst.close()]);
  }
}

/**
 * One frame: `segmentFile` compressed with `regionFile` as its raw-content dictionary
 * (zstd's patch-from, long-distance matching over the whole region). The frame records its
 * content size and a checksum; the device's zlib decoder applies it with the same region.
 */
export async function patchFrom(regionFile: string, segmentFile: string, frameFile: string, level = 19): Promise<void> {
  try {
    await run('zstd', ['-q', '-f', `-${level}`, '--long=27', '--single-thread', `--patch-from=${regionFile}`, segmentFile, '-o', frameFile], { maxBuffer: 1 << 20 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ServerError('CONFIG_INVALID', 'zstd is not installed on the worker (Debian: apt install zstd); it builds delta updates (or give the release deltaBases 0)', { cause: err });
    }
    throw err;
  }
}

/**
 * Where finished frames are kept while a delta is built: a local folder by default; the
 * worker's activity keeps them in object storage, so a retry after a crash finds them.
 */
export interface FrameStore {
  /** The kept frame's length, or undefined when segment `i` is still to be made. */
  size(i: number): Promise<number | undefined>;
  keep(i: number, file: string): Promise<number>;
  read(i: number): Promise<AsyncIterable<Buffer>>;
}

export function folderFrames(dir: string): FrameStore {
  const at = (i: number) => join(dir, `frame-${i}`);
  return {
    size: async (i) => (await stat(at(i)).catch(() => undefined))?.size,
    keep: async (i, file) => {
      await copyFile(file, at(i));
      return (await stat(at(i))).size;
    },
    read: async (i) => createReadStream(at(i)),
  };
}

export interface BuildOptions {
  segmentBytes?: number;
  marginBytes?: number;
  level?: number;
  frames?: FrameStore;
  onSegment?(segment: number, of: number): void;
  /** Wraps each long call (the zstd CLI), e.g. to heartbeat while it runs. */
  during?<T>(work: Promise<T>): Promise<T>;
}

/** Builds the delta file (client-sdk/src/delta.ts) that rebuilds `targetFile` from `baseFile`, in `work`. */
export async function buildDeltaFile(baseFile: string, targetFile: string, work: string, outFile: string, options: BuildOptions = {}): Promise<{ length: number; sha256: string; segments: DeltaSegment[] }> {
  await mkdir(work, { recursive: true });
  const frames = options.frames ?? folderFrames(work);
  const during = options.during ?? (<T>(w: Promise<T>) => w);
  const plan = planSegments((await stat(baseFile)).size, (await stat(targetFile)).size, options.segmentBytes, options.marginBytes);
  const segments: DeltaSegment[] = [];
  for (const [i, planned] of plan.entries()) {
    options.onSegment?.(i + 1, plan.length);
    const s = await avoidDictionaryMagic(baseFile, planned);
    let frameLength = await frames.size(i);
    if (frameLength === undefined) {
      await sliceFile(baseFile, s.baseOffset, s.baseLength, join(work, 'region'));
      await sliceFile(targetFile, s.outputOffset, s.outputLength, join(work, 'segment'));
      await during(patchFrom(join(work, 'region'), join(work, 'segment'), join(work, 'frame'), options.level));
      frameLength = await frames.keep(i, join(work, 'frame'));
    }
    segments.push({ baseOffset: s.baseOffset, baseLength: s.baseLength, outputLength: s.outputLength, frameLength });
  }
  const out = await open(outFile, 'w');
  const hash = createHash('sha256');
  let length = 0;
  const write = async (chunk: Buffer) => {
    hash.update(chunk);
    await out.write(chunk);
    length += chunk.length;
  };
  try {
    await write(encodeDeltaHeader(segments));
    for (let i = 0; i < segments.length; i++) {
      for await (const chunk of await frames.read(i)) await write(chunk);
    }
  } finally {
    await out.close();
  }
  return { length, sha256: hash.digest('hex'), segments };
}
