import { createHash } from 'node:crypto';

import { DELTA_FIELD, DELTA_FORMAT } from '@enigm-ota/client-sdk';
import type { TargetFile, Targets } from '@tufjs/models';

import { ServerError } from '../common/errors';
import {
  type ArtifactRef,
  type DeltaTarget,
  type ReleaseSpec,
  type ReleaseTarget,
  releaseTarget,
} from '../common/release';
import { MAX_METADATA_BYTES } from '../trust/metadataFiles';
import { targetFile } from '../trust/roleMetadata';
import type { ActivityDeps } from './deps';
import { retiredNames } from './retire';

/** Signed targets staged for one file set (`partition` absent: the flat one). */
export interface StagedPart {
  partition?: string;
  version: number;
  key: string;
}

/** What release signing staged: one part per file set the release goes into. */
export interface StagedRef {
  parts: StagedPart[];
}

/** Manifest creation: the TUF target and the policy fields devices will check. */
export async function createManifest(
  deps: ActivityDeps,
  input: { spec: ReleaseSpec; artifact: ArtifactRef; deltas?: DeltaTarget[] },
): Promise<ReleaseTarget> {
  const { spec } = input;
  const target = releaseTarget(input);
  // The provenance must be about this build: a statement for another artifact proves nothing of it.
  if (spec.documents?.provenance && !(spec.provenanceSubjects ?? []).includes(target.sha256)) {
    throw new ServerError(
      'VALIDATION_FAILED',
      `the provenance names no artifact with the build's sha256 ${target.sha256} among its subjects`,
    );
  }
  for (const set of await deps.repos.release.fileSetsFor(spec.channel, spec.hardwareIds)) {
    const published = (await set.targetsOrNone())[target.name];
    if (published && published.hashes['sha256'] !== target.sha256) {
      // A published target never changes: devices may already hold it.
      throw new ServerError('VALIDATION_FAILED', `${target.name} is already published with other content`);
    }
  }
  return target;
}

/**
 * Release signing: the new targets of every file set the release goes into (one per
 * hardware id when partitioned), signed in the HSM by the release keys (their threshold),
 * staged in storage.
 */
export async function signRelease(deps: ActivityDeps, input: { target: ReleaseTarget }): Promise<StagedRef> {
  const t = input.target;
  const parts: StagedPart[] = [];
  for (const set of await deps.repos.release.fileSetsFor(t.custom.channel, t.custom.hardwareIds)) {
    const staged = await set.signTargets((targets) => {
      targets.addTarget(targetFile({ name: t.name, length: t.length, sha256: t.sha256, custom: t.custom }));
      for (const delta of deltaEntries(t)) targets.addTarget(delta);
    });
    const bytes = Buffer.from(staged.json);
    const key = `staging/${set.scope}/${staged.version}-${createHash('sha256').update(bytes).digest('hex')}.targets.json`;
    await deps.storage.putBytes('metadata', key, bytes);
    parts.push({ ...(set.partition ? { partition: set.partition } : {}), version: staged.version, key });
  }
  return { parts };
}

/** Release registration: each staged targets file, then its snapshot and timestamp (online key). */
export async function registerRelease(deps: ActivityDeps, input: { staged: StagedRef | StagedPart }): Promise<void> {
  // A release signed before partitions staged one flat part.
  const parts = 'parts' in input.staged ? input.staged.parts : [input.staged];
  for (const part of parts) {
    const bytes = await deps.storage.getBytes('metadata', part.key, MAX_METADATA_BYTES);
    if (!bytes) throw new ServerError('NOT_FOUND', `staged metadata ${part.key} is missing`);
    const set = part.partition ? deps.repos.release.partitionNamed(part.partition) : deps.repos.release.flat;
    await set.register({ version: part.version, json: bytes.toString('utf8') });
  }
}

export interface RolloutInput {
  target: ReleaseTarget;
  releaseId: string;
  percent: number;
  paused: boolean;
  withdrawn: boolean;
  approvals: Array<{ approver: string; at: string }>;
}

/**
 * Rollout state, signed by the online rollout key: what devices may install, and who. In a
 * partitioned repository each partition the release is in also drops its retired releases
 * (activities/retire.ts): from the release repository first, so a retry after a crash in
 * between finds them again in the rollout repository and finishes the job.
 */
export async function publishRollout(deps: ActivityDeps, input: RolloutInput): Promise<void> {
  const { target: t } = input;
  const rollout = {
    // Targeting travels with every publish, so no step, pause or resume widens the audience.
    ...t.targeting,
    // Windows too: a step or a resume never lets devices install outside them (D-19).
    ...(t.windows ? { windows: t.windows } : {}),
    percent: input.percent,
    salt: input.releaseId,
    paused: input.paused,
    withdrawn: input.withdrawn,
    approvals: input.approvals,
  };
  const entry = targetFile({ name: t.name, length: t.length, sha256: t.sha256, custom: { ...t.custom, rollout } });
  await addRolloutEntry(
    deps,
    { channel: t.custom.channel, hardwareIds: t.custom.hardwareIds },
    { entry, deltas: deltaEntries(t) },
  );
}

/**
 * A release's delta updates as signed targets (the same entry in both repositories): each
 * bound to its base image and to the full target it rebuilds (client-sdk/src/delta.ts).
 */
export function deltaEntries(t: ReleaseTarget): TargetFile[] {
  return (t.deltas ?? []).map((d) =>
    targetFile({
      name: d.name,
      length: d.length,
      sha256: d.sha256,
      custom: {
        [DELTA_FIELD]: {
          format: DELTA_FORMAT,
          base: { sha256: d.base.sha256, length: d.base.length },
          target: { name: t.name, sha256: t.sha256, length: t.length },
        },
      },
    }),
  );
}

/**
 * Adds (or replaces) one rollout entry, and the release's delta entries, in every file set of
 * these hardware ids, retiring as it goes.
 */
export async function addRolloutEntry(
  deps: ActivityDeps,
  { channel, hardwareIds }: { channel: string; hardwareIds: readonly string[] },
  { entry, deltas = [] }: { entry: TargetFile; deltas?: TargetFile[] },
): Promise<void> {
  const add = (targets: Targets) => {
    targets.addTarget(entry);
    for (const delta of deltas) targets.addTarget(delta);
  };
  for (const set of await deps.repos.rollout.fileSetsFor(channel, hardwareIds)) {
    if (!set.partition) {
      await set.publish(add);
      continue;
    }
    const current = await set.targetsOrNone();
    // One list for both repositories, so the rollout never lists what the release repository dropped.
    const retired = retiredNames(
      { ...current, [entry.path]: entry, ...Object.fromEntries(deltas.map((d) => [d.path, d])) },
      deps.retention.keepStable,
    );
    // The release repository is moved separately (ota keys partition): while it is flat, it keeps everything.
    if (retired.length > 0 && (await deps.repos.release.layout()) === 'partitioned') {
      await deps.repos.release.partitionNamed(set.partition).publish((targets) => {
        for (const name of retired) delete targets.targets[name];
      });
    }
    await set.publish((targets) => {
      add(targets);
      for (const name of retired) delete targets.targets[name];
    });
  }
}
