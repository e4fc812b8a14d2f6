import { stat } from 'node:fs/promises';
import { basename } from 'node:path';

import type { InstallWindow } from '@enigm-ota/client-sdk/installWindows';
import type { Client, WorkflowHandle, WorkflowUpdateHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateStage } from '@temporalio/client';

import type { OpsAction, ReleaseListItem } from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import {
  abortUpdate,
  type ApproveInput,
  approveUpdate,
  type OpsInput,
  pauseUpdate,
  promoteUpdate,
  rejectUpdate,
  resumeUpdate,
  rollbackUpdate,
  statusQuery,
} from '../common/messages';
import {
  type ReleaseSpec,
  type ReleaseStatus,
  releaseWorkflowId,
  type RolloutStep,
  STAGES,
  type Targeting,
} from '../common/release';
import {
  awaitingApprovalKey,
  channelKey,
  percentKey,
  RELEASE_TASK_QUEUE,
  RELEASE_WORKFLOW,
  releaseQuery,
  stageKey,
  versionKey,
} from '../common/temporalNames';
import {
  checkHardwareIds,
  checkPattern,
  checkReleaseSpec,
  checkRollbackIndex,
  checkSteps,
  checkVersion,
  MAX_ARTIFACT_BYTES,
} from '../common/validation';
import { fileSha256 } from '../infra/fileStream';
import { artifactKey, digestOfArtifactKey, type Storage } from '../infra/storage';
import type { releaseWorkflow } from '../workflows';
import { fromTemporal } from './temporal';
import {
  ACCEPT_GRACE_MS,
  ACCEPT_WINDOW_MS,
  noWorker,
  QUERY_DEADLINE_MS,
  requireWorker,
  timedOut,
  UPDATE_DEADLINE_MS,
} from './workerPresence';

export interface CreateReleaseInput {
  artifact: string;
  version: string;
  hardwareIds: string[];
  channel: string;
  rollbackIndex: number;
  plan: string;
  steps: RolloutStep[];
  security: boolean;
  createdBy: string;
  /** History events per run before continue-as-new (tests lower it). */
  historyLimit?: number;
  minSourceVersion?: string;
  targeting?: Targeting;
  /** Delta updates from this many earlier releases (the plan's setting; absent: 2). */
  deltaBases?: number;
  /** Install windows (signed; D-19); absent: devices install any time. */
  windows?: InstallWindow[];
  /** The SBOM and provenance the API checked and stored (their digests are signed). */
  documents?: ReleaseSpec['documents'];
  provenanceSubjects?: string[];
}

export type StartReleaseInput = Omit<CreateReleaseInput, 'artifact'> & { intakeKey: string; fileName: string };

/** A release, named as operators name it: its channel and version. */
export interface ReleaseRef {
  channel: string;
  version: string;
}

/** Where releases run (Temporal) and where their builds are uploaded (the intake bucket). */
export interface ReleaseServices {
  client: Client;
  storage: Storage;
}

/**
 * `ota release create` run locally (the demo, tests, benchmarks): validate everything first,
 * refuse an existing release before uploading, upload to the build's content address, then start.
 */
export async function createRelease(
  services: ReleaseServices,
  input: CreateReleaseInput,
  onProgress?: (sent: number, total: number) => void,
): Promise<{ releaseId: string; intakeKey: string }> {
  const { client, storage } = services;
  const fileName = checkPattern('fileName', basename(input.artifact));
  const spec = checkRelease({ ...input, intakeKey: 'pending', fileName });
  const info = await stat(input.artifact).catch(() => undefined);
  if (!info?.isFile()) throw new InputError(`no artifact file at ${input.artifact}`);
  if (info.size === 0 || info.size > MAX_ARTIFACT_BYTES)
    throw new InputError(`artifact must have 1 byte to ${MAX_ARTIFACT_BYTES} bytes`);
  await refuseExisting(client, spec.channel, spec.version);
  await storage.ensureBuckets();
  // Straight to its content address, storage checking the digest as the bytes arrive: the
  // worker reads storage's sha256 rather than the bytes, and nothing is copied (ADR 0059).
  const sha256 = await fileSha256(input.artifact);
  const intakeKey = artifactKey(sha256);
  await storage.putFileChecked('artifacts', intakeKey, { file: input.artifact, sha256, onProgress });
  return startRelease(services, { ...input, intakeKey, fileName });
}

/**
 * The admin API's path: the artifact is already in the intake bucket (uploaded through the
 * API). A release that exists is refused by the start itself (REJECT_DUPLICATE), and the
 * new upload is removed.
 */
export async function startRelease(
  { client, storage }: ReleaseServices,
  input: StartReleaseInput,
): Promise<{ releaseId: string; intakeKey: string }> {
  const spec = checkRelease(input);
  const releaseId = releaseWorkflowId(spec.channel, spec.version);
  try {
    await client.workflow.start<typeof releaseWorkflow>(RELEASE_WORKFLOW, {
      taskQueue: RELEASE_TASK_QUEUE,
      workflowId: releaseId,
      args: [spec],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `${spec.security ? 'Security release' : 'Release'} ${spec.version} on ${spec.channel} for ${spec.hardwareIds.join(', ')}`,
      staticDetails: `Created by ${spec.createdBy}. Plan ${spec.plan}: ${spec.steps.map((s) => `${s.percent}% / ${s.bakeTimeMs / 1000}s${s.gate === 'approval' ? ' (approval)' : ''}`).join(', ')}`,
      typedSearchAttributes: [
        { key: versionKey, value: spec.version },
        { key: channelKey, value: spec.channel },
        { key: stageKey, value: 'intake' },
        { key: percentKey, value: 0 },
        { key: awaitingApprovalKey, value: false },
      ],
    });
  } catch (err) {
    // A content-addressed upload may be another release's artifact: it stays.
    if (!digestOfArtifactKey(input.intakeKey)) await storage.remove('intake', input.intakeKey).catch(() => undefined);
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new ServerError(
        'RELEASE_EXISTS',
        `release ${spec.version} on channel ${spec.channel} already exists (${releaseId})`,
      );
    }
    throw err;
  }
  return { releaseId, intakeKey: input.intakeKey };
}

function checkRelease(input: StartReleaseInput): ReleaseSpec {
  const spec: ReleaseSpec = {
    version: checkVersion(input.version),
    channel: checkPattern('channel', input.channel),
    hardwareIds: checkHardwareIds(input.hardwareIds),
    rollbackIndex: checkRollbackIndex(input.rollbackIndex),
    intakeKey: input.intakeKey,
    fileName: checkPattern('fileName', input.fileName),
    createdBy: checkPattern('actor', input.createdBy),
    plan: checkPattern('plan', input.plan),
    steps: checkSteps(input.steps),
    security: input.security === true,
    historyLimit: input.historyLimit,
    ...(input.minSourceVersion !== undefined ? { minSourceVersion: input.minSourceVersion } : {}),
    ...(input.targeting !== undefined ? { targeting: input.targeting } : {}),
    ...(input.deltaBases !== undefined ? { deltaBases: input.deltaBases } : {}),
    ...(input.windows !== undefined ? { windows: input.windows } : {}),
    ...(input.documents !== undefined ? { documents: input.documents } : {}),
    ...(input.provenanceSubjects !== undefined ? { provenanceSubjects: input.provenanceSubjects } : {}),
  };
  checkReleaseSpec(spec);
  return spec;
}

async function refuseExisting(client: Client, channel: string, version: string): Promise<void> {
  const releaseId = releaseWorkflowId(channel, version);
  if (await exists(client.workflow.getHandle(releaseId))) {
    throw new ServerError('RELEASE_EXISTS', `release ${version} on channel ${channel} already exists (${releaseId})`);
  }
}

async function exists(handle: WorkflowHandle): Promise<boolean> {
  try {
    await handle.describe();
    return true;
  } catch (err) {
    if ((fromTemporal(err, handle.workflowId) as ServerError).code === 'NOT_FOUND') return false;
    throw err;
  }
}

/**
 * A version alone names a release when exactly one channel has it; otherwise the
 * operator must say which channel (found through the OtaVersion search attribute).
 */
export async function resolveChannel(client: Client, version: string, channel?: string): Promise<string> {
  if (channel !== undefined) return checkPattern('channel', channel);
  checkVersion(version);
  const channels = new Set<string>();
  for await (const wf of client.workflow.list({ query: releaseQuery({ version }) })) {
    const c = wf.typedSearchAttributes.get(channelKey);
    if (c) channels.add(c);
  }
  if (channels.size === 0) throw new ServerError('NOT_FOUND', `unknown release ${version}`);
  if (channels.size > 1)
    throw new InputError(`release ${version} exists on channels ${[...channels].sort().join(', ')}: give --channel`);
  return [...channels][0]!;
}

function handleFor(client: Client, { channel, version }: ReleaseRef): WorkflowHandle<typeof releaseWorkflow> {
  return client.workflow.getHandle(releaseWorkflowId(checkPattern('channel', channel), checkVersion(version)));
}

function nameOf({ channel, version }: ReleaseRef): string {
  return `${version} on channel ${channel}`;
}

/** Status from the workflow's query; a finished release answers with its result. */
export async function releaseStatus(client: Client, release: ReleaseRef): Promise<ReleaseStatus> {
  const handle = handleFor(client, release);
  await requireWorker(client);
  return queryStatus(client, handle, nameOf(release));
}

/** A query waits for a worker to replay the workflow: bounded, so a dead worker gives NO_WORKER, not a hang. */
async function queryStatus(
  client: Client,
  handle: WorkflowHandle<typeof releaseWorkflow>,
  what: string,
): Promise<ReleaseStatus> {
  try {
    return await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery));
  } catch (err) {
    if (timedOut(err)) throw noWorker(`no worker answered for release ${what} within ${QUERY_DEADLINE_MS / 1000} s`);
    throw fromTemporal(err, what);
  }
}

const OPS = {
  pause: pauseUpdate,
  resume: resumeUpdate,
  rollback: rollbackUpdate,
  promote: promoteUpdate,
  abort: abortUpdate,
} as const;

/** An operator's action on a release (pause, resume, rollback, promote, abort), as the actor named in `input`. */
export async function releaseAction(
  client: Client,
  release: ReleaseRef,
  { action, input }: { action: OpsAction; input: OpsInput },
): Promise<ReleaseStatus> {
  return sendUpdate(client, release, {
    action,
    start: (h, notAfter) =>
      h.startUpdate(OPS[action], { args: [{ ...input, notAfter }], waitForStage: WorkflowUpdateStage.ACCEPTED }),
  });
}

type StartUpdate = (
  h: WorkflowHandle<typeof releaseWorkflow>,
  notAfter: number,
) => Promise<WorkflowUpdateHandle<ReleaseStatus>>;

/**
 * S-19: an update is sent only while a worker serves releases, and each wait is bounded below
 * the CLI's HTTP timeout. Not accepted in time: NO_WORKER, and the workflow refuses it if it
 * arrives later (`notAfter`), so nothing changes. Accepted but not done in time: UPDATE_PENDING
 * (it is in the release's history and completes when a worker runs).
 */
async function sendUpdate(
  client: Client,
  release: ReleaseRef,
  { action, start }: { action: string; start: StartUpdate },
): Promise<ReleaseStatus> {
  const handle = handleFor(client, release);
  const { version } = release;
  await requireWorker(client);
  const began = Date.now();
  const notAfter = began + ACCEPT_WINDOW_MS;
  let update: WorkflowUpdateHandle<ReleaseStatus>;
  try {
    update = await client.withDeadline(notAfter + ACCEPT_GRACE_MS, () => start(handle, notAfter));
  } catch (err) {
    if (timedOut(err))
      throw noWorker(
        `no worker took the ${action} within ${ACCEPT_WINDOW_MS / 1000} s; nothing was changed, and the release refuses it if it arrives later`,
      );
    throw await refusal(client, { handle, release, action }, err);
  }
  try {
    return await client.withDeadline(began + UPDATE_DEADLINE_MS, () => update.result());
  } catch (err) {
    if (timedOut(err)) {
      throw new ServerError(
        'UPDATE_PENDING',
        `release ${version} accepted the ${action}, but it did not finish within ${UPDATE_DEADLINE_MS / 1000} s (no worker runs, or its publish is still being retried); it completes when it can (see ota release status)`,
      );
    }
    throw await refusal(client, { handle, release, action }, err);
  }
}

/**
 * An update to a finished release is refused as WRONG_STAGE (its workflow exists, closed).
 * Only when the update did not reach the workflow: an update that ran and failed with
 * NOT_FOUND (rollback --to a version never released) keeps its own code and message.
 */
async function refusal(
  client: Client,
  update: { handle: WorkflowHandle<typeof releaseWorkflow>; release: ReleaseRef; action: string },
  err: unknown,
): Promise<unknown> {
  const what = nameOf(update.release);
  if (err instanceof WorkflowNotFoundError && (await exists(update.handle))) {
    const final = await queryStatus(client, update.handle, what);
    return new ServerError(
      'WRONG_STAGE',
      `cannot ${update.action} release ${update.release.version}: it is ${final.stage}`,
    );
  }
  return fromTemporal(err, what);
}

/** A release owner's approval or rejection, as the approver named in `input`. */
export async function decideRelease(
  client: Client,
  release: ReleaseRef,
  { decision, input }: { decision: 'approve' | 'reject'; input: ApproveInput },
): Promise<ReleaseStatus> {
  return sendUpdate(client, release, {
    action: decision,
    start: (h, notAfter) =>
      h.startUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, {
        args: [{ ...input, notAfter }],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
  });
}

export function approveRelease(client: Client, release: ReleaseRef, input: ApproveInput): Promise<ReleaseStatus> {
  return decideRelease(client, release, { decision: 'approve', input });
}

/** `ota release list`: from Temporal's visibility, through the release search attributes. */
export async function listReleases(
  client: Client,
  filter: { channel?: string; stage?: string },
): Promise<ReleaseListItem[]> {
  if (filter.channel !== undefined) checkPattern('channel', filter.channel);
  if (filter.stage !== undefined && !(STAGES as readonly string[]).includes(filter.stage)) {
    throw new InputError(`unknown stage ${filter.stage} (one of ${STAGES.join(', ')})`);
  }
  const items: ReleaseListItem[] = [];
  for await (const wf of client.workflow.list({ query: releaseQuery(filter) })) {
    const a = wf.typedSearchAttributes;
    items.push({
      releaseId: wf.workflowId,
      version: a.get(versionKey) ?? '',
      channel: a.get(channelKey) ?? '',
      stage: a.get(stageKey) ?? '',
      percent: a.get(percentKey) ?? 0,
      awaitingApproval: a.get(awaitingApprovalKey) ?? false,
      status: wf.status.name,
      startedAt: wf.startTime.toISOString(),
    });
    if (items.length >= 1000) break;
  }
  return items;
}

/** Polls the status until `done` holds (used by the demo and tests; the CLI has `status`). */
export async function waitForStatus(
  client: Client,
  release: ReleaseRef & { timeoutMs?: number },
  done: (s: ReleaseStatus) => boolean,
): Promise<ReleaseStatus> {
  const { version, timeoutMs = 120_000 } = release;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A worker being (re)started is waited for like any other state, within the same deadline.
    const s = await releaseStatus(client, release).catch((err: unknown) => {
      if (err instanceof ServerError && err.code === 'NO_WORKER' && Date.now() < deadline) return undefined;
      throw err;
    });
    if (s === undefined) {
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    if (done(s)) return s;
    if (s.stage === 'failed')
      throw new ServerError('VALIDATION_FAILED', `release failed: ${s.error?.code}: ${s.error?.message}`);
    if (Date.now() > deadline)
      throw new ServerError('UNAVAILABLE', `release ${version} still in ${s.stage} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
