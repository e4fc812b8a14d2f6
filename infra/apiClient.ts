import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Agent, fetch } from 'undici';
import { isServerErrorCode, ServerError } from '../common/errors';
import type { Config } from './config';
import { meteredFile, type Progress } from './fileStream';

const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * The admin side of the API as the CLI, the worker and tests call it: HTTPS that trusts
 * the fleet CA, and the operator's bearer token. Errors come back with the API's code.
 */
export class AdminApi {
  private readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    caPem: string,
    private readonly token: string | undefined,
  ) {
    this.agent = new Agent({ connect: { ca: caPem } });
  }

  static fromConfig(config: Config, token = config.identity.operatorToken): AdminApi {
    let ca: string;
    try {
      ca = readFileSync(config.identity.fleetCaCert, 'utf8');
    } catch (err) {
      throw new ServerError('CONFIG_INVALID', `fleet CA ${config.identity.fleetCaCert} is missing (run the key ceremony)`, { cause: err });
    }
    return new AdminApi(config.api.url, ca, token);
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  async send<T>(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    return this.call<T>(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  }

  /** Streams a file as the request body (artifacts up to 4 GiB), reporting progress. */
  async upload<T>(path: string, file: string, onProgress?: Progress): Promise<T> {
    const { stream, size } = await meteredFile(file, onProgress);
    const body = Readable.toWeb(stream) as ReadableStream;
    return this.call<T>(path, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body, duplex: 'half' });
  }

  private async call<T>(path: string, init: Record<string, unknown> & { headers: Record<string, string> }): Promise<T> {
    const headers = { ...init.headers, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) };
    let res;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { ...init, headers, dispatcher: this.agent } as Parameters<typeof fetch>[1]);
    } catch (err) {
      // Our own timeout is an API that was reached and did not answer, not one that is down.
      if ((err as Error).name === 'TimeoutError') throw new ServerError('UNAVAILABLE', `the API at ${this.baseUrl} did not answer ${path} in time`, { cause: err });
      throw new ServerError('UNAVAILABLE', `cannot reach the API at ${this.baseUrl} (is the stack running? npm start)`, { cause: err });
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
      throw new ServerError(isServerErrorCode(e?.code) ? e.code : 'UNAVAILABLE', e?.message ?? `${path} answered HTTP ${res.status}`);
    }
    return json as T;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
