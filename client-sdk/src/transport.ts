import { Agent, fetch as undiciFetch } from 'undici';

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
