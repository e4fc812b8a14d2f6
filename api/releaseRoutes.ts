import { randomUUID } from 'node:crypto';

import type { InstallWindow } from '@enigm-ota/client-sdk/installWindows';
import type { Client } from '@temporalio/client';
import { type RequestHandler, type Response, Router } from 'express';

import { deliverySummary, OPS_ACTIONS } from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import type { ReleaseSpec, ReleaseStatus, RolloutStep } from '../common/release';
import { DOCUMENT_KINDS, type DocumentKind, type ReleaseDocuments } from '../common/releaseDocuments';
import {
  channelPolicy,
  DEFAULT_DELTA_BASES,
  planDeltaBases,
  planSteps,
  planWindows,
  type PolicyFile,
} from '../common/rolloutPolicy';
import {
  checkDeltaBases,
  checkInstallWindows,
  checkPattern,
  checkSteps,
  MAX_ARTIFACT_BYTES,
  patterns,
} from '../common/validation';
import {
  decideRelease,
  listReleases,
  releaseAction,
  releaseStatus,
  resolveChannel,
  startRelease,
} from '../control/releases';
import type { DocumentStore } from '../infra/documentStore';
import type { FleetStore } from '../infra/fleetStore';
import type { Storage } from '../infra/storage';
import { type AuditNote, operatorOf } from './auth';
import { httpStatusOf } from './errorResponses';
import type { Permission } from './permissions';
import { queryText, releaseOf } from './query';
import { withBody } from './requestBodies';
import { jsonBody } from './untrusted';

export interface ReleaseRouteDeps {
  temporal: Client;
  storage: Storage;
  fleet: FleetStore;
  documents: DocumentStore;
  rolloutPolicy: PolicyFile;
  guard: (permission: Permission) => RequestHandler;
}

const UPLOAD_PREFIX = 'uploads/api/';
/** A JSON body of at most 64 KiB: a release's steps and targeting, or a comment. */
const body = jsonBody(64 * 1024);
/** The keys POST /v1/admin/uploads hands out; anything else (a "..", "//") is not looked up in storage. */
const UPLOAD_KEY = new RegExp(
  `^${UPLOAD_PREFIX}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/${patterns.fileName.slice(1)}`,
);

/**
 * Releases through the admin API: the operator's identity comes from their token, never
 * from the request, so approvals, pauses and rollbacks carry who really sent them.
 */
export function releaseRoutes(deps: ReleaseRouteDeps): Router {
  const r = Router();
  creationRoutes(r, deps);
  readRoutes(r, deps);
  decisionRoutes(r, deps);
  operationRoutes(r, deps);
  return r;
}

/** A build's upload into the intake bucket, then the release that takes it from there. */
function creationRoutes(r: Router, deps: ReleaseRouteDeps): void {
  const { guard } = deps;
  r.post('/v1/admin/uploads', guard('release.create'), async (req, res) => {
    const fileName = checkPattern('fileName', queryText(req, 'fileName') ?? '');
    const size = Number(req.header('content-length'));
    if (!Number.isInteger(size) || size < 1 || size > MAX_ARTIFACT_BYTES) {
      throw new ServerError(
        'PAYLOAD_TOO_LARGE',
        `an artifact upload needs a Content-Length of 1 to ${MAX_ARTIFACT_BYTES} bytes`,
      );
    }
    await deps.storage.ensureBuckets();
    const key = `${UPLOAD_PREFIX}${randomUUID()}/${fileName}`;
    res.locals['audit'] = { action: 'artifact.upload', subject: key, detail: `${size} bytes` };
    await deps.storage.putStream('intake', key, { body: req, size });
    res.status(201).json({ uploadKey: key, fileName, size });
  });
  r.post(
    '/v1/admin/releases',
    guard('release.create'),
    body,
    withBody('CreateRelease', async (b, _req, res) => {
      if (!UPLOAD_KEY.test(b.uploadKey) || !(await deps.storage.stat('intake', b.uploadKey))) {
        throw new InputError(`no upload ${b.uploadKey} (POST /v1/admin/uploads first)`);
      }
      const { plan, steps, deltaBases, windows } = chooseSteps(deps.rolloutPolicy, b);
      res.locals['audit'] = { action: 'release.create', subject: `${b.channel}/${b.version}`, detail: `plan ${plan}` };
      const docs = await releaseDocuments(deps.documents, b.documents ?? {});
      const { documents: _named, ...rest } = b;
      const created = await startRelease(
        { client: deps.temporal, storage: deps.storage },
        {
          ...rest,
          ...docs.spec,
          fileName: b.uploadKey.split('/').pop()!,
          intakeKey: b.uploadKey,
          plan,
          steps,
          deltaBases,
          ...(windows ? { windows } : {}),
          security: b.security ?? false,
          createdBy: operatorOf(res).name,
        },
      );
      await deps.documents.attach(b, docs.attached);
      res.status(201).json(created);
    }),
  );
}

/**
 * The documents a release names, as the API checked and stored them (POST /v1/admin/documents):
 * each must exist and be of its kind. What the workflow signs, and what the store links.
 */
async function releaseDocuments(
  store: DocumentStore,
  named: { sbom?: string; provenance?: string },
): Promise<{
  spec: Pick<ReleaseSpec, 'documents' | 'provenanceSubjects'>;
  attached: Array<{ kind: DocumentKind; sha256: string }>;
}> {
  const documents: ReleaseDocuments = {};
  let subjects: string[] | undefined;
  for (const kind of DOCUMENT_KINDS) {
    const sha256 = named[kind];
    if (!sha256) continue;
    const doc = await store.get(sha256);
    if (!doc || doc.kind !== kind)
      throw new InputError(`no ${kind} ${sha256} (upload it first: POST /v1/admin/documents?kind=${kind})`);
    documents[kind] = { sha256, length: doc.length, format: doc.format };
    if (kind === 'provenance') subjects = doc.subjects;
  }
  const attached = DOCUMENT_KINDS.filter((k) => documents[k]).map((kind) => ({
    kind,
    sha256: documents[kind]!.sha256,
  }));
  return {
    spec: attached.length ? { documents, ...(subjects ? { provenanceSubjects: subjects } : {}) } : {},
    attached,
  };
}

/** What releases there are, and where each stands (with its devices' reports and deliveries). */
function readRoutes(r: Router, deps: ReleaseRouteDeps): void {
  const { guard } = deps;
  r.get('/v1/admin/releases', guard('read'), async (req, res) => {
    res.json(await listReleases(deps.temporal, { channel: queryText(req, 'channel'), stage: queryText(req, 'stage') }));
  });
  r.get('/v1/admin/releases/resolve', guard('read'), async (req, res) => {
    const version = queryText(req, 'version') ?? '';
    res.json({ channel: await resolveChannel(deps.temporal, version, queryText(req, 'channel')) });
  });
  r.get('/v1/admin/releases/:channel/:version', guard('read'), async (req, res) => {
    const status = await releaseStatus(deps.temporal, releaseOf(req));
    const devices = status.target ? await deps.fleet.targetStats(status.target.name) : undefined;
    const delivery = status.target
      ? deliverySummary(await deps.fleet.deliveryStats(status.target.name), status.target.length)
      : undefined;
    res.json({ ...status, devices, delivery });
  });
}

/** A release owner's approval or rejection, as the signed-in operator. */
function decisionRoutes(r: Router, deps: ReleaseRouteDeps): void {
  for (const decision of ['approve', 'reject'] as const) {
    r.post(
      `/v1/admin/releases/:channel/:version/${decision}`,
      deps.guard('release.decide'),
      body,
      withBody('Decision', async ({ comment }, req, res) => {
        const release = releaseOf(req);
        res.locals['audit'] = {
          action: `release.${decision}`,
          subject: `${release.channel}/${release.version}`,
          reason: comment,
        };
        const input = { approver: operatorOf(res).name, comment };
        await answerChange(res, deps.fleet, decideRelease(deps.temporal, release, { decision, input }));
      }),
    );
  }
}

/**
 * One route per action, not `:action`: another word (POST .../insights) is then no route of
 * this path, so it is answered 405 or 404 (api/methods.ts), never validated as an action.
 */
function operationRoutes(r: Router, deps: ReleaseRouteDeps): void {
  for (const action of OPS_ACTIONS) {
    r.post(
      `/v1/admin/releases/:channel/:version/${action}`,
      deps.guard('release.operate'),
      body,
      withBody('OpsAction', async ({ reason, to }, req, res) => {
        if (to !== undefined && action !== 'rollback') throw new InputError('"to" is for rollback only');
        const release = releaseOf(req);
        res.locals['audit'] = {
          action: `release.${action}`,
          subject: `${release.channel}/${release.version}`,
          reason,
          detail: to && `to ${to}`,
        };
        const input = { actor: operatorOf(res).name, reason, to };
        await answerChange(res, deps.fleet, releaseAction(deps.temporal, release, { action, input }));
      }),
    );
  }
}

/**
 * Answers with the release's status once its update is done. The update returns once the
 * workflow has published the signed rollout state; then every replica drops its cached copy, so
 * the change applies to their next poll (infra/changes.ts).
 *
 * S-19: the audit line of an update no worker ran says what happened: NO_WORKER (refused,
 * nothing changed) or UPDATE_PENDING (accepted, applies when a worker runs), which the audit
 * hook would otherwise both record as a plain failure.
 */
async function answerChange(res: Response, fleet: FleetStore, update: Promise<ReleaseStatus>): Promise<void> {
  try {
    const status = await update;
    await fleet.notify('rollout');
    res.json(status);
  } catch (err) {
    const note = res.locals['audit'] as AuditNote | undefined;
    if (note && err instanceof ServerError && (err.code === 'NO_WORKER' || err.code === 'UPDATE_PENDING')) {
      const outcome = err.code === 'NO_WORKER' ? 'refused, nothing changed' : 'accepted, applies when a worker runs';
      note.detail = [note.detail, `HTTP ${httpStatusOf(err.code)} ${err.code}: ${outcome}`].filter(Boolean).join('; ');
    }
    throw err;
  }
}

/**
 * A named plan from the server's policy (the channel's by default), or custom steps. Windows
 * given with the release replace the plan's; custom steps come with none but those given.
 */
function chooseSteps(
  policy: PolicyFile,
  b: {
    channel: string;
    plan?: string;
    steps?: RolloutStep[];
    security?: boolean;
    deltaBases?: number;
    windows?: InstallWindow[];
  },
): { plan: string; steps: RolloutStep[]; deltaBases: number; windows?: InstallWindow[] } {
  const windows = checkInstallWindows(b.windows);
  if (b.steps !== undefined)
    return {
      plan: 'custom',
      steps: checkSteps(b.steps),
      deltaBases: checkDeltaBases(b.deltaBases) ?? DEFAULT_DELTA_BASES,
      windows,
    };
  const plan = b.plan ?? (b.security ? 'security' : channelPolicy(policy, checkPattern('channel', b.channel)).plan);
  return {
    plan,
    steps: planSteps(policy, plan),
    deltaBases: checkDeltaBases(b.deltaBases) ?? planDeltaBases(policy, plan),
    windows: windows ?? planWindows(policy, plan),
  };
}
