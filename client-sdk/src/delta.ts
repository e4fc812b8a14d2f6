import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { constants, createZstdDecompress } from 'node:zlib';
import type { TargetFile } from '@tufjs/models';
import { VerificationError } from './errors';

/**
 * Delta updates (#12). A delta is a signed target of its own that rebuilds one full target
 * from one base image. Its signed custom field `x-enigm-delta` binds it to both: the base's
 * sha256 and length, and the full target's name, sha256 and length. The device uses a delta
 * only when the image it runs has exactly that base hash, and verifies what it rebuilt
 * against the full target before installing it; any failure falls back to the full image.
 *
 * The file (format `zstd-segments/v1`): 8 magic bytes, a 4-byte big-endian header length, a
 * JSON header listing segments, then one zstd frame per segment. Each frame decompresses
 * with one region of the base as its dictionary (zstd's patch-from: the server's `zstd
 * --patch-from` makes it), so a device holds at most one region and one segment in memory,
 * whatever the image size. The header is trusted only after the whole file matched its
 * signed length and hashes.
 */
export const DELTA_FIELD = 'x-enigm-delta';
export const DELTA_FORMAT = 'zstd-segments/v1';
export const DELTA_MAGIC = Buffer.from('ENGMDLT1');
/** Bounds the device's memory: one base region and one output segment at a time. */
export const MAX_DELTA_REGION = 64 * 1024 * 1024;
export const MAX_DELTA_SEGMENT = 64 * 1024 * 1024;
const MAX_HEADER = 1024 * 1024;
/** Frames reference at most region + segment bytes back: 2^28 covers both maxima. */
const WINDOW_LOG_MAX = 28;
/** A region starting with these bytes would be read by zstd as a trained dictionary, not raw content. */
export const ZSTD_DICT_MAGIC = Buffer.from([0x37, 0xa4, 0x30, 0xec]);

export interface DeltaBinding {
  format: typeof DELTA_FORMAT;
  base: { sha256: string; length: number };
  /** The full target this delta rebuilds. */
  target: { name: string; sha256: string; length: number };
}

export interface DeltaSegment {
  baseOffset: number;
  baseLength: number;
  outputLength: number;
  frameLength: number;
}

/** The delta target's name: its full target's name and the base it applies to (one delta per pair). */
export function deltaTargetName(fullTargetName: string, baseSha256: string): string {
  return `${fullTargetName}.from-${baseSha256.slice(0, 16)}.delta`;
}

const SHA256 = /^[0-9a-f]{64}$/;
const isLength = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;

/** The delta binding of a target; undefined for a full image. Malformed is never "no delta". */
export function readDeltaBinding(target: TargetFile): DeltaBinding | undefined {
  const raw = (target.custom as Record<string, unknown> | undefined)?.[DELTA_FIELD];
  if (raw === undefined) return undefined;
  const d = raw as Partial<DeltaBinding> | null;
  const ok =
    typeof d === 'object' &&
    d !== null &&
    d.format === DELTA_FORMAT &&
    typeof d.base?.sha256 === 'string' &&
    SHA256.test(d.base.sha256) &&
    isLength(d.base.length) &&
    typeof d.target?.name === 'string' &&
    typeof d.target.sha256 === 'string' &&
    SHA256.test(d.target.sha256) &&
    isLength(d.target.length);
  if (!ok) throw new VerificationError('METADATA_INVALID', `target ${target.path} has a malformed ${DELTA_FIELD}`);
  return { format: DELTA_FORMAT, base: { sha256: d.base!.sha256, length: d.base!.length }, target: { name: d.target!.name, sha256: d.target!.sha256, length: d.target!.length } };
}

/** Whether a target entry is a delta update (well-formed or not). */
export function isDeltaEntry(target: TargetFile): boolean {
  return (target.custom as Record<string, unknown> | undefined)?.[DELTA_FIELD] !== undefined;
}

/** The full target a delta entry rebuilds; undefined for a release, and for a delta whose binding cannot be read. */
export function rebuiltTargetOf(target: TargetFile): string | undefined {
  try {
    return readDeltaBinding(target)?.target.name;
  } catch {
    return undefined;
  }
}

/** The file's header bytes for these segments (the server writes the frames after it). */
export function encodeDeltaHeader(segments: DeltaSegment[]): Buffer {
  const json = Buffer.from(JSON.stringify({ segments }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([DELTA_MAGIC, length, json]);
}

/** Reads and checks a verified delta file's header against what it binds. */
export async function readDeltaHeader(file: FileHandle, fileLength: number, binding: DeltaBinding): Promise<{ segments: DeltaSegment[]; framesAt: number }> {
  const invalid = (why: string) => new VerificationError('DELTA_INVALID', `delta file: ${why}`);
  const head = Buffer.alloc(12);
  if (fileLength < 12 || (await file.read(head, 0, 12, 0)).bytesRead !== 12 || !head.subarray(0, 8).equals(DELTA_MAGIC)) throw invalid('not a delta');
  const headerLength = head.readUInt32BE(8);
  if (headerLength > MAX_HEADER || 12 + headerLength > fileLength) throw invalid(`header of ${headerLength} bytes`);
  const json = Buffer.alloc(headerLength);
  await file.read(json, 0, headerLength, 12);
  let segments: DeltaSegment[];
  try {
    segments = (JSON.parse(json.toString('utf8')) as { segments: DeltaSegment[] }).segments;
  } catch (err) {
    throw invalid(`header is not JSON (${String(err)})`);
  }
  if (!Array.isArray(segments) || segments.length === 0) throw invalid('no segments');
  let output = 0;
  let frames = 0;
  for (const s of segments) {
    const fits =
      Number.isSafeInteger(s?.baseOffset) && s.baseOffset >= 0 &&
      isLength(s.baseLength) && s.baseLength <= MAX_DELTA_REGION && s.baseOffset + s.baseLength <= binding.base.length &&
      isLength(s.outputLength) && s.outputLength <= MAX_DELTA_SEGMENT &&
      isLength(s.frameLength);
    if (!fits) throw invalid(`segment ${JSON.stringify(s).slice(0, 200)} is out of bounds`);
    output += s.outputLength;
    frames += s.frameLength;
  }
  if (output !== binding.target.length) throw new VerificationError('DELTA_OUTPUT_MISMATCH', `the delta rebuilds ${output} bytes, ${binding.target.name} has ${binding.target.length}`);
  if (12 + headerLength + frames !== fileLength) throw invalid('frames do not fill the file');
  return { segments, framesAt: 12 + headerLength };
}

export interface ApplyFiles {
  /** The image the device runs (the delta's base). */
  base: string;
  /** The delta, already verified against its signed length and hashes. */
  delta: string;
  deltaLength: number;
  /** Where the rebuilt image goes (overwritten). */
  output: string;
}

/**
 * Rebuilds the full target from base + delta, segment by segment, hashing as it writes;
 * the result must match the full target's signed length and sha256 (DELTA_OUTPUT_MISMATCH
 * otherwise). Memory: one base region (the dictionary) and zstd's window at a time.
 */
export async function applyDelta(files: ApplyFiles, binding: DeltaBinding, onProgress?: (written: number, total: number) => void): Promise<void> {
  const delta = await open(files.delta, 'r');
  const base = await open(files.base, 'r');
  const out = await open(files.output, 'w');
  const hash = createHash('sha256');
  let written = 0;
  try {
    const { segments, framesAt } = await readDeltaHeader(delta, files.deltaLength, binding);
    if ((await base.stat()).size !== binding.base.length) throw new VerificationError('DELTA_BASE_MISMATCH', `the running image is not ${binding.base.length} bytes long`);
    let at = framesAt;
    // One region buffer for every segment, and each decoder closed as soon as its frame ends:
    // memory stays one region and one window, however many segments (garbage would wait for a GC).
    const regions = Buffer.allocUnsafeSlow(Math.max(...segments.map((x) => x.baseLength)));
    for (const s of segments) {
      const region = regions.subarray(0, s.baseLength);
      if ((await base.read(region, 0, s.baseLength, s.baseOffset)).bytesRead !== s.baseLength) throw new VerificationError('DELTA_BASE_MISMATCH', 'the running image is shorter than the delta needs');
      if (region.subarray(0, 4).equals(ZSTD_DICT_MAGIC)) throw new VerificationError('DELTA_INVALID', 'a base region starts with the zstd dictionary magic');
      const limit = written + s.outputLength;
      // 1 MiB output chunks: a quarter of the writes and hash calls of the default.
      const decompress = createZstdDecompress({ dictionary: region, chunkSize: 1 << 20, params: { [constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX } });
      try {
        await pipeline(createReadStream(files.delta, { start: at, end: at + s.frameLength - 1, highWaterMark: 1 << 20 }), decompress, async (source: AsyncIterable<Buffer>) => {
          for await (const chunk of source) {
            if (written + chunk.length > limit) throw new VerificationError('DELTA_OUTPUT_MISMATCH', 'a segment rebuilds more bytes than its header says');
            hash.update(chunk);
            await out.write(chunk, 0, chunk.length, written);
            written += chunk.length;
            onProgress?.(written, binding.target.length);
          }
        });
      } catch (err) {
        if (err instanceof VerificationError) throw err;
        throw new VerificationError('DELTA_INVALID', `segment at ${at} does not decompress: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      } finally {
        decompress.close();
      }
      if (written !== limit) throw new VerificationError('DELTA_OUTPUT_MISMATCH', `a segment rebuilt ${written - (limit - s.outputLength)} bytes, its header says ${s.outputLength}`);
      at += s.frameLength;
    }
    await out.sync();
  } finally {
    await Promise.all([delta.close(), base.close(), out.close()]);
  }
  const actual = hash.digest('hex');
  if (written !== binding.target.length || actual !== binding.target.sha256) {
    throw new VerificationError('DELTA_OUTPUT_MISMATCH', `the rebuilt image (${written} bytes, sha256 ${actual}) is not ${binding.target.name}`);
  }
}
