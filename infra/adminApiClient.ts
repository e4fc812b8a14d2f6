import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';

import { Agent, fetch } from 'undici';

import { isServerErrorCode, ServerError } from '../common/errors';
import type { Config } from './config';
import { meteredFile, type Progress } from './fileStream';

const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/**
 * Above the API's own deadline for a release action (45 s, control/workerPresence.ts), so its
 * answer always arrives.
 */
const REQUEST_TIMEOUT_MS = 60_000;

export interface AdminApiClientOptions {
  /** The API replica to ask first. */
  url: string;
  /** Further API replicas, tried in order when a replica cannot be connected to. */
  failoverUrls?: readonly string[];
  /** The fleet CA, the only one the API's certificate is trusted from. */
  caPem: string;
  /** The operator's bearer token. */
  token?: string;
}

/**
 * The admin side of the API as the CLI, the worker and tests call it: HTTPS that trusts
 * the fleet CA, and the operator's bearer token. Errors come back with the API's code.
 */
export class AdminApiClient {
  readonly baseUrl: string;
  private readonly failoverUrls: readonly string[];
  private readonly token: string | undefined;
  private readonly agent: Agent;

  constructor(options: AdminApiClientOptions) {
    this.baseUrl = options.url;
    this.failoverUrls = options.failoverUrls ?? [];
    this.token = options.token;
    this.agent = new Agent({ connect: { ca: options.caPem } });
    this.current = options.url;
  }

  /** The replica requests go to: the first, until it refuses a connection (see `send`). */
  private current: string;

  static fromConfig(config: Config, token = config.identity.operatorToken): AdminApiClient {
    let ca: string;
    try {
      ca = readFileSync(config.identity.fleetCaCert, 'utf8');
    } catch (err) {
      throw new ServerError(
        'CONFIG_INVALID',
        `fleet CA ${config.identity.fleetCaCert} is missing (run the key ceremony)`,
        { cause: err },
      );
    }
    return new AdminApiClient({ url: config.api.url, failoverUrls: config.api.failoverUrls, caPem: ca, token });
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    const init = () => ({
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    // The replica that answered last first, then the others in their configured order.
    const bases = [this.current, ...[this.baseUrl, ...this.failoverUrls].filter((u) => u !== this.current)];
    for (const [i, base] of bases.entries()) {
      try {
        const answer = await this.call<T>(path, init(), base);
        this.current = base;
        return answer;
      } catch (err) {
        // Only a replica that refused the connection is skipped: the request never reached it,
        // so sending it to another cannot apply it twice. Anything else is the answer.
        if (i === bases.length - 1 || !refusedConnection(err)) throw err;
      }
    }
    throw new ServerError('UNAVAILABLE', 'no API replica configured');
  }

  /** A download that is not JSON (a release document, evidence), as its bytes; errors as for JSON. */
  async getBytes(path: string, maxBytes = MAX_ANSWER_BYTES): Promise<Buffer> {
    const res = await fetch(`${this.current}${path}`, {
      headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
      dispatcher: this.agent,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > maxBytes) throw new ServerError('UNAVAILABLE', 'API answer too large');
    if (!res.ok) {
      const e = (JSON.parse(bytes.toString('utf8') || '{}') as { error?: { code?: string; message?: string } }).error;
      throw new ServerError(
        isServerErrorCode(e?.code) ? e.code : 'UNAVAILABLE',
        e?.message ?? `${path} answered HTTP ${res.status}`,
      );
    }
    return bytes;
  }

  /** Sends bytes as they are (a document whose digest must not change), as one request to the current replica. */
  postBytes<T>(path: string, bytes: Buffer, contentType: string): Promise<T> {
    return this.call<T>(path, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: bytes,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  }

  /** Streams a file as the request body (artifacts up to 4 GiB), reporting progress. */
  async upload<T>(path: string, file: string, onProgress?: Progress): Promise<T> {
    const { stream, size } = await meteredFile(file, onProgress);
    const body = Readable.toWeb(stream) as ReadableStream;
    return this.call<T>(path, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      duplex: 'half',
    });
  }

  private async call<T>(
    path: string,
    init: Record<string, unknown> & { headers: Record<string, string> },
    base = this.current,
  ): Promise<T> {
    const headers = { ...init.headers, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) };
    let res;
    try {
      res = await fetch(`${base}${path}`, { ...init, headers, dispatcher: this.agent });
    } catch (err) {
      // Our own timeout is an API that was reached and did not answer, not one that is down.
      if ((err as Error).name === 'TimeoutError')
        throw new ServerError('UNAVAILABLE', `the API at ${base} did not answer ${path} in time`, { cause: err });
      throw new ServerError('UNAVAILABLE', `cannot reach the API at ${base} (is the stack running? npm start)`, {
        cause: err,
      });
    }
    const text = await res.text();
    if (text.length > MAX_ANSWER_BYTES) throw new ServerError('UNAVAILABLE', 'API answer too large');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ServerError('UNAVAILABLE', `${path} answered HTTP ${res.status} without JSON`);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      // A code this client does not know (a newer server, a proxy's page) is not passed on as if it were one.
      throw new ServerError(
        isServerErrorCode(e?.code) ? e.code : 'UNAVAILABLE',
        e?.message ?? `${path} answered HTTP ${res.status}`,
      );
    }
    return json as T;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** fetch failed because nothing accepted the connection (a stopped replica), not later. */
function refusedConnection(err: unknown): boolean {
  const cause = (err as { cause?: { cause?: { code?: unknown } } }).cause?.cause;
  return (
    err instanceof ServerError &&
    err.code === 'UNAVAILABLE' &&
    (cause?.code === 'ECONNREFUSED' || cause?.code === 'UND_ERR_CONNECT_TIMEOUT')
  );
}
