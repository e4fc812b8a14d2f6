import type { Client } from '@temporalio/client';
import { Router, type RequestHandler } from 'express';
import { readMetadataStatus } from '../control/metadataStatus';
import type { Config } from '../infra/config';
import type { Watermarks } from '../infra/watermarks';
import type { Permission } from './permissions';

/** Metadata freshness (every role's version and expiry, the re-signing schedule), as `ota metadata status` shows it. */
export function metadataRoutes(deps: { temporal: Client; config: Config; watermarks: Watermarks; guard: (permission: Permission) => RequestHandler }): Router {
  const r = Router();
  r.get('/v1/admin/metadata', deps.guard('read'), async (_req, res) => {
    res.json(await readMetadataStatus(deps.temporal, deps.config, () => deps.watermarks.list()));
  });
  // What workers check storage against before they build on it (worker/apiFloor.ts).
  r.get('/v1/admin/metadata/watermarks', deps.guard('read'), async (_req, res) => {
    res.json(await deps.watermarks.list());
  });
  return r;
}
