import type { SessionInfo } from '../../common/adminApi';
import { h, replace } from '../dom';
import { api, ApiError } from '../http';

/**
 * Sign-in with an operator token. The token goes once to POST /v1/session and is never
 * stored by the page: the session lives in an HttpOnly cookie the page cannot read.
 */
export function signInPage(view: HTMLElement, signedIn: (s: SessionInfo) => void): void {
  const token = h('input', {
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    maxlength: 200,
  });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    {
      class: 'signin',
      onsubmit: (e: Event) => {
        e.preventDefault();
        api<SessionInfo>('POST', '/v1/session', { token: token.value.trim() }).then(
          (s) => {
            token.value = '';
            signedIn(s);
          },
          (err: unknown) => {
            error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
          },
        );
      },
    },
    h('h1', {}, 'Enigm OTA'),
    h('p', {}, 'Sign in with your operator token (ota operator add prints it once).'),
    h('label', {}, 'Operator token', token),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  replace(view, form);
  token.focus();
}
