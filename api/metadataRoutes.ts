import type { Client } from '@temporalio/client';
import { type RequestHandler, Router } from 'express';

import { readMetadataStatus } from '../control/metadataStatus';
import type { Config } from '../infra/config';
import type { Watermarks } from '../infra/watermarks';
import type { Permission } from './permissions';
import { withBody } from './requestBodies';
import { jsonBody } from './untrusted';

/**
 * Metadata freshness and storage watermarks (every role's version and expiry, the re-signing
 * schedule), as `ota metadata status` shows them.
 */
export function metadataRoutes(deps: {
  temporal: Client;
  config: Config;
  watermarks: Watermarks;
  guard: (permission: Permission) => RequestHandler;
}): Router {
  const r = Router();
  r.get('/v1/admin/metadata', deps.guard('read'), async (_req, res) => {
    res.json(await readMetadataStatus(deps.temporal, deps.config, () => deps.watermarks.list()));
  });
  // What workers check storage against before they build on it (worker/apiFloor.ts).
  r.get('/v1/admin/metadata/watermarks', deps.guard('read'), async (_req, res) => {
    res.json(await deps.watermarks.list());
  });
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
