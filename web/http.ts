import type { SessionInfo } from '../common/adminApi';

/** The error body every API refusal carries (api/errorResponses.ts). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let session: SessionInfo | undefined;
let onSignedOut: () => void = () => undefined;

export function currentSession(): SessionInfo | undefined {
  return session;
}

export function setSession(s: SessionInfo | undefined, signedOut?: () => void): void {
  session = s;
  if (signedOut) onSignedOut = signedOut;
}

export function can(permission: string): boolean {
  return session?.permissions.includes(permission) ?? false;
}

/**
 * Same-origin requests with the session cookie (the browser adds it; the page never sees
 * it). Changes carry the session's CSRF token. A 401 means the session ended: sign in again.
 */
export async function api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && session) headers['x-csrf-token'] = session.csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok) {
    const err = new ApiError(res.status, data.error?.code ?? 'HTTP', data.error?.message ?? `HTTP ${res.status}`);
    if (res.status === 401 && path !== '/v1/session') {
      session = undefined;
      onSignedOut();
    }
    throw err;
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
