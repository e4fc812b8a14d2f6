import type { Readable } from 'node:stream';

import { Agent, type Dispatcher, fetch as undiciFetch, getGlobalDispatcher, interceptors, request } from 'undici';

/** A device's TLS material: the fleet CA it trusts for the API, and its own certificate. */
export interface TlsIdentity {
  caPem: string;
  certPem?: string;
  keyPem?: string;
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
) => Promise<Response>;

/** The platform's fetch, for loopback test servers and callers that bring no TLS identity. */
export const plainFetch: Fetch = (url, init) => fetch(url, init);

/**
 * Every request a device makes goes through one transport: HTTPS that trusts only the
 * fleet CA and presents the device certificate (mutual TLS). Plain http:// is left to
 * loopback test servers; the real API refuses device calls without a certificate.
 */
export function createTransport(tls?: TlsIdentity): Fetch {
  if (!tls) return plainFetch;
  const agent = new Agent({
    connect: { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, rejectUnauthorized: true },
  });
  return (url, init) => undiciFetch(url, { ...init, dispatcher: agent });
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

/** The API redirects once, to a presigned object-storage URL; a chain of them is refused (not 200). */
const MAX_REDIRECTS = 5;

/**
 * Artifact downloads over the same TLS as `createTransport`, through undici's `request`
 * rather than fetch: fetch hands each chunk (a 16 KiB TLS record) through a web stream, a
 * copy and a promise per chunk, which cost a verified download a third of its CPU
 * (docs/benchmarks.md). Bodies are buffered 1 MiB ahead so the socket keeps flowing while
 * the file catches up.
 */
export function createArtifactGet(tls?: TlsIdentity): ArtifactGet {
  let dispatcher: Dispatcher | undefined;
  const redirecting = () => {
    const base = tls
      ? new Agent({ connect: { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, rejectUnauthorized: true } })
      : getGlobalDispatcher();
    return base.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }));
  };
  return async (url, { headers, signal }) => {
    dispatcher ??= redirecting();
    const { statusCode, body } = await request(url, { dispatcher, headers, signal, highWaterMark: 1 << 20 });
    return { status: statusCode, body };
  };
}
