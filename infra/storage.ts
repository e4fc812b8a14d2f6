import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

import * as Minio from 'minio';

import { ServerError } from '../common/errors';
import type { Config, Endpoint } from './config';
import { meteredFile, type Progress } from './fileStream';

/** The project's three buckets, by purpose (their names carry OTA_BUCKET_PREFIX). */
export type Bucket = 'intake' | 'artifacts' | 'metadata';

export interface ObjectInfo {
  size: number;
  etag: string;
}

/**
 * Object storage (MinIO or any S3). Delivery is untrusted: nothing read back from here
 * is believed without a hash or a signature check somewhere else.
 */
export class Storage {
  readonly client: Minio.Client;
  /** Presigning clients by endpoint (storage as devices reach it), made once. */
  private readonly signers = new Map<string, Minio.Client>();

  constructor(private readonly config: Config['minio']) {
    const { endPoint, port, useSSL, accessKey, secretKey } = config;
    this.client = new Minio.Client({ endPoint, port, useSSL, accessKey, secretKey });
  }

  /**
   * A GET URL for one object, valid `seconds`, signed for `endpoint` (storage as devices reach
   * it; the signature covers the host). Computed here, no request to storage: the region is
   * given, not looked up.
   */
  async presignedGet(bucket: Bucket, key: string, url: { seconds: number; endpoint: Endpoint }): Promise<string> {
    const { seconds, endpoint } = url;
    const id = `${endpoint.useSSL ? 'https' : 'http'}://${endpoint.endPoint}:${endpoint.port}`;
    let signer = this.signers.get(id);
    if (!signer) {
      const { accessKey, secretKey, region } = this.config;
      signer = new Minio.Client({ ...endpoint, accessKey, secretKey, region });
      this.signers.set(id, signer);
    }
    return signer.presignedGetObject(this.bucketName(bucket), key, seconds);
  }

  /** The folder names directly under `prefix` (which ends with `/`), without the prefix. */
  async folders(bucket: Bucket, prefix: string): Promise<string[]> {
    const names: string[] = [];
    for await (const item of this.client.listObjectsV2(this.bucketName(bucket), prefix, false) as AsyncIterable<{
      prefix?: string;
    }>) {
      if (item.prefix) names.push(item.prefix.slice(prefix.length).replace(/\/$/, ''));
    }
    return names;
  }

  bucketName(bucket: Bucket): string {
    return `${this.config.bucketPrefix}-${bucket}`;
  }

  async ensureBuckets(): Promise<void> {
    for (const bucket of ['intake', 'artifacts', 'metadata'] as const) {
      const name = this.bucketName(bucket);
      if (!(await this.client.bucketExists(name))) await this.client.makeBucket(name);
    }
  }

  async stat(bucket: Bucket, key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await this.client.statObject(this.bucketName(bucket), key);
      return { size: s.size, etag: s.etag };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Uploads a local file, reporting bytes sent; returns the object's etag. */
  async putFile(
    bucket: Bucket,
    key: string,
    { file, onProgress }: { file: string; onProgress?: Progress },
  ): Promise<ObjectInfo> {
    const { stream, size } = await meteredFile(file, onProgress);
    const info = await this.client.putObject(this.bucketName(bucket), key, stream, size);
    return { size, etag: info.etag };
  }

  /** An upload of known size from a stream (the admin API's artifact intake). */
  async putStream(bucket: Bucket, key: string, { body, size }: { body: Readable; size: number }): Promise<ObjectInfo> {
    const info = await this.client.putObject(this.bucketName(bucket), key, body, size);
    return { size, etag: info.etag };
  }

  /** A small JSON object (metadata, staged files, build records), whole. */
  async putBytes(bucket: Bucket, key: string, bytes: Buffer): Promise<void> {
    await this.client.putObject(this.bucketName(bucket), key, bytes, bytes.length, {
      'Content-Type': 'application/json',
    });
  }

  /** Compare-and-swap for metadata versions: false when the key already exists. */
  async putBytesIfAbsent(bucket: Bucket, key: string, bytes: Buffer): Promise<boolean> {
    try {
      await this.client.putObject(this.bucketName(bucket), key, bytes, bytes.length, {
        'Content-Type': 'application/json',
        'If-None-Match': '*',
      });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'PreconditionFailed') return false;
      throw err;
    }
  }

  /** Replaces an object only if it is still the version read (etag); false otherwise. */
  async putBytesIfMatch(
    bucket: Bucket,
    key: string,
    { bytes, etag }: { bytes: Buffer; etag: string },
  ): Promise<boolean> {
    try {
      await this.client.putObject(this.bucketName(bucket), key, bytes, bytes.length, {
        'Content-Type': 'application/json',
        'If-Match': `"${etag.replace(/"/g, '')}"`,
      });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'PreconditionFailed') return false;
      throw err;
    }
  }

  /** Reads a small object whole; refuses anything larger than maxBytes. */
  async getBytes(bucket: Bucket, key: string, maxBytes: number): Promise<Buffer | undefined> {
    return (await this.getVersioned(bucket, key, maxBytes))?.bytes;
  }

  /** Bytes and the etag of exactly those bytes (from the same response). */
  async getVersioned(
    bucket: Bucket,
    key: string,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; etag: string } | undefined> {
    let stream: Readable;
    try {
      stream = await this.client.getObject(this.bucketName(bucket), key);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        stream.destroy();
        throw new ServerError('PAYLOAD_TOO_LARGE', `${bucket}/${key} exceeds ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    const etag = String((stream as Readable & { headers?: Record<string, string> }).headers?.['etag'] ?? '').replace(
      /"/g,
      '',
    );
    if (!etag) throw new ServerError('UNAVAILABLE', `storage gave no etag for ${bucket}/${key}`);
    return { bytes: Buffer.concat(chunks), etag };
  }

  async getStream(bucket: Bucket, key: string, range?: { start: number; end: number }): Promise<Readable> {
    const name = this.bucketName(bucket);
    if (!range) return this.client.getObject(name, key);
    return this.client.getPartialObject(name, key, range.start, range.end - range.start + 1);
  }

  /** Streams an object through sha256 (constant memory); onBytes lets callers heartbeat. */
  async hash(
    bucket: Bucket,
    key: string,
    onBytes?: (read: number) => void,
  ): Promise<{ sha256: string; length: number }> {
    const stream = await this.getStream(bucket, key);
    const hash = createHash('sha256');
    let length = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      length += chunk.length;
      onBytes?.(length);
    }
    return { sha256: hash.digest('hex'), length };
  }

  /** Server-side copy that fails if the source changed since it was hashed (etag match). */
  async copyIfUnchanged(
    from: { bucket: Bucket; key: string; etag: string },
    to: { bucket: Bucket; key: string },
  ): Promise<void> {
    await this.client.copyObject(
      new Minio.CopySourceOptions({ Bucket: this.bucketName(from.bucket), Object: from.key, MatchETag: from.etag }),
      new Minio.CopyDestinationOptions({ Bucket: this.bucketName(to.bucket), Object: to.key }),
    );
  }

  async remove(bucket: Bucket, key: string): Promise<void> {
    await this.client.removeObject(this.bucketName(bucket), key);
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket';
}

/** Content addressing: one object per distinct artifact, whatever release names it. */
export function artifactKey(sha256: string): string {
  return `sha256/${sha256}`;
}
