import { h } from './dom';
import { api, ApiError } from './http';

/**
 * Every action asks for a reason and a confirmation in a modal dialog, then goes to the
 * admin API as the signed-in operator (the server checks the role and writes the audit log).
 */
export function confirmAction(opts: {
  title: string;
  explain: string;
  confirm: string;
  danger?: boolean;
  /** False for an action the audit log records without a reason (webhook changes). */
  reason?: boolean;
  send: (reason: string) => Promise<unknown>;
}): Promise<boolean> {
  const asksReason = opts.reason ?? true;
  return new Promise((resolve) => {
    const reason = h('textarea', {
      name: 'reason',
      rows: 3,
      maxlength: 1000,
      required: true,
      placeholder: 'Why (kept in the audit log)',
    });
    const error = h('p', { class: 'error', role: 'alert' });
    const ok = h('button', { type: 'submit', class: opts.danger ? 'danger' : 'primary' }, opts.confirm);
    const cancel = h('button', { type: 'button', onclick: () => close(false) }, 'Cancel');
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', {}, opts.title),
      h('p', {}, opts.explain),
      asksReason ? h('label', {}, 'Reason', reason) : null,
      error,
      h('div', { class: 'buttons' }, cancel, ok),
    );
    const dialog = h('dialog', { 'aria-label': opts.title }, form);
    const close = (done: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(done);
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = reason.value.trim();
      if (!text && asksReason) {
        error.textContent = 'Give a reason.';
        return;
      }
      ok.disabled = true;
      opts.send(text).then(
        () => close(true),
        (err: unknown) => {
          ok.disabled = false;
          error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
        },
      );
    });
    dialog.addEventListener('cancel', () => close(false));
    document.body.appendChild(dialog);
    dialog.showModal();
    (asksReason ? reason : ok).focus();
  });
}

export const post = (path: string, body: unknown) => api('POST', path, body);
export const remove = (path: string) => api('DELETE', path);
