import { type RequestHandler, Router } from 'express';

import { InputError, ServerError } from '../common/errors';
import { expandEventTypes } from '../common/webhookEvents';
import type { WebhookStore } from '../infra/webhookStore';
import { newSecret } from '../webhooks/signature';
import { checkTarget, type TargetPolicy } from '../webhooks/targets';
import { operatorOf } from './auth';
import type { Permission } from './permissions';
import { queryFilter, queryLimit } from './query';
import { withBody } from './requestBodies';
import { jsonBody } from './untrusted';

export interface WebhookRouteDeps {
  webhooks: WebhookStore;
  targets: TargetPolicy;
  /** Events were recorded: every replica's dispatcher looks for due deliveries now. */
  recorded: () => Promise<void>;
  guard: (permission: Permission) => RequestHandler;
}

const body = jsonBody(16 * 1024);
/** A batch of release events from the worker: at most 50 of a few hundred bytes each. */
const eventsBody = jsonBody(128 * 1024);
const DELIVERY_STATES = ['pending', 'delivered', 'dead'];

/** Webhook subscriptions (admins), their delivery logs and redelivery, and the worker's release events. */
export function webhookRoutes(deps: WebhookRouteDeps): Router {
  const r = Router();
  subscriptionRoutes(r, deps);
  deliveryRoutes(r, deps);
  eventRoutes(r, deps);
  return r;
}

/** Adding, listing and removing subscriptions. */
function subscriptionRoutes(r: Router, deps: WebhookRouteDeps): void {
  const { guard, webhooks } = deps;
  r.get('/v1/admin/webhooks', guard('webhook.manage'), async (_req, res) => {
    res.json(await webhooks.list());
  });
  r.post(
    '/v1/admin/webhooks',
    guard('webhook.manage'),
    body,
    withBody('CreateWebhook', async (b, _req, res) => {
      const expanded = expandEventTypes(b.events);
      if ('unknown' in expanded) throw new InputError(`no event type ${expanded.unknown} (see ota webhook events)`);
      // The origin only: a receiver's path or query may hold its own secret, and viewers read the audit log.
      res.locals['audit'] = { action: 'webhook.create', subject: originOf(b.url), detail: b.events.join(',') };
      await checkTarget(b.url, deps.targets);
      const secret = newSecret();
      const s = { url: b.url, secret, types: expanded.types, channel: b.channel, createdBy: operatorOf(res).name };
      const id = await webhooks.subscribe(s);
      res.status(201).json({ id, url: s.url, types: s.types, ...(s.channel ? { channel: s.channel } : {}), secret });
    }),
  );
  r.delete('/v1/admin/webhooks/:id', guard('webhook.manage'), async (req, res) => {
    const id = subscriptionId(req.params['id']);
    res.locals['audit'] = { action: 'webhook.remove', subject: String(id) };
    if (!(await webhooks.remove(id))) throw new ServerError('NOT_FOUND', `no webhook ${id}`);
    res.json({ removed: id });
  });
}

/** A subscription's delivery log, and sending deliveries again. */
function deliveryRoutes(r: Router, deps: WebhookRouteDeps): void {
  const { guard, webhooks } = deps;
  r.get('/v1/admin/webhooks/:id/deliveries', guard('webhook.manage'), async (req, res) => {
    const id = await existing(webhooks, req.params['id']);
    const state = queryFilter(req, 'state');
    if (state !== undefined && !DELIVERY_STATES.includes(state))
      throw new InputError(`state must be one of ${DELIVERY_STATES.join(', ')}`);
    res.json(await webhooks.deliveries(id, { ...(state ? { state } : {}), limit: queryLimit(req, 1000) }));
  });
  r.post(
    '/v1/admin/webhooks/:id/redeliver',
    guard('webhook.manage'),
    body,
    withBody('Redeliver', async (b, req, res) => {
      const id = await existing(webhooks, req.params['id']);
      res.locals['audit'] = {
        action: 'webhook.redeliver',
        subject: String(id),
        detail: b.deliveryIds ? `deliveries ${b.deliveryIds.join(',')}` : 'every dead delivery',
      };
      const pending = await webhooks.redeliver({ subscriptionId: id, deliveryIds: b.deliveryIds });
      await deps.recorded();
      res.json({ redelivering: pending });
    }),
  );
}

/** The worker's release events, recorded in the outbox (the fleet store is the API's). */
function eventRoutes(r: Router, deps: WebhookRouteDeps): void {
  r.post(
    '/v1/admin/events',
    deps.guard('events.record'),
    eventsBody,
    withBody('RecordEvents', async (b, _req, res) => {
      const first = b.events[0]!;
      res.locals['audit'] = {
        action: 'events.record',
        subject: `${first.channel}/${first.version}`,
        detail: b.events.map((e) => e.type).join(','),
      };
      const recorded = await deps.webhooks.record(
        b.events.map((e) => ({
          key: e.key,
          type: e.type,
          subject: `releases/${e.channel}/${e.version}`,
          channel: e.channel,
          orderingKey: `release:${e.releaseId}`,
          at: new Date(e.at),
          data: { releaseId: e.releaseId, channel: e.channel, version: e.version, ...e.data },
        })),
      );
      if (recorded > 0) await deps.recorded();
      res.json({ recorded });
    }),
  );
}

function subscriptionId(raw: unknown): number {
  const id = /^[1-9][0-9]{0,14}$/.test(String(raw)) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id)) throw new InputError('a webhook id is a positive integer');
  return id;
}

async function existing(webhooks: WebhookStore, raw: unknown): Promise<number> {
  const id = subscriptionId(raw);
  if (!(await webhooks.exists(id))) throw new ServerError('NOT_FOUND', `no webhook ${id}`);
  return id;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'not a URL';
  }
}
