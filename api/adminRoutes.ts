import { isSemver } from '@enigm-ota/client-sdk/semver';
import { type RequestHandler, Router } from 'express';

import type { DeviceDetail } from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import { deviceFacts } from '../fleet/deviceFacts';
import type { OfferIndex } from '../fleet/offers';
import type { Devices } from '../infra/devices';
import type { FleetStore } from '../infra/fleetStore';
import { Insights } from '../infra/insights';
import type { AuditLog, Operators } from '../infra/operators';
import { operatorOf } from './auth';
import type { Permission } from './permissions';
import { queryText } from './query';
import { jsonBody } from './untrusted';
import { validateBody } from './validate';

export interface AdminRouteDeps {
  operators: Operators;
  audit: AuditLog;
  devices: Devices;
  fleet: FleetStore;
  offers: OfferIndex;
  guard: (permission: Permission) => RequestHandler;
}

const DEFAULT_TOKEN_TTL_S = 24 * 3600;
/** What the device page shows: enough to see a few release attempts, newest first. */
const DEVICE_REPORTS = 50;

/** Operators, the audit log, the device inventory and fleet numbers. */
export function adminRoutes(deps: AdminRouteDeps): Router {
  const r = Router();
  const body = jsonBody(16 * 1024);
  const { guard } = deps;
  const limitOf = (v: unknown, max = 1000) => {
    const n = v === undefined ? 100 : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InputError(`limit must be 1..${max}`);
    return n;
  };
  const text = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v.slice(0, 128) : undefined);

  r.get('/v1/admin/whoami', guard('read'), (_req, res) => {
    res.json(operatorOf(res));
  });

  r.get('/v1/admin/operators', guard('operator.manage'), async (_req, res) => {
    res.json(await deps.operators.list());
  });
  r.post('/v1/admin/operators', guard('operator.manage'), body, validateBody('CreateOperator'), async (req, res) => {
    const b = req.body as { name: string; roles: string[] };
    res.locals['audit'] = { action: 'operator.create', subject: b.name, detail: b.roles.join(',') };
    res.status(201).json(await deps.operators.create(b.name, b.roles, operatorOf(res).name));
  });
  r.post(
    '/v1/admin/operators/:name/revoke',
    guard('operator.manage'),
    body,
    validateBody('Revoke'),
    async (req, res) => {
      const name = String(req.params['name']);
      res.locals['audit'] = {
        action: 'operator.revoke',
        subject: name,
        reason: (req.body as { reason?: string }).reason,
      };
      await deps.operators.revoke(name);
      res.json({ revoked: name });
    },
  );

  r.get('/v1/admin/audit', guard('read'), async (req, res) => {
    res.json(
      await deps.audit.list({
        actor: text(req.query['actor']),
        action: text(req.query['action']),
        limit: limitOf(req.query['limit']),
      }),
    );
  });

  r.post(
    '/v1/admin/devices/tokens',
    guard('device.manage'),
    body,
    validateBody('EnrollmentToken'),
    async (req, res) => {
      const b = req.body as {
        deviceId: string;
        hardwareId: string;
        channel: string;
        groups?: string[];
        tags?: Record<string, string>;
        ttlSeconds?: number;
      };
      res.locals['audit'] = { action: 'device.token', subject: b.deviceId, detail: `${b.hardwareId} on ${b.channel}` };
      const grant = {
        deviceId: b.deviceId,
        hardwareId: b.hardwareId,
        channel: b.channel,
        groups: b.groups ?? [],
        tags: b.tags ?? {},
      };
      res.status(201).json({
        deviceId: b.deviceId,
        ...(await deps.devices.createToken(grant, (b.ttlSeconds ?? DEFAULT_TOKEN_TTL_S) * 1000, operatorOf(res).name)),
      });
    },
  );
  r.get('/v1/admin/devices', guard('read'), async (req, res) => {
    res.json(
      await deps.devices.list({
        status: text(req.query['status']),
        channel: text(req.query['channel']),
        group: text(req.query['group']),
        prefix: text(req.query['prefix']),
        limit: limitOf(req.query['limit'], 10_000),
      }),
    );
  });
  r.get('/v1/admin/devices/:id', guard('read'), async (req, res) => {
    const id = String(req.params['id']);
    const device = await deps.devices.get(id);
    if (!device) throw new ServerError('NOT_FOUND', `no device ${id}`);
    res.json({
      ...device,
      reports: await new Insights(deps.fleet.sql).deviceReports(id, DEVICE_REPORTS),
    } satisfies DeviceDetail);
  });
  r.get('/v1/admin/devices/:id/explain', guard('read'), async (req, res) => {
    const id = String(req.params['id']);
    const version = queryText(req, 'version') ?? '';
    if (!isSemver(version)) throw new InputError('give ?version=SEMVER');
    const device = await deps.devices.get(id);
    if (!device) throw new ServerError('NOT_FOUND', `no device ${id}`);
    res.json(await deps.offers.explain(deviceFacts(device), version));
  });
  r.post('/v1/admin/devices/:id/labels', guard('device.manage'), body, validateBody('Labels'), async (req, res) => {
    const id = String(req.params['id']);
    const b = req.body as { groups: string[]; tags: Record<string, string> };
    res.locals['audit'] = {
      action: 'device.label',
      subject: id,
      detail: `groups ${b.groups.join(',') || '-'}; tags ${
        Object.entries(b.tags)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '-'
      }`,
    };
    const labelled = await deps.devices.label(id, b.groups, b.tags);
    // Every replica hears of it (infra/changes.ts), should one ever cache devices.
    await deps.fleet.notify('device');
    res.json(labelled);
  });
  r.post('/v1/admin/devices/:id/revoke', guard('device.manage'), body, validateBody('Revoke'), async (req, res) => {
    const id = String(req.params['id']);
    res.locals['audit'] = { action: 'device.revoke', subject: id, reason: (req.body as { reason?: string }).reason };
    const revoked = await deps.devices.revoke(id);
    await deps.fleet.notify('device');
    res.json(revoked);
  });

  r.get('/v1/fleet/targets/stats', guard('read'), async (req, res) => {
    const name = req.query['name'];
    if (typeof name !== 'string' || name.length === 0 || name.length > 300) throw new InputError('give ?name=TARGET');
    res.json(await deps.fleet.targetStats(name));
  });
  r.get('/v1/fleet/summary', guard('read'), async (req, res) => {
    const prefix = typeof req.query['prefix'] === 'string' ? req.query['prefix'].slice(0, 128) : '';
    res.json(await deps.fleet.summary(prefix));
  });
  return r;
}
