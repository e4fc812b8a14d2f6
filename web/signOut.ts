import type { SessionInfo } from '../common/adminApi';
import { replace } from './dom';
import { api, ApiError, get, setSession } from './http';

/** The wait before attempt `n + 1`: doubling from 1 s up to 30 s, its second half random so tabs spread out. */
function signOutDelayMs(n: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 1_000 * 2 ** Math.min(n, 15));
  return ceiling / 2 + (random() * ceiling) / 2;
}

/**
 * S-17: sign-out fails closed. It is done only once the server no longer holds the session:
 * `DELETE /v1/session` answered, or a 401 says there is nothing left to end. Any other outcome
 * (no answer, a 5xx, a 429) is said in `status` and the request is sent again with backoff,
 * until it gets through or the page is closed: a page that showed the sign-in form while the
 * cookie still worked would leave an 8-hour session behind on a shared computer.
 */
export async function endSession(status: HTMLElement): Promise<void> {
  for (let n = 0; ; n++) {
    try {
      await api('DELETE', '/v1/session');
      return;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      // A sign-in in another tab replaced the session (and its CSRF token): end that one.
      if (err instanceof ApiError && err.code === 'CSRF_REFUSED' && !(await refreshSession())) return;
      const delay = signOutDelayMs(n);
      status.className = 'error';
      replace(
        status,
        `Sign-out failed (${reasonOf(err)}): you are still signed in on the server. Trying again in ${Math.ceil(delay / 1000)} s; keep this page open until it says you are signed out.`,
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The session the cookie names now; false when it names none (signed out already). */
async function refreshSession(): Promise<boolean> {
  try {
    setSession(await get<SessionInfo>('/v1/session'));
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.status === 401);
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return 'the API could not be reached';
}
