import type { RepositoryName } from '@enigm-ota/client-sdk';
import type { Client } from '@temporalio/client';
import { type RequestHandler, Router } from 'express';

import { readMetadataStatus } from '../control/metadataStatus';
import type { Config } from '../infra/config';
import type { FleetStore } from '../infra/fleetStore';
import type { Watermarks } from '../infra/watermarks';
import type { MetadataRepository } from '../trust/metadataRepository';
import type { Permission } from './permissions';
import { withBody } from './requestBodies';
import { PUBLISHED_FILE_CHARS } from './schemas';
import { jsonBody } from './untrusted';

/**
 * Metadata freshness and storage watermarks (every role's version and expiry, the re-signing
 * schedule), as `ota metadata status` shows them.
 */
export function metadataRoutes(deps: {
  temporal: Client;
  config: Config;
  watermarks: Watermarks;
  repos: Record<RepositoryName, MetadataRepository>;
  fleet: FleetStore;
  guard: (permission: Permission) => RequestHandler;
}): Router {
  const r = Router();
  r.get('/v1/admin/metadata', deps.guard('read'), async (_req, res) => {
    res.json(await readMetadataStatus(deps.temporal, deps.config, () => deps.watermarks.list()));
  });
  // What workers check storage against before they build on it (trust/apiFloor.ts).
  r.get('/v1/admin/metadata/watermarks', deps.guard('read'), async (_req, res) => {
    res.json(await deps.watermarks.list());
  });
  // S-25: a writer reports what it published before it reports success, so the watermarks
  // stand at it even if no replica read it before storage was rolled back. Only files that
  // verify against the trusted root raise anything, and only to versions that were signed
  // for publication, so any token that may read may send it (the worker's is a viewer's).
  // S-24: every replica drops its caches, so a change the worker made by itself (a step, a
  // gate's pause) is served at once, not when a cache expires.
  r.post(
    '/v1/admin/metadata/published',
    deps.guard('read'),
    jsonBody(2 * PUBLISHED_FILE_CHARS + 1024),
    withBody('PublishedMetadata', async ({ repo, partition, timestamp, snapshot }, _req, res) => {
      const set = partition === undefined ? deps.repos[repo].flat : deps.repos[repo].partitionNamed(partition);
      res.locals['audit'] = { action: 'metadata.published', subject: set.scope };
      await set.admitPublished({
        timestamp: Buffer.from(timestamp, 'base64'),
        snapshot: Buffer.from(snapshot, 'base64'),
      });
      await deps.fleet.notify('rollout');
      res.json(await deps.watermarks.list());
    }),
  );
  // S-25: a deliberate restore of older storage is refused like an attack until an admin
  // accepts it: the repository's watermarks are dropped (audited with the reason), and the
  // next verified reads set them again from what storage holds now.
  r.post(
    '/v1/admin/metadata/accept-storage',
    deps.guard('metadata.manage'),
    jsonBody(4 * 1024),
    withBody('AcceptStorage', async ({ repo, reason }, _req, res) => {
      res.locals['audit'] = { action: 'metadata.accept-storage', subject: repo, reason };
      res.json({ repo, cleared: await deps.watermarks.reset(repo) });
    }),
  );
  return r;
}
