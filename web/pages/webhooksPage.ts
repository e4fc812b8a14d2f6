import type { WebhookDelivery, WebhookSubscription } from '../../common/adminApi';
import { confirmAction, post, remove } from '../actions';
import { h, link, replace, table, when } from '../dom';
import { ApiError, can, get } from '../http';
import { href, type Live, type Route } from '../router';

/**
 * Webhook subscriptions (admins): add one (its signing secret is shown once), see what each
 * has pending, dead and delivered, open its delivery log, send dead deliveries again, remove it.
 */
export async function webhooksPage(view: HTMLElement, route: Route, live: Live): Promise<void> {
  if (!can('webhook.manage')) {
    replace(view, h('h1', {}, 'Webhooks'), h('p', {}, 'Webhooks are managed by admins.'));
    return;
  }
  if (route.args[0]) return deliveriesPage(view, route, live);
  const body = h('div', { 'data-testid': 'webhooks' });
  const created = h('div', { 'aria-live': 'polite' });
  replace(
    view,
    h('h1', {}, 'Webhooks'),
    addForm(created, () => void refresh()),
    created,
    body,
  );
  const refresh = async () => {
    const subs = await get<WebhookSubscription[]>('/v1/admin/webhooks');
    if (!live.active) return;
    replace(
      body,
      subs.length
        ? table(
            ['Id', 'URL', 'Channel', 'Events', 'Pending', 'Dead', 'Delivered', ''],
            subs.map((s) => [
              s.id,
              s.url,
              s.channel ?? 'all',
              h('span', { title: s.types.join(', ') }, `${s.types.length} types`),
              s.pending,
              s.dead,
              s.delivered,
              h(
                'span',
                { class: 'buttons' },
                link(href('webhooks', [String(s.id)]), 'Deliveries'),
                h('button', { type: 'button', onclick: () => void removeSubscription(s, refresh) }, 'Remove'),
              ),
            ]),
            { 'aria-label': 'Webhook subscriptions' },
          )
        : h('p', {}, 'No webhooks yet.'),
    );
  };
  await refresh();
  live.every(5000, refresh);
}

function addForm(created: HTMLElement, added: () => void): HTMLElement {
  const url = h('input', { name: 'url', type: 'url', required: true, maxlength: 2048, placeholder: 'https://…' });
  const events = h('input', { name: 'events', value: 'release.*', required: true, maxlength: 400 });
  const channel = h('input', { name: 'channel', maxlength: 64, placeholder: 'all channels' });
  const error = h('p', { class: 'error', role: 'alert' });
  return h(
    'form',
    {
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        error.textContent = '';
        const body = {
          url: url.value.trim(),
          events: events.value
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
          ...(channel.value.trim() ? { channel: channel.value.trim() } : {}),
        };
        post('/v1/admin/webhooks', body).then(
          (answer) => {
            const s = answer as { id: number; secret: string };
            replace(
              created,
              h(
                'p',
                { class: 'notice', 'data-testid': 'webhook-secret' },
                `Webhook ${s.id} added. Its signing secret, shown once: `,
                h('code', {}, s.secret),
              ),
            );
            url.value = '';
            added();
          },
          (err: unknown) => {
            error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
          },
        );
      },
    },
    h('label', {}, 'URL ', url),
    h('label', {}, 'Events ', events),
    h('label', {}, 'Channel ', channel),
    h('button', { type: 'submit', class: 'primary' }, 'Add webhook'),
    error,
  );
}

async function removeSubscription(s: WebhookSubscription, refresh: () => Promise<void>): Promise<void> {
  const done = await confirmAction({
    title: `Remove webhook ${s.id}`,
    explain: `${s.url} gets no more events; its ${s.pending} undelivered ones become dead.`,
    confirm: 'Remove',
    danger: true,
    reason: false,
    send: () => remove(`/v1/admin/webhooks/${s.id}`),
  });
  if (done) await refresh();
}

/** One subscription's delivery log, newest first, with redelivery of dead ones. */
async function deliveriesPage(view: HTMLElement, route: Route, live: Live): Promise<void> {
  const id = route.args[0]!;
  const state = route.query.get('state') ?? '';
  const body = h('div', { 'data-testid': 'deliveries' });
  const filter = h(
    'p',
    { class: 'filters' },
    ...['', 'pending', 'dead', 'delivered'].map((s) =>
      link(href('webhooks', [id], { state: s }), s === '' ? 'all' : s),
    ),
  );
  const redeliverDead = redeliverDeadButton(id, () => refresh());
  replace(
    view,
    h('h1', {}, `Webhook ${id}: deliveries`),
    link(href('webhooks'), '← Webhooks'),
    filter,
    redeliverDead,
    body,
  );
  const q = new URLSearchParams(Object.entries({ state, limit: '200' }).filter(([, v]) => v)).toString();
  const refresh = async () => {
    const rows = await get<WebhookDelivery[]>(`/v1/admin/webhooks/${encodeURIComponent(id)}/deliveries?${q}`);
    if (!live.active) return;
    replace(
      body,
      rows.length
        ? table(
            ['Event', 'Type', 'Subject', 'State', 'Attempts', 'Last answer', 'Next', ''],
            rows.map((d) => [
              when(d.eventAt),
              d.type,
              d.subject,
              h('span', { class: `delivery-${d.state}` }, d.state),
              d.attempts,
              d.lastStatus ? `HTTP ${d.lastStatus}` : (d.lastError ?? ''),
              d.nextAt ? when(d.nextAt) : '',
              d.state === 'pending'
                ? ''
                : h('button', { type: 'button', onclick: () => void sendAgain(id, d, refresh) }, 'Send again'),
            ]),
            { 'aria-label': 'Deliveries' },
          )
        : h('p', {}, 'No deliveries.'),
    );
  };
  await refresh();
  live.every(3000, refresh);
}

async function sendAgain(id: string, d: WebhookDelivery, refresh: () => Promise<void>): Promise<void> {
  const done = await confirmAction({
    title: `Send ${d.type} again`,
    explain: `The receiver gets event ${d.eventId} again, with the same webhook-id (its idempotency key).`,
    confirm: 'Send again',
    reason: false,
    send: () => post(`/v1/admin/webhooks/${encodeURIComponent(id)}/redeliver`, { deliveryIds: [d.id] }),
  });
  if (done) await refresh();
}

function redeliverDeadButton(id: string, refresh: () => Promise<void>): HTMLElement {
  return h(
    'button',
    {
      type: 'button',
      onclick: () =>
        void confirmAction({
          title: 'Send dead deliveries again',
          explain: `Every dead delivery of webhook ${id} is tried again, for another 24 hours.`,
          confirm: 'Redeliver',
          reason: false,
          send: () => post(`/v1/admin/webhooks/${encodeURIComponent(id)}/redeliver`, {}),
        }).then((done) => (done ? refresh() : undefined)),
    },
    'Redeliver dead',
  );
}
