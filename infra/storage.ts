import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

import * as Minio from 'minio';

import { ServerError } from '../common/errors';
import type { Config, Endpoint } from './config';
import { meteredFile, type Progress } from './fileStream';
import { traceMethods } from './tracing';

/** The project's three buckets, by purpose (their names carry OTA_BUCKET_PREFIX). */
export type Bucket = 'intake' | 'artifacts' | 'metadata';

export interface ObjectInfo {
  size: number;
  etag: string;
}

/** An object and the sha256 storage computed over its bytes as they arrived, when it kept one (hex). */
export interface CheckedObject extends ObjectInfo {
  sha256?: string;
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
    traceMethods(this, STORAGE_CALLS, {
      prefix: 'storage',
      attributes: ([bucket, key]) => ({
        ...(typeof bucket === 'string' && { 'ota.storage.bucket': bucket }),
        ...(typeof key === 'string' && { 'ota.storage.key': key }),
      }),
    });
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

  /**
   * One PUT whose sha256 storage checks as the bytes arrive (`x-amz-checksum-sha256`) and
   * keeps with the object; bytes that do not match are refused (`INTAKE_MISMATCH`) and nothing
   * is stored. Never replaces an object (`If-None-Match: *`): 'exists' when the key is taken.
   * One request, so at most 5 GiB (S3's single-PUT bound). The request goes to a presigned URL
   * with the payload unsigned, as `curl -T` would: storage hashes the bytes once, for the
   * checksum. Whoever could drop or change the checksum header on the way gains nothing: the
   * reader compares storage's checksum with the digest it expects (the key's) and reads the
   * bytes where there is none.
   */
  async putChecked(
    bucket: Bucket,
    key: string,
    { body, size, sha256 }: { body: Readable; size: number; sha256: string },
  ): Promise<'stored' | 'exists'> {
    const url = new URL(await this.client.presignedPutObject(this.bucketName(bucket), key, PUT_URL_SECONDS));
    const headers = {
      'Content-Length': String(size),
      'x-amz-checksum-sha256': Buffer.from(sha256, 'hex').toString('base64'),
      'If-None-Match': '*',
      Expect: '100-continue',
    };
    const { status, text } = await sendBody(url, { headers, body });
    if (status === 200) return 'stored';
    const code = /<Code>([A-Za-z0-9]+)<\/Code>/.exec(text)?.[1] ?? `HTTP ${status}`;
    if (code === 'PreconditionFailed') return 'exists';
    if (code === 'XAmzContentChecksumMismatch' || code === 'BadDigest') {
      throw new ServerError('INTAKE_MISMATCH', `the bytes sent to ${bucket}/${key} do not have sha256 ${sha256}`);
    }
    throw new ServerError('UNAVAILABLE', `storage refused the upload to ${bucket}/${key}: ${code}`);
  }

  /** A local file through putChecked, reporting bytes sent. */
  async putFileChecked(
    bucket: Bucket,
    key: string,
    { file, sha256, onProgress }: { file: string; sha256: string; onProgress?: Progress },
  ): Promise<'stored' | 'exists'> {
    const { stream, size } = await meteredFile(file, onProgress);
    try {
      return await this.putChecked(bucket, key, { body: stream, size, sha256 });
    } finally {
      stream.destroy();
    }
  }

  /** Size, etag and the sha256 storage kept for an object (a full-object checksum only). */
  async statChecked(bucket: Bucket, key: string): Promise<CheckedObject | undefined> {
    let res;
    try {
      res = await this.client.makeRequestAsync({
        method: 'HEAD',
        bucketName: this.bucketName(bucket),
        objectName: key,
        headers: { 'x-amz-checksum-mode': 'ENABLED' },
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    res.resume();
    const header = (name: string) => String(res.headers[name] ?? '');
    const size = Number(header('content-length'));
    const etag = header('etag').replace(/"/g, '');
    if (!Number.isSafeInteger(size) || !etag)
      throw new ServerError('UNAVAILABLE', `storage gave no size for ${bucket}/${key}`);
    // A multipart object's checksum is of its parts' checksums ("...-N", COMPOSITE): not the bytes' sha256.
    const type = header('x-amz-checksum-type');
    const checksum = header('x-amz-checksum-sha256');
    const whole = /^[A-Za-z0-9+/]{43}=$/.test(checksum) && (type === '' || type === 'FULL_OBJECT');
    return { size, etag, ...(whole ? { sha256: Buffer.from(checksum, 'base64').toString('hex') } : {}) };
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

/** The calls that reach storage, each a span when tracing is on (presigning is local arithmetic). */
const STORAGE_CALLS = [
  'folders',
  'ensureBuckets',
  'stat',
  'putFile',
  'putStream',
  'putChecked',
  'putFileChecked',
  'statChecked',
  'putBytes',
  'putBytesIfAbsent',
  'putBytesIfMatch',
  'getVersioned',
  'getStream',
  'hash',
  'copyIfUnchanged',
  'remove',
] as const;

/** How long the URL of an upload this process is about to send is valid (checked when the request starts). */
const PUT_URL_SECONDS = 600;

/** A PUT of a stream; the status and (at most 64 KiB of) the answer's body. */
function sendBody(
  url: URL,
  { headers, body }: { headers: Record<string, string>; body: Readable },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'PUT', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < 65_536) text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    body.on('error', (err) => req.destroy(err));
    // The body only once storage said it takes it: a key already taken is answered at once.
    req.on('continue', () => body.pipe(req));
  });
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket';
}

/** Content addressing: one object per distinct artifact, whatever release names it. */
export function artifactKey(sha256: string): string {
  return `sha256/${sha256}`;
}

/** The digest an artifact key names (`sha256/<64 hex>`), or undefined for any other key. */
export function digestOfArtifactKey(key: string): string | undefined {
  return /^sha256\/([0-9a-f]{64})$/.exec(key)?.[1];
}
