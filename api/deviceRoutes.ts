import { createHash } from 'node:crypto';

import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import { type Request, type RequestHandler, type Response, Router } from 'express';

import { ServerError } from '../common/errors';
import { fleetFactsOf } from '../fleet/fleetDeviceFacts';
import type { OfferIndex } from '../fleet/offers';
import { checkReceipt, type ReceiptAttestation } from '../fleet/receipts';
import type { Config } from '../infra/config';
import type { Devices } from '../infra/devices';
import type { FleetStore } from '../infra/fleetStore';
import type { Storage } from '../infra/storage';
import { partitionName } from '../trust/layout';
import type { MetadataFileSet } from '../trust/metadataFileSet';
import type { MetadataRepository } from '../trust/metadataRepository';
import { artifactHandler } from './artifacts';
import { deviceAuth, deviceCertificateOf, deviceOf, sameDevice } from './auth';
import { MetadataCache } from './metadataCache';
import { notePoll, noteReport } from './observability';
import { openapi } from './openapi';
import { withBody } from './requestBodies';
import { ServedTimestamps } from './servedTimestamps';
import { jsonBody } from './untrusted';

export interface DeviceRouteDeps {
  storage: Storage;
  /** Both repositories, reading through the API's floor (timestamp.json is served through it). */
  repos: Record<RepositoryName, MetadataRepository>;
  /** How artifact bytes reach devices (a presigned storage URL, or streamed here). */
  artifactServing: Config['artifacts'];
  fleet: FleetStore;
  devices: Devices;
  offers: OfferIndex;
  maxBodyBytes: number;
  /** Versioned metadata files shared between devices (absent: every request reads storage). */
  metadataCache?: MetadataCache;
  /** Each file set's checked timestamp.json shared between devices (absent: every request reads storage). */
  servedTimestamps?: ServedTimestamps;
  /** How receipts co-signed by an attestation key are checked (absent: such a co-signature is not kept). */
  receiptAttestation?: ReceiptAttestation;
}

const METADATA_FILE = /^([1-9][0-9]{0,9}\.)?(root|timestamp|snapshot|targets)\.json$/;

/**
 * The device API. Thin routes: validate, call one use-case, answer; errors go to the error
 * middleware. Everything but health, the OpenAPI document and enrollment needs the
 * device's certificate (mutual TLS), and a device may only speak for itself.
 */
export function deviceRoutes(deps: DeviceRouteDeps): Router {
  const r = Router();
  const body = jsonBody(deps.maxBodyBytes);
  const device = deviceAuth(deps.devices);
  r.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  r.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  r.post(
    '/v1/poll',
    device,
    body,
    withBody('PollRequest', async (poll, _req, res) => {
      sameDevice(res, poll.deviceId);
      const offer = await deps.offers.offerFor(fleetFactsOf(deviceOf(res), poll));
      notePoll(res, offer);
      res.json({ offer });
    }),
  );

  r.post(
    '/v1/reports',
    device,
    body,
    withBody('InstallReport', async (report, _req, res) => {
      sameDevice(res, report.deviceId);
      const receipt = await checkReceipt(report, deviceCertificateOf(res), deps.receiptAttestation);
      const stored = await deps.fleet.recordReport(report, receipt);
      // A duplicate is not counted again in the metrics either.
      if (stored) noteReport(res, report);
      res.status(202).json({ accepted: true, duplicate: !stored });
    }),
  );

  metadataFileRoutes(r, { deps, device });

  const artifacts = { storage: deps.storage, offers: deps.offers, serving: deps.artifactServing };
  r.get('/v1/artifacts/:sha256', device, artifactHandler(artifacts));
  r.head('/v1/artifacts/:sha256', device, artifactHandler(artifacts));

  return r;
}

/** The repositories' metadata, flat or one partition's, as a device reads it. */
function metadataFileRoutes(r: Router, { deps, device }: { deps: DeviceRouteDeps; device: RequestHandler }): void {
  const files = {
    metadata: deps.metadataCache ?? MetadataCache.over(deps.storage),
    timestamps: deps.servedTimestamps ?? new ServedTimestamps(0),
  };
  const repositoryOf = (req: Request) => {
    const repo = String(req.params['repo']);
    if (!REPOSITORIES.includes(repo as RepositoryName))
      throw new ServerError('NOT_FOUND', `no repository ${repo.slice(0, 40)}`);
    return deps.repos[repo as RepositoryName];
  };
  r.get('/v1/repos/:repo/metadata/:file', device, async (req, res) => {
    await sendMetadata(req, res, { ...files, set: repositoryOf(req).flat, file: String(req.params['file']) });
  });
  // A partition's files (trust/layout.ts): a device reads only its own channel and hardware's,
  // as enrolled, so what a partition holds reaches only the devices it concerns.
  r.get('/v1/repos/:repo/p/:channel/:hardware/metadata/:file', device, async (req, res) => {
    const repository = repositoryOf(req);
    const [channel, hardware] = [String(req.params['channel']), String(req.params['hardware'])];
    const asked = partitionName(channel, hardware);
    const own = deviceOf(res);
    if (!own.channel || !own.hardwareId || asked !== partitionName(own.channel, own.hardwareId)) {
      throw new ServerError(
        'METADATA_REFUSED',
        `device ${own.deviceId} is enrolled for ${own.channel ?? '(no channel)'}/${own.hardwareId ?? '(no hardware)'}, not ${asked}`,
      );
    }
    const set = repository.partition(channel, hardware);
    await sendMetadata(req, res, { ...files, set, file: String(req.params['file']) });
  });
}

/**
 * One metadata file of a file set. Roots are the repository's (shared by its partitions);
 * timestamp.json decides what a device sees next: verified and checked against the
 * watermarks first (STORAGE_ROLLBACK), so no replica serves a rolled-back view.
 */
async function sendMetadata(
  req: Request,
  res: Response,
  {
    set,
    file,
    metadata,
    timestamps,
  }: { set: MetadataFileSet; file: string; metadata: MetadataCache; timestamps: ServedTimestamps },
): Promise<void> {
  const where = `${set.scope}/${file.slice(0, 40)}`;
  if (!METADATA_FILE.test(file)) throw new ServerError('NOT_FOUND', `no metadata ${where}`);
  const bytes = file === 'timestamp.json' ? await timestamps.get(set) : await metadata.get(set.storageKey(file));
  if (!bytes) throw new ServerError('NOT_FOUND', `no metadata ${where}`);
  // Versioned files never change; timestamp.json must always be asked for again, but a device
  // that already holds this one gets 304 and no bytes (most polls find nothing changed).
  if (file === 'timestamp.json') {
    const etag = `"${createHash('sha256').update(bytes).digest('hex')}"`;
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', etag);
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
  } else {
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
  }
  res.type('application/json').send(bytes);
}
