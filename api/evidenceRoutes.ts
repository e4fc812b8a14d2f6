import type { RepositoryName } from '@enigm-ota/client-sdk';
import type { Client } from '@temporalio/client';
import { type RequestHandler, Router } from 'express';

import { ServerError } from '../common/errors';
import { releaseStatus } from '../control/releases';
import type { FleetStore } from '../infra/fleetStore';
import type { Storage } from '../infra/storage';
import type { TransparencyLog } from '../infra/transparencyLog';
import { exportEvidence } from '../transparency/evidence';
import type { MetadataRepository } from '../trust/metadataRepository';
import type { Permission } from './permissions';
import { releaseOf } from './query';

export interface EvidenceRouteDeps {
  temporal: Client;
  tlog: TransparencyLog | undefined;
  fleet: FleetStore;
  storage: Storage;
  repos: Record<RepositoryName, MetadataRepository>;
  guard: (permission: Permission) => RequestHandler;
}

/** A release's evidence file for an auditor (ADR 0080): `ota release evidence`, the dashboard's link. */
export function evidenceRoutes(deps: EvidenceRouteDeps): Router {
  const r = Router();
  r.get('/v1/admin/releases/:channel/:version/evidence', deps.guard('read'), async (req, res) => {
    if (!deps.tlog) throw new ServerError('UNAVAILABLE', 'no transparency log is configured (OTA_TLOG_URL)');
    const status = await releaseStatus(deps.temporal, releaseOf(req));
    if (!status.target)
      throw new ServerError('NOT_FOUND', `${status.channel}/${status.version} has no signed target yet`);
    const { storage, repos } = deps;
    const tar = await exportEvidence(
      { tlog: deps.tlog, storage, repos, sql: deps.fleet.sql },
      { channel: status.channel, version: status.version, target: status.target },
    );
    res.type('application/x-tar').attachment(`evidence-${status.channel}-${status.version}.tar`).send(tar);
  });
  return r;
}
