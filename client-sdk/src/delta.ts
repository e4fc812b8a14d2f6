import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

import type { TargetFile } from '@tufjs/models';

import { type BlockFrame, BlockStream, invalidPatch } from './deltaBlocks';
import { VerificationError } from './errors';
import { freeNow } from './freeNow';

/**
 * Delta updates (D-17). A delta is a signed target of its own that rebuilds one full target
 * from one base image. Its signed custom field `x-enigm-delta` binds it to both: the base's
 * sha256 and length, and the full target's name, sha256 and length. The device uses a delta
 * only when the image it runs has exactly that base hash, and verifies what it rebuilt
 * against the full target before installing it; any failure falls back to the full image.
 *
 * The file (format `bsdiff-segments/v1`): 8 magic bytes, a 4-byte big-endian header length, a
 * JSON header listing segments, then one patch per segment. Each patch rebuilds one segment of
 * the target from one region of the base; the device reads the region through a small window,
 * decodes the patch's blocks as it goes and writes the segment through a small buffer, so none
 * of them is held whole, whatever the image size. A patch is a bsdiff 4.x patch (the server's qbsdiff
 * makes it) with its three blocks recompressed from bzip2 to zstd: 12 bytes (the three frames'
 * lengths, big-endian), then the control, diff and extra blocks as zstd frames. zstd decodes
 * at memory speed where bzip2 would be most of the device's time, and is smaller here. The
 * header is trusted only after the whole file matched its signed length and hashes; every
 * control triple is bounds-checked before a byte moves.
 */
export const DELTA_FIELD = 'x-enigm-delta';
export const DELTA_FORMAT = 'bsdiff-segments/v1';
const DELTA_MAGIC = Buffer.from('ENGMDLT2');
/** Bound a segment's work: its control triples are held while it is rebuilt, and bsdiff's seeks span its region. */
export const MAX_DELTA_REGION = 64 * 1024 * 1024;
export const MAX_DELTA_SEGMENT = 64 * 1024 * 1024;
/**
 * A patch holds at most a segment's diff and extra bytes and its control triples; zstd expands a
 * block by a fraction at most.
 */
export const MAX_PATCH = 2 * MAX_DELTA_SEGMENT;
const MAX_HEADER = 1024 * 1024;
/** A patch's own header: the control, diff and extra frames' lengths. */
export const PATCH_HEADER = 12;
/** Control triples are 24 bytes; a segment needs few (one per match): this bounds their memory. */
const MAX_CONTROL = 16 * 1024 * 1024;
/**
 * A frame's window is most of its decoder's memory, and the device runs two at once (diff and
 * extra): the server uses 2^20 (infra/bsdiffSegments.ts), 2^23 is the most accepted, so deltas
 * made with the earlier 2^22 still apply.
 */
const WINDOW_LOG_MAX = 23;
/**
 * zlib is loaded when a delta is first applied, not with the SDK: an agent at rest between
 * polls never needs it (0.3-0.4 MiB less resident at rest, with child_process loaded late too).
 */
const zlib = () => process.getBuiltinModule('node:zlib');

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
  /** The patch's length in the file (its header and three frames). */
  patchLength: number;
}

/** The delta target's name: its full target's name and the base it applies to (one delta per pair). */
export function deltaTargetName(fullTargetName: string, baseSha256: string): string {
  return `${fullTargetName}.from-${baseSha256.slice(0, 16)}.delta`;
}

const SHA256 = /^[0-9a-f]{64}$/;
const isLength = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;

/** The delta binding of a target; undefined for a full image. Malformed is never "no delta". */
export function readDeltaBinding(target: TargetFile): DeltaBinding | undefined {
  const d = target.custom[DELTA_FIELD] as Partial<DeltaBinding> | null | undefined;
  if (d === undefined) return undefined;
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
  return {
    format: DELTA_FORMAT,
    base: { sha256: d.base!.sha256, length: d.base!.length },
    target: { name: d.target!.name, sha256: d.target!.sha256, length: d.target!.length },
  };
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

/** The file's header bytes for these segments (the server writes the patches after it). */
export function encodeDeltaHeader(segments: DeltaSegment[]): Buffer {
  const json = Buffer.from(JSON.stringify({ segments }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([DELTA_MAGIC, length, json]);
}

/** Reads and checks a verified delta file's header against what it binds. */
async function readDeltaHeader(
  file: FileHandle,
  fileLength: number,
  binding: DeltaBinding,
): Promise<{ segments: DeltaSegment[]; patchesAt: number }> {
  const invalid = (why: string) => new VerificationError('DELTA_INVALID', `delta file: ${why}`);
  const head = Buffer.alloc(12);
  if (fileLength < 12 || (await file.read(head, 0, 12, 0)).bytesRead !== 12 || !head.subarray(0, 8).equals(DELTA_MAGIC))
    throw invalid('not a delta');
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
  let patches = 0;
  for (const s of segments) {
    const fits =
      Number.isSafeInteger(s?.baseOffset) &&
      s.baseOffset >= 0 &&
      isLength(s.baseLength) &&
      s.baseLength <= MAX_DELTA_REGION &&
      s.baseOffset + s.baseLength <= binding.base.length &&
      isLength(s.outputLength) &&
      s.outputLength <= MAX_DELTA_SEGMENT &&
      Number.isSafeInteger(s.patchLength) &&
      s.patchLength > PATCH_HEADER &&
      s.patchLength <= MAX_PATCH;
    if (!fits) throw invalid(`segment ${JSON.stringify(s).slice(0, 200)} is out of bounds`);
    output += s.outputLength;
    patches += s.patchLength;
  }
  if (output !== binding.target.length)
    throw new VerificationError(
      'DELTA_OUTPUT_MISMATCH',
      `the delta rebuilds ${output} bytes, ${binding.target.name} has ${binding.target.length}`,
    );
  if (12 + headerLength + patches !== fileLength) throw invalid('patches do not fill the file');
  return { segments, patchesAt: 12 + headerLength };
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
 * The output leaves through a buffer of this size, and the base is read through a window as
 * large (a diff run is added in pieces no larger), at least BASE_READ bytes at a time: neither
 * a base region nor an output segment is ever held whole.
 */
const OUTPUT_BUFFER = 1024 * 1024;
const BASE_WINDOW = OUTPUT_BUFFER;
const BASE_READ = 256 * 1024;

/**
 * Rebuilds the full target from base + delta, segment by segment, hashing as it writes;
 * the result must match the full target's signed length and sha256 (DELTA_OUTPUT_MISMATCH
 * otherwise). Memory: a window on the base and one output buffer, allocated once, two zstd
 * decoders (the diff and the extra blocks, each its window and about 1 MiB decoded ahead) and
 * the current patch's control triples, whatever the image size.
 */
export async function applyDelta(
  files: ApplyFiles,
  binding: DeltaBinding,
  onProgress?: (written: number, total: number) => void,
): Promise<void> {
  const delta = await open(files.delta, 'r');
  const base = await open(files.base, 'r');
  const out = await open(files.output, 'w');
  const sink = new OutputSink(out);
  try {
    const { segments, patchesAt } = await readDeltaHeader(delta, files.deltaLength, binding);
    if ((await base.stat()).size !== binding.base.length)
      throw new VerificationError('DELTA_BASE_MISMATCH', `the running image is not ${binding.base.length} bytes long`);
    const window = new BaseWindow(base, Buffer.allocUnsafeSlow(BASE_WINDOW));
    const blocks = { diff: new BlockStream('diff', WINDOW_LOG_MAX), extra: new BlockStream('extra', WINDOW_LOG_MAX) };
    try {
      let at = patchesAt;
      for (const s of segments) {
        window.region(s.baseOffset, s.baseLength);
        await patchSegment({ file: delta, at, length: s.patchLength }, { window, sink, blocks }, s);
        onProgress?.(sink.written + sink.filled, binding.target.length);
        at += s.patchLength;
      }
    } finally {
      await Promise.all([blocks.diff.close(), blocks.extra.close()]);
    }
    await sink.flush();
    // Not synced, as a download is not: a rebuilt file cut short by a power cut is re-hashed before use.
  } finally {
    await Promise.all([delta.close(), base.close(), out.close()]);
  }
  const actual = sink.hash.digest('hex');
  if (sink.written !== binding.target.length || actual !== binding.target.sha256) {
    throw new VerificationError(
      'DELTA_OUTPUT_MISMATCH',
      `the rebuilt image (${sink.written} bytes, sha256 ${actual}) is not ${binding.target.name}`,
    );
  }
}

/** The rebuilt image on its way to the file: one buffer, hashed and written whenever it fills. */
class OutputSink {
  readonly hash = createHash('sha256');
  readonly buffer = Buffer.allocUnsafeSlow(OUTPUT_BUFFER);
  filled = 0;
  written = 0;

  constructor(private readonly file: FileHandle) {}

  /** Room left in the buffer; flushed first when it is full. */
  async room(): Promise<number> {
    if (this.filled === this.buffer.length) await this.flush();
    return this.buffer.length - this.filled;
  }

  async flush(): Promise<void> {
    const bytes = this.buffer.subarray(0, this.filled);
    this.hash.update(bytes);
    let done = 0;
    while (done < bytes.length)
      done += (await this.file.write(bytes, done, bytes.length - done, this.written + done)).bytesWritten;
    this.written += bytes.length;
    this.filled = 0;
  }
}

/**
 * One segment's base region, read through a window: bsdiff's old position mostly moves forward,
 * so the window is reloaded about once per window's length (and where a seek jumps back).
 */
class BaseWindow {
  private offset = 0;
  private length = 0;
  /** Region-relative span the buffer holds. */
  private start = 0;
  private end = 0;

  constructor(
    private readonly file: FileHandle,
    readonly bytes: Buffer,
  ) {}

  region(offset: number, length: number): void {
    [this.offset, this.length, this.start, this.end] = [offset, length, 0, 0];
  }

  get regionLength(): number {
    return this.length;
  }

  /** Where region bytes [at, at + length) are in `bytes` (length <= the window), read in if need be. */
  at(at: number, length: number): number {
    if (at >= this.start && at + length <= this.end) return at - this.start;
    // Read on this thread: bsdiff's seeks make thousands of short reads per segment, and each
    // trip through libuv's pool waits for a scheduler slot on a busy device.
    const want = Math.min(this.bytes.length, Math.max(length, BASE_READ), this.length - at);
    const bytesRead = readSync(this.file.fd, this.bytes, 0, want, this.offset + at);
    if (bytesRead !== want)
      throw new VerificationError('DELTA_BASE_MISMATCH', 'the running image is shorter than the delta needs');
    [this.start, this.end] = [at, at + want];
    return 0;
  }
}

/** No control value of a bounded region and segment is larger. */
const MAX_CONTROL_VALUE = MAX_DELTA_REGION + MAX_DELTA_SEGMENT;

/** A bsdiff number: 8 bytes little-endian, the sign in the top bit (read as two words: no BigInt per value). */
function offtin(b: Buffer, at: number): number {
  const high = b.readUInt32LE(at + 4);
  // Any high bit puts the magnitude past 2^32, far beyond the bound, so its rounding is harmless.
  const magnitude = (high & 0x7fffffff) * 0x100000000 + b.readUInt32LE(at);
  if (magnitude > MAX_CONTROL_VALUE) throw invalidPatch('a control value is out of bounds');
  return high & 0x80000000 ? -magnitude : magnitude;
}

/** One segment's patch: the delta file, and where the patch is in it. */
interface PatchInFile {
  file: FileHandle;
  at: number;
  length: number;
}

/**
 * What a patch rebuilds its segment from and into: the base window on the segment's region, the
 * output, and the streams its diff and extra blocks decode through (the same for the whole delta).
 */
interface SegmentIo {
  window: BaseWindow;
  sink: OutputSink;
  blocks: { diff: BlockStream; extra: BlockStream };
}

/**
 * A compressed control block larger than this cannot decode within MAX_CONTROL (zstd adds a few
 * bytes per 128 KiB block to data it cannot shrink); it is refused before it is read.
 */
const MAX_CONTROL_FRAME = MAX_CONTROL + MAX_CONTROL / 128 + 1024;

/**
 * A patch's control block, decoded and checked (every triple within the segment, the segment
 * rebuilt whole), and where its diff and extra frames are, with the lengths the triples give them.
 */
async function readPatch(
  patch: PatchInFile,
  outputLength: number,
): Promise<{ control: Buffer; diff: BlockFrame; extra: BlockFrame }> {
  const head = Buffer.alloc(PATCH_HEADER);
  if ((await patch.file.read(head, 0, PATCH_HEADER, patch.at)).bytesRead !== PATCH_HEADER)
    throw invalidPatch('the file ends inside a patch');
  const lengths = [head.readUInt32BE(0), head.readUInt32BE(4), head.readUInt32BE(8)] as const;
  if (PATCH_HEADER + lengths[0] + lengths[1] + lengths[2] !== patch.length)
    throw invalidPatch('its frames do not fill it');
  if (lengths[0] > MAX_CONTROL_FRAME) throw invalidPatch(`the control block is over ${MAX_CONTROL} bytes`);
  const frame = Buffer.allocUnsafeSlow(lengths[0]);
  if ((await patch.file.read(frame, 0, lengths[0], patch.at + PATCH_HEADER)).bytesRead !== lengths[0])
    throw invalidPatch('the file ends inside a patch');
  const control = decoded(frame, { name: 'control', limit: MAX_CONTROL });
  freeNow(frame);
  if (control.length % 24 !== 0) throw invalidPatch('the control block is not whole triples');
  let newPos = 0;
  let diffLength = 0;
  for (let t = 0; t < control.length; t += 24) {
    const [x, y] = [offtin(control, t), offtin(control, t + 8)];
    offtin(control, t + 16); // the seek is bounded too
    if (x < 0 || y < 0 || newPos + x + y > outputLength)
      throw invalidPatch('a control triple writes outside the segment');
    newPos += x + y;
    diffLength += x;
  }
  if (newPos !== outputLength)
    throw new VerificationError(
      'DELTA_OUTPUT_MISMATCH',
      `a patch rebuilds ${newPos} bytes, its segment has ${outputLength}`,
    );
  const diffAt = patch.at + PATCH_HEADER + lengths[0];
  return {
    control,
    diff: { file: patch.file, at: diffAt, length: lengths[1], decodesTo: diffLength },
    extra: { file: patch.file, at: diffAt + lengths[1], length: lengths[2], decodesTo: outputLength - diffLength },
  };
}

/**
 * bspatch's rule, on one segment: each control triple (x, y, z) takes x bytes of the diff block
 * added to the old bytes at the old position, then y bytes of the extra block, then moves the
 * old position by z. Every triple is checked before a byte moves; the blocks must decode to
 * exactly as many bytes as the triples say. Bytes go out through the sink's buffer, and the
 * blocks come in through their streams: neither a segment nor a block is held whole.
 */
async function patchSegment(patch: PatchInFile, io: SegmentIo, segment: DeltaSegment): Promise<void> {
  const { control, diff, extra } = await readPatch(patch, segment.outputLength);
  const { window, sink, blocks } = io;
  blocks.diff.begin(diff);
  blocks.extra.begin(extra);
  let oldPos = 0;
  for (let t = 0; t < control.length; t += 24) {
    const [x, y, z] = [offtin(control, t), offtin(control, t + 8), offtin(control, t + 16)];
    for (let done = 0; done < x;) {
      const bytes = await blocks.diff.take(Math.min(x - done, await sink.room()));
      const n = bytes.length;
      bytes.copy(sink.buffer, sink.filled);
      // bspatch adds old bytes only where the old position is inside the region.
      const at = oldPos + done;
      const from = Math.max(0, -at);
      const to = Math.min(n, window.regionLength - at);
      if (to > from) {
        const oldAt = window.at(at + from, to - from);
        addBytes(sink.buffer, window.bytes, { outAt: sink.filled + from, oldAt, length: to - from });
      }
      [sink.filled, done] = [sink.filled + n, done + n];
    }
    for (let done = 0; done < y;) {
      const bytes = await blocks.extra.take(Math.min(y - done, await sink.room()));
      bytes.copy(sink.buffer, sink.filled);
      [sink.filled, done] = [sink.filled + bytes.length, done + bytes.length];
    }
    oldPos += x + z;
  }
  await Promise.all([blocks.diff.finish(), blocks.extra.finish()]);
  // zlib decoded the triples into a buffer of its own, DECODE_CHUNK long or more.
  freeNow(control, DECODE_CHUNK);
}

/** zlib's output buffer for the control block (its length is not known before it is decoded). */
const DECODE_CHUNK = 1 << 20;

/** A block of a patch (named in refusals) and the most bytes it may decode to. */
interface BlockLimit {
  name: 'control';
  limit: number;
}

/**
 * The control frame's bytes, at most the limit of them (DELTA_INVALID beyond, or if it does not
 * decompress), as one buffer. Decoded here on the JavaScript thread: a few hundred KiB at most
 * for a real patch, and every triple is checked before the blocks start.
 */
function decoded(frame: Buffer, block: BlockLimit): Buffer {
  if (frame.length === 0) throw invalidPatch('an empty frame');
  const { name, limit } = block;
  const { constants, zstdDecompressSync } = zlib();
  try {
    return zstdDecompressSync(frame, {
      chunkSize: DECODE_CHUNK,
      maxOutputLength: Math.max(1, limit),
      params: { [constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX },
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw invalidPatch(`the ${name} block is over ${limit} bytes`);
    throw invalidPatch(`a frame does not decompress: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const STAGE = 64 * 1024;
const stage = new Uint32Array(STAGE / 4);
const stageBytes = Buffer.from(stage.buffer);

/**
 * out[outAt + i] += old[oldAt + i] (mod 256) for i < length: four bytes per step on 32-bit
 * words (bytewise add without carries between bytes), the old bytes staged aligned with the
 * output's words. It is most of a delta's CPU after zstd; bytewise it was three times slower.
 * Offsets, not subarrays: a patch has many short runs, and a Buffer view per run measured
 * about 4% slower over a whole apply.
 */
function addBytes(out: Buffer, old: Buffer, run: { outAt: number; oldAt: number; length: number }): void {
  const { outAt, oldAt, length } = run;
  let i = 0;
  const bytewise = (until: number) => {
    for (; i < until; i++) out[outAt + i] = out[outAt + i]! + old[oldAt + i]!;
  };
  bytewise(Math.min(length, (4 - ((out.byteOffset + outAt) & 3)) & 3));
  // A run that ends before the next 4-byte boundary has no whole word (and no aligned view).
  const wordCount = (length - i) >> 2;
  if (wordCount > 0) {
    const words = new Uint32Array(out.buffer, out.byteOffset + outAt + i, wordCount);
    for (let w = 0; w < wordCount;) {
      const n = Math.min(wordCount - w, STAGE / 4);
      old.copy(stageBytes, 0, oldAt + i + 4 * w, oldAt + i + 4 * (w + n));
      for (let k = 0; k < n; k++) {
        const a = words[w + k]!;
        const b = stage[k]!;
        words[w + k] = ((a & 0x7f7f7f7f) + (b & 0x7f7f7f7f)) ^ ((a ^ b) & 0x80808080);
      }
      w += n;
    }
    i += 4 * wordCount;
  }
  bytewise(length);
}
