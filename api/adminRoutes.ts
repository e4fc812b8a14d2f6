import { isSemver } from '@enigm-ota/client-sdk/semver';
import { type RequestHandler, Router } from 'express';

import type { DeviceDetail } from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import { fleetFactsOf } from '../fleet/fleetDeviceFacts';
import type { OfferIndex } from '../fleet/offers';
import type { AuditLog } from '../infra/auditLog';
import type { Devices } from '../infra/devices';
import type { FleetStore } from '../infra/fleetStore';
import { Insights } from '../infra/insights';
import type { Operators } from '../infra/operators';
import { operatorOf } from './auth';
import type { Permission } from './permissions';
import { queryFilter, queryLimit, queryText } from './query';
import { withBody } from './requestBodies';
import { jsonBody } from './untrusted';

export interface AdminRouteDeps {
  operators: Operators;
  audit: AuditLog;
  devices: Devices;
  fleet: FleetStore;
  offers: OfferIndex;
  guard: (permission: Permission) => RequestHandler;
}

const DEFAULT_TOKEN_TTL_S = 24 * 3600;
/** A JSON body of at most 16 KiB: every admin request here is a few names and labels. */
const body = jsonBody(16 * 1024);
/** What the device page shows: enough to see a few release attempts, newest first. */
const DEVICE_REPORTS = 50;

/** Operators, the audit log, the device inventory and fleet numbers. */
export function adminRoutes(deps: AdminRouteDeps): Router {
  const r = Router();
  operatorRoutes(r, deps);
  inventoryRoutes(r, deps);
  deviceChangeRoutes(r, deps);
  fleetRoutes(r, deps);
  return r;
}

/** Who may act (operators, admins only) and what they did (the audit log). */
function operatorRoutes(r: Router, deps: AdminRouteDeps): void {
  const { guard } = deps;
  r.get('/v1/admin/whoami', guard('read'), (_req, res) => {
    res.json(operatorOf(res));
  });
  r.get('/v1/admin/operators', guard('operator.manage'), async (_req, res) => {
    res.json(await deps.operators.list());
  });
  r.post(
    '/v1/admin/operators',
    guard('operator.manage'),
    body,
    withBody('CreateOperator', async (b, _req, res) => {
      res.locals['audit'] = { action: 'operator.create', subject: b.name, detail: b.roles.join(',') };
      res.status(201).json(await deps.operators.create(b.name, b.roles, operatorOf(res).name));
    }),
  );
  r.post(
    '/v1/admin/operators/:name/revoke',
    guard('operator.manage'),
    body,
    withBody('Revoke', async (b, req, res) => {
      const name = String(req.params['name']);
      res.locals['audit'] = { action: 'operator.revoke', subject: name, reason: b.reason };
      await deps.operators.revoke(name);
      res.json({ revoked: name });
    }),
  );
  r.get('/v1/admin/audit', guard('read'), async (req, res) => {
    res.json(
      await deps.audit.list({
        actor: queryFilter(req, 'actor'),
        action: queryFilter(req, 'action'),
        limit: queryLimit(req),
      }),
    );
  });
}

/** The device inventory: enrollment tokens, records, eligibility explanations, labels, revocation. */
function inventoryRoutes(r: Router, deps: AdminRouteDeps): void {
  const { guard } = deps;
  r.post(
    '/v1/admin/devices/tokens',
    guard('device.manage'),
    body,
    withBody('EnrollmentToken', async (b, _req, res) => {
      res.locals['audit'] = { action: 'device.token', subject: b.deviceId, detail: `${b.hardwareId} on ${b.channel}` };
      const grant = { ...b, groups: b.groups ?? [], tags: b.tags ?? {} };
      const ttlMs = (b.ttlSeconds ?? DEFAULT_TOKEN_TTL_S) * 1000;
      res.status(201).json({
        deviceId: b.deviceId,
        ...(await deps.devices.createToken(grant, ttlMs, operatorOf(res).name)),
      });
    }),
  );
  r.get('/v1/admin/devices', guard('read'), async (req, res) => {
    res.json(
      await deps.devices.list({
        status: queryFilter(req, 'status'),
        channel: queryFilter(req, 'channel'),
        group: queryFilter(req, 'group'),
        prefix: queryFilter(req, 'prefix'),
        limit: queryLimit(req, 10_000),
      }),
    );
  });
  r.get('/v1/admin/devices/:id', guard('read'), async (req, res) => {
    const id = String(req.params['id']);
    const device = await deps.devices.get(id);
    if (!device) throw new ServerError('NOT_FOUND', `no device ${id}`);
    const reports = await new Insights(deps.fleet.sql).deviceReports(id, DEVICE_REPORTS);
    res.json({ ...device, reports } satisfies DeviceDetail);
  });
  r.get('/v1/admin/devices/:id/explain', guard('read'), async (req, res) => {
    const id = String(req.params['id']);
    const version = queryText(req, 'version') ?? '';
    if (!isSemver(version)) throw new InputError('give ?version=SEMVER');
    const device = await deps.devices.get(id);
    if (!device) throw new ServerError('NOT_FOUND', `no device ${id}`);
    res.json(await deps.offers.explain(fleetFactsOf(device), version));
  });
}

/** Changes to an enrolled device: every replica hears of them (infra/changes.ts), should one ever cache devices. */
function deviceChangeRoutes(r: Router, deps: AdminRouteDeps): void {
  const { guard } = deps;
  r.post(
    '/v1/admin/devices/:id/labels',
    guard('device.manage'),
    body,
    withBody('Labels', async (b, req, res) => {
      const id = String(req.params['id']);
      const tags = Object.entries(b.tags).map(([k, v]) => `${k}=${v}`);
      const detail = `groups ${b.groups.join(',') || '-'}; tags ${tags.join(',') || '-'}`;
      res.locals['audit'] = { action: 'device.label', subject: id, detail };
      // Devices tells the other replicas (infra/devices.ts, DeviceCaching).
      res.json(await deps.devices.label(id, b.groups, b.tags));
    }),
  );
  r.post(
    '/v1/admin/devices/:id/revoke',
    guard('device.manage'),
    body,
    withBody('Revoke', async (b, req, res) => {
      const id = String(req.params['id']);
      res.locals['audit'] = { action: 'device.revoke', subject: id, reason: b.reason };
      res.json(await deps.devices.revoke(id, { actor: operatorOf(res).name, reason: b.reason }));
    }),
  );
}

/** Fleet numbers: a target's gate statistics (the worker's health gates read them), and the fleet summary. */
function fleetRoutes(r: Router, deps: AdminRouteDeps): void {
  const { guard } = deps;
  r.get('/v1/fleet/targets/stats', guard('read'), async (req, res) => {
    const name = queryText(req, 'name');
    if (!name || name.length > 300) throw new InputError('give ?name=TARGET');
    res.json(await deps.fleet.targetStats(name));
  });
  r.get('/v1/fleet/summary', guard('read'), async (req, res) => {
    res.json(await deps.fleet.summary(queryFilter(req, 'prefix') ?? ''));
  });
}
