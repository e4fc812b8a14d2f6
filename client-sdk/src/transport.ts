import { Agent as HttpAgent, type IncomingMessage, request as httpRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/** A device's TLS material: the fleet CA it trusts for the API, and its own certificate. */
export interface TlsIdentity {
  caPem: string;
  certPem?: string;
  keyPem?: string;
}

/**
 * What a device reads of an HTTP answer: the part of the platform's Response the SDK uses, so
 * a `Response` is one, and so is the device transport's own answer (no fetch implementation
 * loaded on a device: see `createTransport`).
 */
export interface FetchAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export type Fetch = (
  url: string,
  init?: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
    redirect?: 'follow' | 'manual';
  },
) => Promise<FetchAnswer>;

/** The platform's fetch, for loopback test servers and callers that bring no TLS identity. */
export const plainFetch: Fetch = (url, init) => fetch(url, init);

/** The API redirects once, to a presigned object-storage URL; a chain of them is refused (not 200). */
const MAX_REDIRECTS = 5;

/** The TLS (or plain, for loopback) connections of one identity, kept alive between requests. */
interface Agents {
  https: HttpsAgent;
  http: HttpAgent;
}

function agentsFor(tls?: TlsIdentity): Agents {
  return {
    https: new HttpsAgent({
      keepAlive: true,
      ...(tls ? { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem } : {}),
      rejectUnauthorized: true,
    }),
    http: new HttpAgent({ keepAlive: true }),
  };
}

/** The connection pools behind each transport and artifact getter made here. */
const pools = new WeakMap<object, () => Agents | undefined>();

/**
 * Closes the kept-alive connections of these transports that no request uses now: between two
 * polls minutes apart a connection would only hold TLS buffers until the server drops it.
 * Requests under way keep theirs; the next request opens a new one.
 */
export function closeIdleConnections(...transports: Array<Fetch | ArtifactGet | undefined>): void {
  for (const transport of transports) {
    const agents = transport ? pools.get(transport)?.() : undefined;
    for (const agent of agents ? [agents.https, agents.http] : []) {
      for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    }
  }
}

/** One request and its answer's head; the body is the answer stream, unread. */
function send(
  url: URL,
  agents: Agents,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
): Promise<IncomingMessage> {
  const tlsUrl = url.protocol === 'https:';
  if (!tlsUrl && url.protocol !== 'http:') return Promise.reject(new Error(`unsupported URL scheme ${url.protocol}`));
  const options: RequestOptions = {
    method: init.method ?? 'GET',
    headers:
      init.body === undefined ? init.headers : { ...init.headers, 'content-length': Buffer.byteLength(init.body) },
    agent: tlsUrl ? agents.https : agents.http,
    signal: init.signal,
  };
  return new Promise((resolve, reject) => {
    const req = (tlsUrl ? httpsRequest : httpRequest)(url, options, resolve);
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A redirect's next URL, or undefined when the answer is not one to follow. */
function redirectTarget(res: IncomingMessage, from: URL): URL | undefined {
  const status = res.statusCode ?? 0;
  const location = res.headers.location;
  if (![301, 302, 303, 307, 308].includes(status) || !location) return undefined;
  return new URL(location, from);
}

/**
 * GET (or any request) following redirects as fetch does, at most MAX_REDIRECTS of them; a
 * redirect's body is drained so the connection goes back to its pool.
 */
async function follow(
  url: string,
  agents: Agents,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal; manual?: boolean },
): Promise<IncomingMessage> {
  let at = new URL(url);
  let request = init;
  for (let hops = 0; ; hops++) {
    const res = await send(at, agents, request);
    const next = init.manual || hops === MAX_REDIRECTS ? undefined : redirectTarget(res, at);
    if (!next) return res;
    res.resume();
    // 303, and 301/302 of a POST, turn into a GET without a body, as fetch does.
    const asGet =
      res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && request.method === 'POST');
    if (asGet) request = { headers: withoutBodyHeaders(request.headers), signal: init.signal };
    at = next;
  }
}

function withoutBodyHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([k]) => !/^content-/i.test(k)));
}

/** An HTTP answer as the SDK reads it; the body becomes a web stream only when asked for. */
class Answer implements FetchAnswer {
  private stream: ReadableStream<Uint8Array> | undefined;

  constructor(private readonly res: IncomingMessage) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  readonly headers = {
    get: (name: string): string | null => {
      const value = this.res.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };

  get body(): ReadableStream<Uint8Array> {
    this.stream ??= Readable.toWeb(this.res) as ReadableStream<Uint8Array>;
    return this.stream;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.res as AsyncIterable<Buffer>) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  }

  async text(): Promise<string> {
    return Buffer.from(await this.arrayBuffer()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
}

/**
 * Every request a device makes goes through one transport: HTTPS that trusts only the
 * fleet CA and presents the device certificate (mutual TLS). Plain http:// is left to
 * loopback test servers; the real API refuses device calls without a certificate. It is
 * Node's own http/https clients, not a fetch: the fetch in Node (undici) and the undici
 * package each cost a device's resident memory 15-28 MiB once loaded, more than the whole
 * rest of the SDK (docs/benchmarks.md).
 */
export function createTransport(tls?: TlsIdentity): Fetch {
  if (!tls) return plainFetch;
  const agents = agentsFor(tls);
  const transport: Fetch = async (url, init = {}) =>
    new Answer(await follow(url, agents, { ...init, manual: init.redirect === 'manual' }));
  pools.set(transport, () => agents);
  return transport;
}

/** An artifact's answer: its status and its body as a Node stream. */
export interface ArtifactAnswer {
  status: number;
  body: Readable;
}

/** A GET of artifact bytes, following redirects (the API hands artifacts to object storage). */
export type ArtifactGet = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
) => Promise<ArtifactAnswer>;

/**
 * Artifact downloads over the same TLS as `createTransport` (plain HTTPS when no identity),
 * the body a Node stream read straight from the socket: no web stream, no copy or promise per
 * chunk (docs/benchmarks.md).
 */
export function createArtifactGet(tls?: TlsIdentity): ArtifactGet {
  let agents: Agents | undefined;
  const get: ArtifactGet = async (url, { headers, signal }) => {
    agents ??= agentsFor(tls);
    const res = await follow(url, agents, { headers, signal });
    return { status: res.statusCode ?? 0, body: res };
  };
  pools.set(get, () => agents);
  return get;
}
