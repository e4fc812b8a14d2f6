import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { constants, zstdCompress } from 'node:zlib';

import {
  type DeltaSegment,
  encodeDeltaHeader,
  MAX_DELTA_REGION,
  MAX_DELTA_SEGMENT,
  PATCH_HEADER,
} from '@enigm-ota/client-sdk';

import { ServerError } from '../common/errors';

const run = promisify(execFile);
// In the thread pool: the worker's event loop keeps heartbeating while a block compresses.
const compress = promisify(zstdCompress);

/**
 * Delta segments (client-sdk/src/delta.ts): the new image in SEGMENT-sized pieces, each
 * diffed by bsdiff (qbsdiff) against the base region at the same relative place, widened by
 * MARGIN on both sides for code that moved. A device then holds one region and one segment
 * at a time (<= 32 MiB + 16 MiB), whatever the image size; a base that fits in one region is
 * used whole, so small images lose nothing to segmenting. bsdiff's approximate matches (code
 * whose addresses moved) make executables' patches far smaller than exact-match coders'.
 */
const SEGMENT_BYTES = 16 * 1024 * 1024;
const MARGIN_BYTES = 8 * 1024 * 1024;

export type SegmentPlan = Omit<DeltaSegment, 'patchLength'> & { outputOffset: number };

/** Where each segment of a `targetLength`-byte image takes its base region from; pure. */
export function planSegments(
  baseLength: number,
  targetLength: number,
  { segmentBytes = SEGMENT_BYTES, marginBytes = MARGIN_BYTES }: { segmentBytes?: number; marginBytes?: number } = {},
): SegmentPlan[] {
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
    if (s.baseLength > MAX_DELTA_REGION || s.outputLength > MAX_DELTA_SEGMENT)
      throw new ServerError('DELTA_BUILD_FAILED', `segment plan exceeds the device bounds: ${JSON.stringify(s)}`);
  }
  return plan;
}

/** Copies `length` bytes at `offset` of one file into another (qbsdiff takes whole files). */
export async function sliceFile(
  from: string,
  { offset, length }: { offset: number; length: number },
  to: string,
): Promise<void> {
  const src = await open(from, 'r');
  const dst = await open(to, 'w');
  try {
    const chunk = Buffer.allocUnsafe(Math.min(length, 8 * 1024 * 1024));
    for (let done = 0; done < length;) {
      const { bytesRead } = await src.read(chunk, 0, Math.min(chunk.length, length - done), offset + done);
      // Content-addressed images do not shrink: a short one is corrupt, and so is every retry.
      if (bytesRead === 0) throw new ServerError('ARTIFACT_CORRUPT', `${from} ends before ${offset + length}`);
      await dst.write(chunk, 0, bytesRead);
      done += bytesRead;
    }
  } finally {
    await Promise.all([src.close(), dst.close()]);
  }
}

/**
 * One segment's patch (client-sdk/src/delta.ts): qbsdiff's bsdiff 4.x patch, searching
 * single-threaded and keeping even short matches (`-P -s 0`, the smallest it makes), with its
 * three bzip2 blocks recompressed to zstd -19: decoding bzip2 was most of a device's time,
 * and zstd is smaller on these blocks (bench/delta.ts, docs/architecture.md).
 */
async function diffSegment(regionFile: string, segmentFile: string, patchFile: string): Promise<void> {
  const bsdiffFile = `${patchFile}.bsdiff`;
  await tool('qbsdiff', ['-P', '-s', '0', regionFile, segmentFile, bsdiffFile], 'cargo install qbsdiff --features cmd');
  const patch = await readFile(bsdiffFile);
  await rm(bsdiffFile, { force: true });
  if (patch.length < 32 || patch.toString('latin1', 0, 8) !== 'BSDIFF40')
    throw new ServerError('DELTA_BUILD_FAILED', 'qbsdiff wrote no bsdiff 4.x patch');
  const control = Number(patch.readBigUInt64LE(8));
  const diff = Number(patch.readBigUInt64LE(16));
  const blocks = [
    patch.subarray(32, 32 + control),
    patch.subarray(32 + control, 32 + control + diff),
    patch.subarray(32 + control + diff),
  ];
  const frames: Buffer[] = [];
  for (const block of blocks) {
    const raw = await bunzip2(block);
    frames.push(
      await compress(raw, {
        params: {
          [constants.ZSTD_c_compressionLevel]: 19,
          [constants.ZSTD_c_windowLog]: Math.min(WINDOW_LOG, Math.max(10, Math.ceil(Math.log2(raw.length + 1)))),
          [constants.ZSTD_c_checksumFlag]: 1,
        },
      }),
    );
  }
  const head = Buffer.alloc(PATCH_HEADER);
  frames.forEach((f, i) => head.writeUInt32BE(f.length, 4 * i));
  await writeFile(patchFile, Buffer.concat([head, ...frames]));
}

/**
 * zstd's window: most of a device's decoder memory, and it runs two decoders at once (it
 * accepts up to 2^23). 2^22 made the bench pairs' deltas 0.2-0.8% smaller, larger windows
 * under 0.1% more (docs/benchmarks.md).
 */
const WINDOW_LOG = 20;

/** A worker without one of the delta tools: a configuration error that names how to install it. */
function missingTool(command: string, install: string, cause: unknown): ServerError {
  return new ServerError(
    'CONFIG_INVALID',
    `${command} is not installed on the worker (${install}); it builds delta updates (or give the release deltaBases 0)`,
    { cause },
  );
}

async function tool(command: string, args: string[], install: string): Promise<void> {
  try {
    await run(command, args, { maxBuffer: 1 << 20 });
  } catch (err) {
    throw toolFailure(command, install, err as NodeJS.ErrnoException & { signal?: string | null });
  }
}

/**
 * A delta tool that failed: not installed (CONFIG_INVALID), refusing its input with an exit
 * code (DELTA_BUILD_FAILED: the same input fails again, so it is not retried), or killed by a
 * signal (the worker short of memory, or stopping), which a retry on a calmer worker may not
 * meet: that one stays uncoded, so it is retried within the policy's bound.
 */
function toolFailure(command: string, install: string, err: NodeJS.ErrnoException & { signal?: string | null }): Error {
  if (err.code === 'ENOENT') return missingTool(command, install, err);
  if (err.signal) return err;
  return new ServerError('DELTA_BUILD_FAILED', `${command} failed: ${err.message.slice(0, 500)}`, { cause: err });
}

/** A bzip2 block's bytes (Debian's bzip2: Node has no bzip2 decoder). */
function bunzip2(block: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('bzip2', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => reject(toolFailure('bzip2', 'Debian: apt install bzip2', err)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else if (signal) reject(new Error(`bzip2 -dc was killed by ${signal}`));
      else reject(new ServerError('DELTA_BUILD_FAILED', `bzip2 -dc exited ${code}: ${stderr.trim().slice(0, 500)}`));
    });
    // bzip2 exiting early (a corrupt block) closes its stdin: the exit code reports it, not EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(block);
  });
}

/**
 * Where finished patches are kept while a delta is built: a local folder by default; the
 * worker's activity keeps them in object storage, so a retry after a crash finds them.
 */
export interface PatchStore {
  /** The kept patch's length, or undefined when segment `i` is still to be made. */
  size(i: number): Promise<number | undefined>;
  keep(i: number, file: string): Promise<number>;
  read(i: number): Promise<AsyncIterable<Buffer>>;
}

/** Kept patches are found by segment number alone: a folder another pair left must not be read. */
async function freshFolderPatches(dir: string): Promise<PatchStore> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return folderPatches(dir);
}

export function folderPatches(dir: string): PatchStore {
  const at = (i: number) => join(dir, `patch-${i}`);
  return {
    size: async (i) => (await stat(at(i)).catch(() => undefined))?.size,
    keep: async (i, file) => {
      await copyFile(file, at(i));
      return (await stat(at(i))).size;
    },
    read: (i) => Promise.resolve(createReadStream(at(i))),
  };
}

export interface BuildOptions {
  segmentBytes?: number;
  marginBytes?: number;
  /**
   * Where patches are kept, found again on a retry: its keys must name the pair (the activity's
   * do). Default: a fresh folder, nothing resumed.
   */
  patches?: PatchStore;
  onSegment?(segment: number, of: number): void;
  /** Wraps each long call (qbsdiff), e.g. to heartbeat while it runs. */
  during?: <T>(work: Promise<T>) => Promise<T>;
  /**
   * Segments diffed at once (default: the cores, at most 4; each qbsdiff holds a region and its
   * suffix array, about 185 MiB at 16 MiB segments).
   */
  concurrency?: number;
}

const DEFAULT_CONCURRENCY = Math.max(1, Math.min(4, availableParallelism()));

/** The files of one build: the two images, a work folder, and where the delta file goes. */
export interface DeltaFiles {
  base: string;
  target: string;
  work: string;
  out: string;
}

/** Builds the delta file (client-sdk/src/delta.ts) that rebuilds `files.target` from `files.base`, in `files.work`. */
export async function buildDeltaFile(
  files: DeltaFiles,
  options: BuildOptions = {},
): Promise<{ length: number; sha256: string; segments: DeltaSegment[] }> {
  await mkdir(files.work, { recursive: true });
  const patches = options.patches ?? (await freshFolderPatches(join(files.work, 'patches')));
  const plan = planSegments((await stat(files.base)).size, (await stat(files.target)).size, options);
  const patchLengths = await makePatches(files, { plan, patches, options });
  const segments: DeltaSegment[] = plan.map((s, i) => ({
    baseOffset: s.baseOffset,
    baseLength: s.baseLength,
    outputLength: s.outputLength,
    patchLength: patchLengths[i]!,
  }));
  return { ...(await writeDeltaFile(files.out, { segments, patches })), segments };
}

/**
 * Every segment's patch, kept in `patches` (one already kept is not made again). Segments are
 * independent: a few are diffed at once, each kept as it is done (in any order). After a
 * failure no segment starts, and the failure is thrown once those running are done.
 */
async function makePatches(
  files: DeltaFiles,
  build: { plan: SegmentPlan[]; patches: PatchStore; options: BuildOptions },
): Promise<number[]> {
  const { plan, patches, options } = build;
  const during = options.during ?? (<T>(w: Promise<T>) => w);
  const makePatch = async (i: number, s: SegmentPlan): Promise<number> => {
    const file = (name: string) => join(files.work, `${name}-${i}`);
    try {
      await sliceFile(files.base, { offset: s.baseOffset, length: s.baseLength }, file('region'));
      await sliceFile(files.target, { offset: s.outputOffset, length: s.outputLength }, file('segment'));
      await during(diffSegment(file('region'), file('segment'), file('patch')));
      return await patches.keep(i, file('patch'));
    } finally {
      await Promise.all(['region', 'segment', 'patch'].map((name) => rm(file(name), { force: true })));
    }
  };
  const patchLengths: number[] = [];
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    for (let i = next++; i < plan.length && !failure; i = next++) {
      options.onSegment?.(i + 1, plan.length);
      try {
        patchLengths[i] = (await patches.size(i)) ?? (await makePatch(i, plan[i]!));
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  const lanes = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, plan.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failure) throw failure.err;
  return patchLengths;
}

/** The delta file: its header, then each kept patch in order; its length and sha256. */
async function writeDeltaFile(
  outFile: string,
  parts: { segments: DeltaSegment[]; patches: PatchStore },
): Promise<{ length: number; sha256: string }> {
  const out = await open(outFile, 'w');
  const hash = createHash('sha256');
  let length = 0;
  const write = async (chunk: Buffer) => {
    hash.update(chunk);
    await out.write(chunk);
    length += chunk.length;
  };
  try {
    await write(encodeDeltaHeader(parts.segments));
    for (let i = 0; i < parts.segments.length; i++) {
      for await (const chunk of await parts.patches.read(i)) await write(chunk);
    }
  } finally {
    await out.close();
  }
  return { length, sha256: hash.digest('hex') };
}
