import { createHash } from 'node:crypto';
import { ServerError } from '../common/errors';
import { targetName, type ArtifactRef, type ReleaseSpec, type ReleaseTarget } from '../common/release';
import { MAX_METADATA_BYTES, targetFile } from '../trust/tufRepository';
import type { ActivityDeps } from './deps';

export interface StagedRef {
  version: number;
  key: string;
}

/** Manifest creation: the TUF target and the policy fields devices will check. */
export async function createManifest(
  deps: ActivityDeps,
  input: { spec: ReleaseSpec; artifact: ArtifactRef },
): Promise<ReleaseTarget> {
  const { spec, artifact } = input;
  const target: ReleaseTarget = {
    name: targetName(spec.channel, spec.version, spec.fileName),
    length: artifact.length,
    sha256: artifact.sha256,
    custom: {
      version: spec.version,
      channel: spec.channel,
      hardwareIds: spec.hardwareIds,
      rollbackIndex: spec.rollbackIndex,
      ...(spec.minSourceVersion !== undefined ? { minSourceVersion: spec.minSourceVersion } : {}),
    },
    ...(spec.targeting ? { targeting: spec.targeting } : {}),
  };
  const published = (await deps.repos.release.targets()).signed.targets[target.name];
  if (published && published.hashes['sha256'] !== target.sha256) {
    // A published target never changes: devices may already hold it.
    throw new ServerError('VALIDATION_FAILED', `${target.name} is already published with other content`);
  }
  return target;
}

/** Release signing: the new targets, signed in the HSM by the release keys (their threshold), staged in storage. */
export async function signRelease(deps: ActivityDeps, input: { target: ReleaseTarget }): Promise<StagedRef> {
  const t = input.target;
  const staged = await deps.repos.release.stage(
    (targets) => targets.addTarget(targetFile(t.name, t.length, t.sha256, t.custom)),
  );
  const bytes = Buffer.from(staged.json);
  const key = `staging/release/${staged.version}-${createHash('sha256').update(bytes).digest('hex')}.targets.json`;
  await deps.storage.putBytes('metadata', key, bytes);
  return { version: staged.version, key };
}

/** Release registration: the staged targets, then snapshot and timestamp (online key). */
export async function registerRelease(deps: ActivityDeps, input: { staged: StagedRef }): Promise<void> {
  const bytes = await deps.storage.getBytes('metadata', input.staged.key, MAX_METADATA_BYTES);
  if (!bytes) throw new ServerError('NOT_FOUND', `staged metadata ${input.staged.key} is missing`);
  await deps.repos.release.register({ version: input.staged.version, json: bytes.toString('utf8') });
}

export interface RolloutInput {
  target: ReleaseTarget;
  releaseId: string;
  percent: number;
  paused: boolean;
  withdrawn: boolean;
  approvals: Array<{ approver: string; at: string }>;
}

/** Rollout state, signed by the online rollout key: what devices may install, and who. */
export async function publishRollout(deps: ActivityDeps, input: RolloutInput): Promise<void> {
  const { target: t } = input;
  const rollout = {
    // Targeting travels with every publish, so no step, pause or resume widens the audience.
    ...t.targeting,
    percent: input.percent,
    salt: input.releaseId,
    paused: input.paused,
    withdrawn: input.withdrawn,
    approvals: input.approvals,
  };
  await deps.repos.rollout.publish(
    (targets) => targets.addTarget(targetFile(t.name, t.length, t.sha256, { ...t.custom, rollout })),
  );
}
