import { heartbeat } from '@temporalio/activity';

import { ServerError } from '../common/errors';
import type { ArtifactRef } from '../common/release';
import { MAX_ARTIFACT_BYTES } from '../common/validation';
import { artifactKey, digestOfArtifactKey } from '../infra/storage';
import type { ActivityDeps } from './deps';
import { heartbeatingWhile } from './heartbeat';

export interface IntakeResult {
  sha256: string;
  length: number;
  etag: string;
}

/**
 * Build intake: the uploaded object exists; its size and sha256, read in one stream. A build
 * uploaded to its content address (`sha256/<digest>` in the artifacts bucket) is read only
 * when storage kept no checksum of it.
 */
export async function intakeBuild(deps: ActivityDeps, input: { intakeKey: string }): Promise<IntakeResult> {
  const digest = digestOfArtifactKey(input.intakeKey);
  if (digest) return intakeAddressed(deps, digest);
  const info = await deps.storage.stat('intake', input.intakeKey);
  if (!info) throw new ServerError('INTAKE_MISMATCH', `no build at intake/${input.intakeKey}`);
  if (info.size === 0 || info.size > MAX_ARTIFACT_BYTES) {
    throw new ServerError('INTAKE_MISMATCH', `the build has ${info.size} bytes (1..${MAX_ARTIFACT_BYTES} accepted)`);
  }
  // Each chunk heartbeats (the SDK throttles them), so a worker dying mid-hash is noticed within the timeout.
  const { sha256, length } = await deps.storage.hash('intake', input.intakeKey, (read) => heartbeat({ read }));
  if (length !== info.size) throw new ServerError('INTAKE_MISMATCH', `intake object changed while it was read`);
  return { sha256, length, etag: info.etag };
}

/**
 * The sha256 comes from storage, which computed it over the bytes as they arrived and refused
 * the upload had they not matched the digest in the key (ADR 0059); the uploader's word alone
 * (the key) is never taken. An object stored without that checksum is read and hashed.
 */
async function intakeAddressed(deps: ActivityDeps, digest: string): Promise<IntakeResult> {
  const key = artifactKey(digest);
  const info = await deps.storage.statChecked('artifacts', key);
  if (!info) throw new ServerError('INTAKE_MISMATCH', `no build at artifacts/${key}`);
  if (info.size === 0 || info.size > MAX_ARTIFACT_BYTES) {
    throw new ServerError('INTAKE_MISMATCH', `the build has ${info.size} bytes (1..${MAX_ARTIFACT_BYTES} accepted)`);
  }
  const found = info.sha256
    ? { sha256: info.sha256, length: info.size }
    : await deps.storage.hash('artifacts', key, (read) => heartbeat({ read }));
  if (found.sha256 !== digest || found.length !== info.size) {
    throw new ServerError('INTAKE_MISMATCH', `artifacts/${key} does not hold a build of that sha256`);
  }
  return { sha256: digest, length: info.size, etag: info.etag };
}

/**
 * Artifact preparation: a content-addressed, server-side copy, conditional on the intake
 * object being the one that was hashed. Re-running finds the copy and does nothing.
 */
export async function prepareArtifact(
  deps: ActivityDeps,
  input: { intakeKey: string } & IntakeResult,
): Promise<ArtifactRef> {
  const key = artifactKey(input.sha256);
  const existing = await deps.storage.stat('artifacts', key);
  if (!existing && digestOfArtifactKey(input.intakeKey)) {
    throw new ServerError('INTAKE_MISMATCH', `artifacts/${key} was removed after intake`);
  } else if (!existing) {
    try {
      await heartbeatingWhile(
        deps.storage.copyIfUnchanged(
          { bucket: 'intake', key: input.intakeKey, etag: input.etag },
          { bucket: 'artifacts', key },
        ),
      );
    } catch (err) {
      if ((err as { code?: string }).code === 'PreconditionFailed') {
        throw new ServerError('INTAKE_MISMATCH', 'the intake object was replaced after it was hashed', { cause: err });
      }
      throw err;
    }
  } else if (existing.size !== input.length) {
    throw new ServerError('ARTIFACT_CORRUPT', `artifacts/${key} exists with another size`);
  }
  return { sha256: input.sha256, length: input.length, artifactKey: key };
}
