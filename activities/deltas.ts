import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import { DELTA_FORMAT, deltaTargetName } from '@enigm-ota/client-sdk';
import { heartbeat } from '@temporalio/activity';

import type { ArtifactRef, DeltaTarget, ReleaseSpec } from '../common/release';
import { targetName } from '../common/release';
import { DEFAULT_DELTA_BASES } from '../common/rolloutPolicy';
import { buildDeltaFile, type PatchStore } from '../infra/bsdiffSegments';
import { artifactKey, type Storage } from '../infra/storage';
import type { MetadataRepository } from '../trust/metadataRepository';
import { deltaBaseCandidates } from './deltaBases';
import type { ActivityDeps } from './deps';
import { heartbeatingWhile } from './heartbeat';

const MAX_DONE_BYTES = 64 * 1024;
/** A delta is signed only when it saves a device at least a fifth of the full image. */
const MAX_DELTA_SHARE = 0.8;

/**
 * Artifact preparation, second half: delta updates to the new image from the newest
 * `spec.deltaBases` earlier releases of the same channel and hardware that both repositories
 * still list (retired ones are no base: their devices take the full image), never a protected
 * one (activities/deltaBases.ts).
 * Each delta is content-addressed in the artifacts bucket like any image. Resumable: every
 * segment's patch is kept in storage as it is made and a finished delta leaves a marker, so
 * a retry after a crash redoes at most the segment that was under way. Heartbeats name the
 * base and segment.
 */
export async function buildDeltas(
  deps: ActivityDeps,
  input: { spec: ReleaseSpec; artifact: ArtifactRef },
): Promise<DeltaTarget[]> {
  const { spec, artifact } = input;
  const bases = await findDeltaBases(deps, spec, artifact.sha256);
  const name = targetName(spec.channel, spec.version, spec.fileName);
  const built: DeltaTarget[] = [];
  for (const [i, base] of bases.entries()) {
    heartbeat({ base: i + 1, of: bases.length, version: base.version });
    const delta = await buildOne(deps.storage, { base: base, target: artifact }, (segment, of) =>
      heartbeat({ base: i + 1, of: bases.length, version: base.version, segment, segments: of }),
    );
    if (delta.length > artifact.length * MAX_DELTA_SHARE) {
      // Unrelated images (a new toolchain, encrypted builds): the full image costs no more.
      await deps.storage.remove('artifacts', artifactKey(delta.sha256));
      continue;
    }
    built.push({ name: deltaTargetName(name, base.sha256), ...delta, base });
  }
  return built;
}

/**
 * The newest `spec.deltaBases` earlier releases whose images may be bases (activities/deltaBases.ts:
 * never a protected release's) and are still in storage, newest first.
 */
async function findDeltaBases(
  deps: ActivityDeps,
  spec: ReleaseSpec,
  newSha256: string,
): Promise<DeltaTarget['base'][]> {
  const wanted = spec.deltaBases ?? DEFAULT_DELTA_BASES;
  if (wanted === 0) return [];
  const targetsOf = async (repo: MetadataRepository) =>
    (await Promise.all((await repo.fileSetsFor(spec.channel, spec.hardwareIds)).map((s) => s.targetsOrNone()))).flatMap(
      (targets) => Object.values(targets),
    );
  const candidates = deltaBaseCandidates({
    spec,
    newSha256,
    released: await targetsOf(deps.repos.release),
    offered: await targetsOf(deps.repos.rollout),
  });
  const bases: DeltaTarget['base'][] = [];
  for (const base of candidates) {
    if (bases.length === wanted) break;
    // An image no longer in storage cannot be a base (its devices take the full image).
    if (await deps.storage.stat('artifacts', artifactKey(base.sha256))) bases.push(base);
  }
  return bases;
}

async function buildOne(
  storage: Storage,
  { base, target }: { base: DeltaTarget['base']; target: ArtifactRef },
  progress: (segment: number, of: number) => void,
): Promise<{ length: number; sha256: string }> {
  // The format in the key: a build left by an older format is neither resumed nor reused.
  const pair = `${DELTA_FORMAT.replace('/', '-')}/${base.sha256}-${target.sha256}`;
  const doneKey = `deltas/done/${pair}.json`;
  const done = await storage.getBytes('artifacts', doneKey, MAX_DONE_BYTES);
  if (done) return JSON.parse(done.toString('utf8')) as { length: number; sha256: string };
  const work = join(tmpdir(), 'enigm-deltas', pair);
  await mkdir(work, { recursive: true });
  const patchKey = (i: number) => `deltas/work/${pair}/${i}`;
  // Patches live in storage as they are made: a retry on any worker picks up from the last one.
  const patches: PatchStore = {
    size: async (i) => (await storage.stat('artifacts', patchKey(i)))?.size,
    keep: async (i, file) => (await storage.putFile('artifacts', patchKey(i), { file })).size,
    read: async (i) => (await storage.getStream('artifacts', patchKey(i))) as AsyncIterable<Buffer>,
  };
  try {
    await download(storage, base.sha256, join(work, 'base'));
    await download(storage, target.sha256, join(work, 'target'));
    const delta = await buildDeltaFile(
      { base: join(work, 'base'), target: join(work, 'target'), work, out: join(work, 'delta') },
      {
        patches,
        onSegment: progress,
        during: heartbeatingWhile,
      },
    );
    await storage.putFile('artifacts', artifactKey(delta.sha256), { file: join(work, 'delta') });
    const result = { length: delta.length, sha256: delta.sha256 };
    await storage.putBytes('artifacts', doneKey, Buffer.from(JSON.stringify(result)));
    for (let i = 0; i < delta.segments.length; i++) await storage.remove('artifacts', patchKey(i));
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function download(storage: Storage, sha256: string, file: string): Promise<void> {
  await heartbeatingWhile(pipeline(await storage.getStream('artifacts', artifactKey(sha256)), createWriteStream(file)));
}
