import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TransportError, VerificationError } from './errors';

export interface ExpectedArtifact {
  url: string;
  length: number;
  sha256: string;
}

export interface DownloadProgress {
  (receivedBytes: number, totalBytes: number): void;
}

/**
 * Streams an artifact to `file`, hashing as the bytes pass (one pass, constant memory).
 * The length from verified metadata caps the stream, so endless data stops at once (D-7);
 * the file is deleted unless both length and sha256 match (D-8).
 */
export async function downloadVerified(
  expected: ExpectedArtifact,
  file: string,
  options: { timeoutMs: number; onProgress?: DownloadProgress } = { timeoutMs: 60_000 },
): Promise<void> {
  // The timeout is for silence, not for the whole transfer: large artifacts take long.
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), options.timeoutMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), options.timeoutMs);
  };
  let response: Response;
  try {
    response = await fetch(expected.url, { signal: idle.signal });
  } catch (err) {
    clearTimeout(timer);
    throw new TransportError('DOWNLOAD_FAILED', `cannot fetch ${expected.url}`, { cause: err });
  }
  if (!response.ok || !response.body) {
    clearTimeout(timer);
    await response.body?.cancel();
    throw new TransportError('DOWNLOAD_FAILED', `artifact download answered HTTP ${response.status}`);
  }
  const hash = createHash('sha256');
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      touch();
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
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), meter, createWriteStream(file));
    if (received !== expected.length) {
      throw new VerificationError('TARGET_LENGTH_MISMATCH', `artifact has ${received} bytes, signed length is ${expected.length}`);
    }
    clearTimeout(timer);
    const actual = hash.digest('hex');
    if (actual !== expected.sha256) {
      throw new VerificationError('TARGET_HASH_MISMATCH', `artifact sha256 ${actual} differs from the signed ${expected.sha256}`);
    }
  } catch (err) {
    clearTimeout(timer);
    await rm(file, { force: true });
    if (err instanceof VerificationError) throw err;
    throw new TransportError('DOWNLOAD_FAILED', `artifact download broke off after ${received} bytes`, { cause: err });
  }
}
