import { REPOSITORIES, type InstallReport, type PollRequest, type RepositoryName } from '@enigm-ota/client-sdk';
import { Router, json } from 'express';
import { ServerError } from '../common/errors';
import type { FleetStore } from '../infra/fleetStore';
import type { Storage } from '../infra/storage';
import { MAX_METADATA_BYTES } from '../infra/tufRepository';
import { sendArtifact } from './artifacts';
import { preEnrollmentFacts, type OfferIndex } from './offers';
import { openapi } from './openapi';
import { validateBody } from './validate';

export interface ApiDeps {
  storage: Storage;
  fleet: FleetStore;
  offers: OfferIndex;
  maxBodyBytes: number;
}

const METADATA_FILE = /^([1-9][0-9]{0,9}\.)?(root|timestamp|snapshot|targets)\.json$/;

/** Thin routes: validate, call one use-case, answer. Errors go to the error middleware. */
export function routes(deps: ApiDeps): Router {
  const r = Router();
  const body = json({ limit: deps.maxBodyBytes });

  r.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  r.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  r.post('/v1/poll', body, validateBody('PollRequest'), async (req, res) => {
    res.json({ offer: await deps.offers.offerFor(preEnrollmentFacts(req.body as PollRequest)) });
  });

  r.post('/v1/reports', body, validateBody('InstallReport'), async (req, res) => {
    await deps.fleet.recordReport(req.body as InstallReport);
    res.status(202).json({ accepted: true });
  });

  r.get('/v1/repos/:repo/metadata/:file', async (req, res) => {
    const repo = String(req.params['repo']);
    const file = String(req.params['file']);
    if (!REPOSITORIES.includes(repo as RepositoryName) || !METADATA_FILE.test(file)) {
      throw new ServerError('NOT_FOUND', `no metadata ${repo}/${file}`);
    }
    const bytes = await deps.storage.getBytes('metadata', `${repo}/${file}`, MAX_METADATA_BYTES);
    if (!bytes) throw new ServerError('NOT_FOUND', `no metadata ${repo}/${file}`);
    // Versioned files never change; timestamp.json must always be fetched fresh.
    res.setHeader('Cache-Control', file === 'timestamp.json' ? 'no-store' : 'public, max-age=31536000, immutable');
    res.type('application/json').send(bytes);
  });

  r.get('/v1/artifacts/:sha256', (req, res) => sendArtifact(deps.storage, req, res));
  r.head('/v1/artifacts/:sha256', (req, res) => sendArtifact(deps.storage, req, res));

  r.get('/v1/fleet/targets/stats', async (req, res) => {
    const name = req.query['name'];
    if (typeof name !== 'string' || name.length === 0 || name.length > 300) throw new ServerError('INVALID_INPUT', 'give ?name=TARGET');
    res.json(await deps.fleet.targetStats(name));
  });

  r.get('/v1/fleet/summary', async (req, res) => {
    const prefix = typeof req.query['prefix'] === 'string' ? req.query['prefix'].slice(0, 128) : '';
    res.json(await deps.fleet.summary(prefix));
  });

  r.use((req) => {
    throw new ServerError('NOT_FOUND', `no route ${req.method} ${req.path}`);
  });
  return r;
}
