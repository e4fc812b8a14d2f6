import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { ServerError, InputError } from '../common/errors';
import { approveUpdate, pauseUpdate, resumeUpdate, rollbackUpdate, statusQuery, type ApproveInput, type OpsInput } from '../common/messages';
import { releaseWorkflowId, type ReleaseSpec, type ReleaseStatus, type RolloutStep } from '../common/release';
import { channelKey, stageKey, versionKey, awaitingApprovalKey, percentKey } from '../common/searchAttributes';
import { RELEASE_TASK_QUEUE } from '../common/taskQueues';
import { checkHardwareIds, checkPattern, checkRollbackIndex, checkSteps, checkVersion, MAX_ARTIFACT_BYTES } from '../common/validation';
import type { Storage } from '../infra/storage';
import { fromTemporal } from './temporal';
import type { releaseWorkflow } from '../workflows';

export interface CreateReleaseInput {
  artifact: string;
  version: string;
  hardwareIds: string[];
  channel: string;
  rollbackIndex: number;
  steps: RolloutStep[];
  createdBy: string;
}

/**
 * `ota release create`: validate everything first, refuse an existing release before
 * uploading, upload to a fresh intake key, then start the workflow (duplicate ids refused).
 */
export async function createRelease(
  client: Client,
  storage: Storage,
  input: CreateReleaseInput,
  onProgress?: (sent: number, total: number) => void,
): Promise<{ releaseId: string; intakeKey: string }> {
  const version = checkVersion(input.version);
  const channel = checkPattern('channel', input.channel);
  const hardwareIds = checkHardwareIds(input.hardwareIds);
  const rollbackIndex = checkRollbackIndex(input.rollbackIndex);
  const steps = checkSteps(input.steps);
  const fileName = checkPattern('fileName', basename(input.artifact));
  const info = await stat(input.artifact).catch(() => undefined);
  if (!info?.isFile()) throw new InputError(`no artifact file at ${input.artifact}`);
  if (info.size === 0 || info.size > MAX_ARTIFACT_BYTES) throw new InputError(`artifact must have 1 byte to ${MAX_ARTIFACT_BYTES} bytes`);

  const releaseId = releaseWorkflowId(channel, version);
  if (await exists(client.workflow.getHandle(releaseId))) {
    throw new ServerError('RELEASE_EXISTS', `release ${version} on channel ${channel} already exists (${releaseId})`);
  }
  await storage.ensureBuckets();
  const intakeKey = `uploads/${releaseId}/${randomUUID()}/${fileName}`;
  await storage.putFile('intake', intakeKey, input.artifact, onProgress);
  const spec: ReleaseSpec = { version, channel, hardwareIds, rollbackIndex, intakeKey, fileName, createdBy: input.createdBy, steps };
  try {
    await client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
      taskQueue: RELEASE_TASK_QUEUE,
      workflowId: releaseId,
      args: [spec],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `Release ${version} on ${channel} for ${hardwareIds.join(', ')}`,
      staticDetails: `Created by ${input.createdBy}. Steps: ${steps.map((s) => `${s.percent}% / ${s.bakeTimeMs / 1000}s`).join(', ')}`,
      typedSearchAttributes: [
        { key: versionKey, value: version },
        { key: channelKey, value: channel },
        { key: stageKey, value: 'intake' },
        { key: percentKey, value: 0 },
        { key: awaitingApprovalKey, value: false },
      ],
    });
  } catch (err) {
    await storage.remove('intake', intakeKey).catch(() => undefined);
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new ServerError('RELEASE_EXISTS', `release ${version} on channel ${channel} already exists (${releaseId})`);
    }
    throw err;
  }
  return { releaseId, intakeKey };
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
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'releaseWorkflow' AND OtaVersion = '${version}'` })) {
    const c = wf.typedSearchAttributes.get(channelKey);
    if (c) channels.add(c);
  }
  if (channels.size === 0) throw new ServerError('NOT_FOUND', `unknown release ${version}`);
  if (channels.size > 1) throw new InputError(`release ${version} exists on channels ${[...channels].sort().join(', ')}: give --channel`);
  return [...channels][0]!;
}

function handleFor(client: Client, channel: string, version: string): WorkflowHandle<typeof releaseWorkflow> {
  return client.workflow.getHandle(releaseWorkflowId(checkPattern('channel', channel), checkVersion(version)));
}

/** Status from the workflow's query; a finished release answers with its result. */
export async function releaseStatus(client: Client, channel: string, version: string): Promise<ReleaseStatus> {
  const handle = handleFor(client, channel, version);
  try {
    return await handle.query(statusQuery);
  } catch (err) {
    throw fromTemporal(err, `${version} on channel ${channel}`);
  }
}

export type OpsAction = 'pause' | 'resume' | 'rollback';
const OPS = { pause: pauseUpdate, resume: resumeUpdate, rollback: rollbackUpdate } as const;

export async function releaseAction(client: Client, channel: string, version: string, action: OpsAction, input: OpsInput): Promise<ReleaseStatus> {
  const handle = handleFor(client, channel, version);
  try {
    return await handle.executeUpdate(OPS[action], { args: [input] });
  } catch (err) {
    throw fromTemporal(err, `${version} on channel ${channel}`);
  }
}

export async function approveRelease(client: Client, channel: string, version: string, input: ApproveInput): Promise<ReleaseStatus> {
  const handle = handleFor(client, channel, version);
  try {
    return await handle.executeUpdate(approveUpdate, { args: [input] });
  } catch (err) {
    throw fromTemporal(err, `${version} on channel ${channel}`);
  }
}

/** Polls the status until `done` holds (used by the demo and tests; the CLI has `status`). */
export async function waitForStatus(
  client: Client,
  channel: string,
  version: string,
  done: (s: ReleaseStatus) => boolean,
  timeoutMs = 120_000,
): Promise<ReleaseStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await releaseStatus(client, channel, version);
    if (done(s)) return s;
    if (s.stage === 'failed') throw new ServerError('VALIDATION_FAILED', `release failed: ${s.error?.code}: ${s.error?.message}`);
    if (Date.now() > deadline) throw new ServerError('UNAVAILABLE', `release ${version} still in ${s.stage} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function describeStatus(s: ReleaseStatus): string {
  const lines = [
    `release ${s.version} on ${s.channel} (${s.releaseId})`,
    `  stage:     ${s.stage}${s.paused ? ' (paused)' : ''}${s.withdrawn ? ' (withdrawn)' : ''}`,
    `  rollout:   ${s.percent}% of steps ${s.steps.map((x) => `${x.percent}%`).join(' → ')}`,
    `  waiting:   ${s.waitingFor}`,
    `  hardware:  ${s.hardwareIds.join(', ')}`,
  ];
  if (s.target) lines.push(`  target:    ${s.target.name} (${s.target.length} bytes, sha256 ${s.target.sha256})`);
  for (const a of s.approvals) lines.push(`  approved:  ${a.approver} at ${a.at}${a.comment ? `: ${a.comment}` : ''}`);
  if (s.error) lines.push(`  error:     ${s.error.code}: ${s.error.message}`);
  for (const h of s.history.slice(-10)) lines.push(`  ${h.at}  ${h.action}${h.actor ? ` by ${h.actor}` : ''}${h.detail ? `: ${h.detail}` : ''}`);
  return lines.join('\n');
}
