import type { AuditRow } from '../../common/adminApi';
import { h, replace, table, when } from '../dom';
import { get } from '../http';
import { href, type Live, type Route } from '../router';

/** The audit log, newest first, filtered by actor and action prefix. */
export async function auditPage(view: HTMLElement, route: Route, live: Live): Promise<void> {
  const actor = h('input', {
    name: 'actor',
    value: route.query.get('actor') ?? '',
    placeholder: 'operator',
    maxlength: 64,
  });
  const action = h('input', {
    name: 'action',
    value: route.query.get('action') ?? '',
    placeholder: 'release. / device.revoke',
    maxlength: 64,
  });
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        location.hash = href('audit', [], { actor: actor.value.trim(), action: action.value.trim() });
      },
    },
    h('label', {}, 'Actor ', actor),
    h('label', {}, 'Action ', action),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const body = h('div', { 'data-testid': 'audit' });
  replace(view, h('h1', {}, 'Audit log'), form, body);
  const q = new URLSearchParams(
    Object.entries({ actor: actor.value, action: action.value, limit: '200' }).filter(([, v]) => v),
  ).toString();
  const refresh = async () => {
    const rows = await get<AuditRow[]>(`/v1/admin/audit?${q}`);
    if (!live.active) return;
    replace(
      body,
      rows.length
        ? table(
            ['When', 'Actor', 'Action', 'Subject', 'Outcome', 'Reason', 'Detail'],
            rows.map((r) => [
              when(r.at),
              r.actor,
              r.action,
              r.subject,
              h('span', { class: `outcome-${r.outcome}` }, r.outcome),
              r.reason ?? '',
              r.detail ?? '',
            ]),
          )
        : h('p', {}, 'No entries match.'),
    );
  };
  await refresh();
  live.every(2000, refresh);
}
