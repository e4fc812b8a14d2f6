import { REPOSITORIES, type InstallReport, type PollRequest, type RepositoryName } from '@enigm-ota/client-sdk';
import { Router } from 'express';
import { jsonBody } from './untrusted';
import { ServerError } from '../common/errors';
import type { Config } from '../infra/config';
import type { Devices } from '../infra/devices';
import type { FleetStore } from '../infra/fleetStore';
import type { Storage } from '../infra/storage';
import { MAX_METADATA_BYTES, type TufRepository } from '../trust/tufRepository';
import { serveArtifact } from './artifacts';
import { deviceAuth, deviceOf, sameDevice } from './auth';
import { deviceFacts } from '../fleet/deviceFacts';
import { notePoll, noteReport } from './observability';
import type { OfferIndex } from '../fleet/offers';
import { openapi } from './openapi';
import { validateBody } from './validate';

export interface ApiDeps {
  storage: Storage;
  /** Both repositories, reading through the API's floor (timestamp.json is served through it). */
  repos: Record<RepositoryName, TufRepository>;
  /** How artifact bytes reach devices (a presigned storage URL, or streamed here). */
  delivery: Config['artifacts'];
  fleet: FleetStore;
  devices: Devices;
  offers: OfferIndex;
  maxBodyBytes: number;
}

const METADATA_FILE = /^([1-9][0-9]{0,9}\.)?(root|timestamp|snapshot|targets)\.json$/;

/**
 * The device API. Thin routes: validate, call one use-case, answer; errors go to the error
 * middleware. Everything but health, the OpenAPI document and enrollment needs the
 * device's certificate (mutual TLS), and a device may only speak for itself.
 */
export function deviceRoutes(deps: ApiDeps): Router {
  const r = Router();
  const body = jsonBody(deps.maxBodyBytes);
  const device = deviceAuth(deps.devices);

  r.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  r.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  r.post('/v1/poll', device, body, validateBody('PollRequest'), async (req, res) => {
    const poll = req.body as PollRequest;
    sameDevice(res, poll.deviceId);
    const offer = await deps.offers.offerFor(deviceFacts(deviceOf(res), poll));
    notePoll(res, offer);
    res.json({ offer });
  });

  r.post('/v1/reports', device, body, validateBody('InstallReport'), async (req, res) => {
    sameDevice(res, (req.body as InstallReport).deviceId);
    const stored = await deps.fleet.recordReport(req.body as InstallReport);
    // A duplicate is not counted again in the metrics either.
    if (stored) noteReport(res, req.body as InstallReport);
    res.status(202).json({ accepted: true, duplicate: !stored });
  });

  r.get('/v1/repos/:repo/metadata/:file', device, async (req, res) => {
    const repo = String(req.params['repo']);
    const file = String(req.params['file']);
    if (!REPOSITORIES.includes(repo as RepositoryName) || !METADATA_FILE.test(file)) {
      throw new ServerError('NOT_FOUND', `no metadata ${repo}/${file}`);
    }
    // timestamp.json decides what a device sees next: verified and checked against the
    // watermarks first (STORAGE_ROLLBACK), so no replica serves a rolled-back view.
    const bytes = file === 'timestamp.json' ? await deps.repos[repo as RepositoryName].servedTimestamp() : await deps.storage.getBytes('metadata', `${repo}/${file}`, MAX_METADATA_BYTES);
    if (!bytes) throw new ServerError('NOT_FOUND', `no metadata ${repo}/${file}`);
    // Versioned files never change; timestamp.json must always be fetched fresh.
    res.setHeader('Cache-Control', file === 'timestamp.json' ? 'no-store' : 'public, max-age=31536000, immutable');
    res.type('application/json').send(bytes);
  });

  const artifacts = { storage: deps.storage, offers: deps.offers, delivery: deps.delivery };
  r.get('/v1/artifacts/:sha256', device, (req, res) => serveArtifact(artifacts, deviceOf(res), req, res));
  r.head('/v1/artifacts/:sha256', device, (req, res) => serveArtifact(artifacts, deviceOf(res), req, res));

  return r;
}
