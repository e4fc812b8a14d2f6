import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { TransportError, VerificationError } from './errors';
import { fileSink } from './fileSink';
import { type ArtifactAnswer, type ArtifactGet, createArtifactGet } from './transport';

export interface ExpectedArtifact {
  url: string;
  length: number;
  sha256: string;
}

interface DownloadProgress {
  (receivedBytes: number, totalBytes: number): void;
}

export interface DownloadOptions {
  /** Longest silence before the transfer is given up (not a limit on the whole transfer). */
  timeoutMs: number;
  onProgress?: DownloadProgress;
  /** The device's artifact transport (mutual TLS, `createArtifactGet`); plain HTTPS when absent. */
  get?: ArtifactGet;
}

/**
 * Downloads an artifact into `file`, resuming a partial file left by an interrupted
 * attempt with an HTTP Range request. Bytes are hashed as they pass (the kept part is
 * re-read once), memory stays flat, and the signed length caps the stream so endless
 * data stops at once (D-7). The whole file must match length and sha256 (D-8): on a
 * mismatch the partial file is deleted; on a transport failure it is kept for next time.
 */
export async function downloadVerified(
  expected: ExpectedArtifact,
  file: string,
  options: DownloadOptions = { timeoutMs: 60_000 },
): Promise<void> {
  let kept = await partialSize(file);
  if (kept > expected.length) {
    await rm(file, { force: true });
    kept = 0;
  }
  let hash = createHash('sha256');
  if (kept > 0) await hashFile(file, hash);
  let received = kept;
  if (received < expected.length) {
    const started = await request(expected.url, received, options);
    if (!started.resumed && received > 0) {
      // The server sent the whole artifact: start over.
      hash = createHash('sha256');
      received = 0;
    }
    received = await receive(started, { expected, file, received, hash }, options);
  }
  if (received !== expected.length) {
    await rm(file, { force: true });
    throw new VerificationError(
      'TARGET_LENGTH_MISMATCH',
      `artifact has ${received} bytes, signed length is ${expected.length}`,
    );
  }
  const actual = hash.digest('hex');
  if (actual !== expected.sha256) {
    await rm(file, { force: true });
    throw new VerificationError(
      'TARGET_HASH_MISMATCH',
      `artifact sha256 ${actual} differs from the signed ${expected.sha256}`,
    );
  }
}

/**
 * `downloadVerified` into the device's downloads folder, under a stable name per artifact
 * so an interrupted download resumes; returns the verified file. A partial of any other
 * artifact is left from an offer that moved on and would only fill the disk.
 */
export async function downloadIntoFolder(
  folder: string,
  expected: ExpectedArtifact,
  options: DownloadOptions,
): Promise<string> {
  const file = await partialFileIn(folder, expected.sha256);
  const resuming = (await partialSize(file)) > 0;
  try {
    await downloadVerified(expected, file, options);
  } catch (err) {
    // A part kept across a power cut can end in garbage (it is not synced as it grows) and
    // then fails the hash like tampering; the failed file is gone, one fresh download tells.
    if (!(resuming && err instanceof VerificationError && err.code === 'TARGET_HASH_MISMATCH')) throw err;
    await downloadVerified(expected, file, options);
  }
  return file;
}

/** Where the artifact with this sha256 is kept while it arrives; other artifacts' parts are dropped. */
export async function partialFileIn(folder: string, sha256: string): Promise<string> {
  await mkdir(folder, { recursive: true });
  const name = `${sha256}.partial`;
  for (const old of await readdir(folder)) {
    if (old !== name) await rm(join(folder, old), { recursive: true, force: true });
  }
  return join(folder, name);
}

const plainGet = createArtifactGet();

interface Started {
  response: ArtifactAnswer;
  resumed: boolean;
  idle: { touch(): void; stop(): void };
}

async function request(url: string, from: number, { timeoutMs, get = plainGet }: DownloadOptions): Promise<Started> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), timeoutMs);
  const idle = {
    touch() {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), timeoutMs);
    },
    stop() {
      clearTimeout(timer);
    },
  };
  let response: ArtifactAnswer;
  try {
    response = await get(url, {
      signal: controller.signal,
      headers: from > 0 ? { range: `bytes=${from}-` } : {},
    });
  } catch (err) {
    idle.stop();
    throw new TransportError('DOWNLOAD_FAILED', `cannot fetch ${url}`, { cause: err });
  }
  const resumed = from > 0 && response.status === 206;
  if (!(response.status === 200 || resumed)) {
    idle.stop();
    // The refusal's body is not wanted; destroying it aborts the request, which undici reports
    // as an error on the stream: nobody else listens, so it must not become an uncaught one.
    response.body.on('error', () => undefined);
    response.body.destroy();
    throw new TransportError('DOWNLOAD_FAILED', `artifact download answered HTTP ${response.status}`);
  }
  return { response, resumed, idle };
}

/**
 * A download under way: the artifact expected, the file it goes into, the bytes that file
 * holds so far (kept from an earlier attempt, or none) and their running hash.
 */
interface PartialDownload {
  expected: ExpectedArtifact;
  file: string;
  received: number;
  hash: Hash;
}

/**
 * The answer's bytes onto the file (appended to a resumed one), within the signed length; the bytes
 * the file then holds.
 */
async function receive(started: Started, partial: PartialDownload, options: DownloadOptions): Promise<number> {
  const { response, resumed: append, idle } = started;
  const { expected, file, hash } = partial;
  let received = partial.received;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      idle.touch();
      if (received > expected.length) {
        done(new VerificationError('TARGET_LENGTH_MISMATCH', `artifact exceeds its signed length ${expected.length}`));
        return;
      }
      hash.update(chunk);
      options.onProgress?.(received, expected.length);
      done(null, chunk);
    },
  });
  try {
    // One pass: each chunk is counted, hashed and handed to the file as it arrives, no copy;
    // the sink gathers up to 1 MiB of chunks into one write and frees them once written.
    await pipeline(response.body, meter, fileSink(file, { append, highWaterMark: 1 << 20 }));
  } catch (err) {
    if (err instanceof VerificationError) {
      await rm(file, { force: true });
      throw err;
    }
    // Keep what arrived: the next attempt resumes from there.
    throw new TransportError('DOWNLOAD_FAILED', `artifact download broke off after ${received} bytes`, { cause: err });
  } finally {
    idle.stop();
  }
  return received;
}

/** The size of a file kept so far; 0 when there is none. */
export async function partialSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk);
}
