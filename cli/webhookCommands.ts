import type { WebhookDelivery, WebhookSubscription } from '../common/adminApi';
import { InputError } from '../common/errors';
import { urlPath } from '../common/urlPath';
import { EVENT_TYPES } from '../common/webhookEvents';
import { type ApiCommand, queryString, required, subcommands } from './args';

export interface WebhookFlags {
  url?: string;
  event?: string[];
  channel?: string;
  state?: string;
  limit?: string;
  delivery?: string[];
}

const WEBHOOK_COMMANDS: Record<string, ApiCommand<WebhookFlags>> = {
  async add(api, { flags, out }) {
    const events = (flags.event ?? []).flatMap((e) => e.split(',')).filter(Boolean);
    if (events.length === 0) throw new InputError('give --event TYPE (a name, a prefix like release.*, or all)');
    const created = await api.send<{ id: number; url: string; types: string[]; channel?: string; secret: string }>(
      'POST',
      '/v1/admin/webhooks',
      { url: required(flags.url, '--url'), events, ...(flags.channel ? { channel: flags.channel } : {}) },
    );
    out.result(
      created,
      () =>
        `webhook ${created.id}: ${created.url}${created.channel ? ` (channel ${created.channel})` : ''}\n` +
        `events: ${created.types.join(', ')}\nsigning secret, shown once (Standard Webhooks):\n${created.secret}`,
    );
    return 0;
  },
  async list(api, { out }) {
    const subs = await api.get<WebhookSubscription[]>('/v1/admin/webhooks');
    const line = (s: WebhookSubscription) =>
      `${String(s.id).padStart(4)}  ${s.url}  ${s.channel ?? 'all channels'}  ${s.types.length} event types  ` +
      `pending ${s.pending}, dead ${s.dead}, delivered ${s.delivered}`;
    out.result(subs, () => (subs.length ? subs.map(line).join('\n') : 'no webhooks'));
    return 0;
  },
  async remove(api, { args, out }) {
    const done = await api.send<{ removed: number }>('DELETE', urlPath`/v1/admin/webhooks/${required(args[0], 'ID')}`);
    out.result(done, () => `removed webhook ${done.removed}; its undelivered events are dead`);
    return 0;
  },
  async deliveries(api, { args, flags, out }) {
    const rows = await api.get<WebhookDelivery[]>(
      `${urlPath`/v1/admin/webhooks/${required(args[0], 'ID')}/deliveries`}?${queryString({ state: flags.state, limit: flags.limit })}`,
    );
    const line = (d: WebhookDelivery) =>
      `${String(d.id).padStart(6)}  ${d.eventAt}  ${d.type.padEnd(26)} ${d.subject}  ${d.state} after ${d.attempts} attempt(s)` +
      `${d.lastStatus ? `, last HTTP ${d.lastStatus}` : ''}${d.lastError ? `, ${d.lastError}` : ''}${d.nextAt ? `, next ${d.nextAt}` : ''}`;
    out.result(rows, () => (rows.length ? rows.map(line).join('\n') : 'no deliveries'));
    return 0;
  },
  async redeliver(api, { args, flags, out }) {
    const ids = (flags.delivery ?? []).flatMap((d) => d.split(',')).filter(Boolean);
    if (ids.some((d) => !/^[1-9][0-9]{0,14}$/.test(d))) throw new InputError('--delivery takes delivery ids');
    const done = await api.send<{ redelivering: number[] }>(
      'POST',
      urlPath`/v1/admin/webhooks/${required(args[0], 'ID')}/redeliver`,
      ids.length ? { deliveryIds: ids.map(Number) } : {},
    );
    out.result(done, () =>
      done.redelivering.length ? `sending again: deliveries ${done.redelivering.join(', ')}` : 'nothing to send again',
    );
    return 0;
  },
  events(_api, { out }) {
    out.result(EVENT_TYPES, () => EVENT_TYPES.join('\n'));
    return Promise.resolve(0);
  },
};

/** `ota webhook add|list|remove|deliveries|redeliver|events` (admins). */
export const webhookCommand = subcommands('webhook', WEBHOOK_COMMANDS);
