import type { Client } from '@temporalio/client';
import { Router, type RequestHandler } from 'express';
import { readMetadataStatus } from '../control/metadataStatus';
import type { Config } from '../infra/config';
import type { Permission } from './permissions';

/** Metadata freshness (every role's version and expiry, the re-signing schedule), as `ota metadata status` shows it. */
export function metadataRoutes(deps: { temporal: Client; config: Config; guard: (permission: Permission) => RequestHandler }): Router {
  const r = Router();
  r.get('/v1/admin/metadata', deps.guard('read'), async (_req, res) => {
    res.json(await readMetadataStatus(deps.temporal, deps.config));
  });
  return r;
}
