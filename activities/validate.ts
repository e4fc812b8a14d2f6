import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  applyDelta,
  checkPartitionFile,
  checkReleaseDocument,
  readDeltaBinding,
  readReleaseFields,
  tufJsErrors,
} from '@enigm-ota/client-sdk';
import { heartbeat } from '@temporalio/activity';
import { BaseFetcher, Updater } from 'tuf-js';

import type { FleetBreakdown } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { ReleaseTarget } from '../common/release';
import { DOCUMENT_KINDS, documentKey, MAX_DOCUMENT_BYTES, type ReleaseDocuments } from '../common/releaseDocuments';
import { artifactKey, type Storage } from '../infra/storage';
import { MAX_METADATA_BYTES } from '../trust/metadataFiles';
import type { MetadataFileSet } from '../trust/metadataFileSet';
import { type ChannelEntry, channelFitProblems } from './channelFit';
import type { ActivityDeps } from './deps';
import { deltaEntries } from './signAndPublish';

/** Lets tuf-js read a repository straight from storage: `store:///release/2.targets.json`. */
class StorageFetcher extends BaseFetcher {
  constructor(
    private readonly storage: Storage,
    /** The file set's partition: every file must name it, as a device checks (none: flat). */
    private readonly partition: string | undefined,
  ) {
    super();
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    // A partition's roots are its repository's, as the API serves them.
    const key = new URL(url).pathname
      .replace(/^\/+/, '')
      .replace(/^([a-z]+)\/p\/[^/]+\/[^/]+\/([0-9]+\.root\.json)$/, '$1/$2');
    const bytes = await this.storage.getBytes('metadata', key, MAX_METADATA_BYTES);
    if (!bytes) throw new tufJsErrors.DownloadHTTPError(`${key} not found`, 404);
    checkPartitionFile(key, bytes, this.partition);
    return new Blob([new Uint8Array(bytes)]).stream();
  }
}

/**
 * Validation: the artifact's bytes still match the signed digest, the published metadata is
 * refreshed from the trusted root with tuf-js, exactly as a device would, and the release
 * is checked against what its channel already runs (rollback index, version, hardware).
 */
export async function validateRelease(deps: ActivityDeps, input: { target: ReleaseTarget }): Promise<void> {
  const t = input.target;
  await checkArtifactBytes(deps.storage, t);
  // Every file set the release went into (one per hardware id when partitioned), as a device of it would read it.
  for (const set of await deps.repos.release.fileSetsFor(t.custom.channel, t.custom.hardwareIds))
    await verifyAsDevice(deps, set, t);
  await checkDeltasRebuild(deps.storage, t);
  await checkChannelFit(deps, t);
}

/**
 * S-4: the bytes devices will download have the signed length and sha256: the sha256 storage
 * computed over them as they arrived and keeps with them (a replacement through the S3 API gets
 * its own), or, for an object stored without one, the bytes read again and hashed (ADR 0059).
 */
async function checkArtifactBytes(storage: Storage, t: ReleaseTarget): Promise<void> {
  const key = artifactKey(t.sha256);
  const stored = await storage.statChecked('artifacts', key);
  if (!stored) throw new ServerError('ARTIFACT_CORRUPT', `artifacts/${key} is gone`);
  const actual = stored.sha256
    ? { sha256: stored.sha256, length: stored.size }
    : await storage.hash('artifacts', key, (read) => heartbeat({ read }));
  if (actual.sha256 !== t.sha256 || actual.length !== t.length || stored.size !== t.length) {
    throw new ServerError('ARTIFACT_CORRUPT', `artifacts/${key} no longer matches its digest`);
  }
}

/** Each delta, applied to its base as a device would (client-sdk/src/delta.ts), rebuilds exactly the target. */
async function checkDeltasRebuild(storage: Storage, t: ReleaseTarget): Promise<void> {
  for (const entry of deltaEntries(t)) {
    const dir = await mkdtemp(join(tmpdir(), 'ota-delta-check-'));
    try {
      const fetch = async (sha256: string, file: string) => {
        const hash = createHash('sha256');
        const metered = new Transform({
          transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            heartbeat();
            done(null, chunk);
          },
        });
        await pipeline(await storage.getStream('artifacts', artifactKey(sha256)), metered, createWriteStream(file));
        if (hash.digest('hex') !== sha256)
          throw new ServerError('ARTIFACT_CORRUPT', `artifacts/${artifactKey(sha256)} no longer matches its digest`);
      };
      const binding = readDeltaBinding(entry)!;
      await fetch(binding.base.sha256, join(dir, 'base'));
      await fetch(entry.hashes['sha256']!, join(dir, 'delta'));
      await applyDelta(
        { base: join(dir, 'base'), delta: join(dir, 'delta'), deltaLength: entry.length, output: join(dir, 'out') },
        binding,
        () => heartbeat(),
      );
    } catch (err) {
      if (err instanceof ServerError) throw err;
      throw new ServerError(
        'VALIDATION_FAILED',
        `delta ${entry.path} does not rebuild ${t.name}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

async function verifyAsDevice(
  deps: ActivityDeps,
  { scope, partition }: MetadataFileSet,
  t: ReleaseTarget,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-validate-'));
  try {
    await writeFile(join(dir, 'root.json'), JSON.stringify(deps.trustedRoots.release.toJSON()));
    const updater = new Updater({
      metadataDir: dir,
      metadataBaseUrl: `store:///${scope}`,
      fetcher: new StorageFetcher(deps.storage, partition),
    });
    const info = await updater.getTargetInfo(t.name).catch((err: unknown) => {
      throw new ServerError('VALIDATION_FAILED', `release metadata (${scope}) does not verify: ${String(err)}`, {
        cause: err,
      });
    });
    if (!info)
      throw new ServerError('VALIDATION_FAILED', `${t.name} is not in the verified release metadata (${scope})`);
    const policy = readReleaseFields(info);
    const { documents, ...fields } = t.custom;
    const same =
      info.length === t.length &&
      info.hashes['sha256'] === t.sha256 &&
      JSON.stringify(policy) === JSON.stringify(fields);
    if (!same)
      throw new ServerError('VALIDATION_FAILED', `${t.name} as published (${scope}) differs from the manifest`);
    await validateDocuments(deps, { custom: info.custom, documents, scope });
    for (const d of deltaEntries(t)) {
      const listed = await updater.getTargetInfo(d.path);
      if (
        !listed ||
        listed.length !== d.length ||
        listed.hashes['sha256'] !== d.hashes['sha256'] ||
        JSON.stringify(readDeltaBinding(listed)) !== JSON.stringify(readDeltaBinding(d))
      ) {
        throw new ServerError('VALIDATION_FAILED', `delta ${d.path} as published (${scope}) differs from the manifest`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The release against what its channel already runs (activities/channelFit.ts). */
async function checkChannelFit(deps: ActivityDeps, t: ReleaseTarget): Promise<void> {
  // The channel's targets in every file set (its partitions, or the flat set); one entry per name.
  const entries = async (repo: 'release' | 'rollout'): Promise<ChannelEntry[]> => {
    const found = new Map<string, ChannelEntry>();
    for (const set of await deps.repos[repo].fileSets(t.custom.channel)) {
      for (const [name, file] of Object.entries(await set.targetsOrNone())) {
        found.set(name, { name, custom: (file.unrecognizedFields['custom'] ?? {}) as ChannelEntry['custom'] });
      }
    }
    return [...found.values()];
  };
  const fleet = await deps.api.get<FleetBreakdown>('/v1/fleet/breakdown');
  const hardware = new Set(Object.keys(fleet.hardwareIds).filter((h) => h !== '(none)'));
  const problems = channelFitProblems(t, {
    offered: await entries('rollout'),
    released: await entries('release'),
    fleetHardware: hardware,
  });
  if (problems.length > 0)
    throw new ServerError(
      'VALIDATION_FAILED',
      `${t.name} does not fit channel ${t.custom.channel}: ${problems.join('; ')}`,
    );
}

/** Each document the release came with, read back from storage and checked as a device or auditor would. */
async function validateDocuments(
  deps: ActivityDeps,
  { custom, documents, scope }: { custom: unknown; documents: ReleaseDocuments | undefined; scope: string },
): Promise<void> {
  for (const kind of DOCUMENT_KINDS) {
    const ref = documents?.[kind];
    if (!ref) continue;
    const bytes = await deps.storage.getBytes('artifacts', documentKey(ref.sha256), MAX_DOCUMENT_BYTES);
    try {
      if (!bytes) throw new Error(`${kind} ${ref.sha256} is not in storage`);
      checkReleaseDocument(custom, kind, bytes);
    } catch (err) {
      throw new ServerError('VALIDATION_FAILED', `the ${kind} as published (${scope}): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}
