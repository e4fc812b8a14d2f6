import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { TargetFile } from '@tufjs/models';

import { applyDelta, type DeltaBinding, deltaTargetName, readDeltaBinding } from './delta';
import { downloadIntoFolder, type DownloadOptions, partialFileIn, partialSize } from './download';
import { DeferredError, OtaError, type OtaErrorCode, VerificationError } from './errors';
import type { Installer } from './installer';
import type { VerifiedTarget } from './metadata';
import type { TrustedRepository } from './repository';

/** How the image came: the delta (its bytes) or the full image; a delta refused first is named. */
export interface Delivery {
  as: 'delta' | 'full';
  /** Artifact bytes this attempt downloaded (a resumed download counts what it fetched). */
  bytes: number;
  deltaRefused?: OtaErrorCode;
}

export interface ImageSource {
  release: TrustedRepository;
  rollout: TrustedRepository;
  installer: Installer;
  stateDir: string;
  artifactUrl(sha256: string): string;
  download: DownloadOptions;
  /** Test hook after the delta rebuilt and verified the image (a power cut there). */
  step?(name: 'delta-applied'): void;
  /** False: a delta or nothing (a metered network that allows deltas only); absent: true. */
  fullImage?: boolean;
  /** Bytes of the image rebuilt from a delta so far, and the image's length. */
  onApply?: (doneBytes: number, totalBytes: number) => void;
}

/**
 * The verified full image of `target` in the downloads folder, rebuilt from a signed delta
 * when one applies to the image the device runs, else downloaded whole. Any delta failure
 * (signed in one repository only, another base, a corrupt file, a rebuilt image that is not
 * the target) falls back to the full image and is named in the delivery; either way the
 * file returned matched the full target's signed length and sha256.
 */
export async function fetchImage(
  src: ImageSource,
  target: VerifiedTarget,
): Promise<{ file: string; delivery: Delivery }> {
  const downloads = join(src.stateDir, 'downloads');
  let deltaRefused: OtaErrorCode | undefined;
  // A whole image already here (rebuilt or downloaded before a power cut) is only re-hashed.
  const kept = await partialSize(await partialFileIn(downloads, target.sha256));
  if (kept !== target.length) {
    try {
      const rebuilt = await fromDelta(src, target, downloads);
      if (rebuilt) return rebuilt;
    } catch (err) {
      // Only a verified refusal has a code to report; anything else (a disk error) is still a fallback.
      deltaRefused = err instanceof OtaError ? err.code : 'DELTA_INVALID';
    }
  }
  const before = await partialSize(await partialFileIn(downloads, target.sha256));
  if (src.fullImage === false && before !== target.length)
    throw new DeferredError('NETWORK_METERED', {
      reason: 'metered',
      message: `the network is metered and the delta to ${target.name} did not apply${deltaRefused ? ` (${deltaRefused})` : ''}`,
    });
  const file = await downloadIntoFolder(
    downloads,
    { url: src.artifactUrl(target.sha256), length: target.length, sha256: target.sha256 },
    src.download,
  );
  return {
    file,
    delivery: { as: 'full', bytes: Math.max(0, target.length - before), ...(deltaRefused ? { deltaRefused } : {}) },
  };
}

async function fromDelta(
  src: ImageSource,
  target: VerifiedTarget,
  downloads: string,
): Promise<{ file: string; delivery: Delivery } | undefined> {
  const running = await src.installer.runningImage?.();
  if (!running) return undefined;
  const signed = await signedDelta(src, target, running.sha256);
  if (!signed) return undefined;
  const deltas = join(src.stateDir, 'deltas');
  const sha256 = signed.file.hashes['sha256']!;
  const before = await partialSize(await partialFileIn(deltas, sha256));
  const deltaFile = await downloadIntoFolder(
    deltas,
    { url: src.artifactUrl(sha256), length: signed.file.length, sha256 },
    src.download,
  );
  const output = await partialFileIn(downloads, target.sha256);
  try {
    await applyDelta(
      { base: running.file, delta: deltaFile, deltaLength: signed.file.length, output },
      signed.binding,
      src.onApply,
    );
  } catch (err) {
    await rm(output, { force: true });
    throw err;
  } finally {
    await rm(deltaFile, { force: true });
  }
  src.step?.('delta-applied');
  return { file: output, delivery: { as: 'delta', bytes: signed.file.length - before } };
}

/**
 * What `fetchImage` would download for `target`, without downloading: the signed delta when
 * one applies to the running image, else the full image (less what is already here).
 */
export async function plannedDelivery(
  src: Pick<ImageSource, 'release' | 'rollout' | 'installer' | 'stateDir'>,
  target: VerifiedTarget,
): Promise<Delivery> {
  const kept = await partialSize(await partialFileIn(join(src.stateDir, 'downloads'), target.sha256));
  const running = kept === target.length ? undefined : await src.installer.runningImage?.();
  const signed = running && (await signedDelta(src, target, running.sha256).catch(() => undefined));
  if (signed) return { as: 'delta', bytes: signed.file.length };
  return { as: 'full', bytes: Math.max(0, target.length - kept) };
}

/**
 * The delta from `baseSha256` to `target` as both repositories sign it, bound to exactly
 * that base and that target; undefined when neither lists one.
 */
async function signedDelta(
  src: Pick<ImageSource, 'release' | 'rollout'>,
  target: VerifiedTarget,
  baseSha256: string,
): Promise<{ file: TargetFile; binding: DeltaBinding } | undefined> {
  const name = deltaTargetName(target.name, baseSha256);
  const [released, offered] = [await src.release.target(name), await src.rollout.target(name)];
  if (!released && !offered) return undefined;
  if (!released || !offered)
    throw new VerificationError(
      'DELTA_MISMATCH',
      `${name} is signed in the ${released ? 'release' : 'rollout'} repository only`,
    );
  const binding = readDeltaBinding(released);
  const other = readDeltaBinding(offered);
  const same =
    released.length === offered.length &&
    released.hashes['sha256'] !== undefined &&
    released.hashes['sha256'] === offered.hashes['sha256'];
  if (!binding || !same || JSON.stringify(binding) !== JSON.stringify(other))
    throw new VerificationError('DELTA_MISMATCH', `the two repositories disagree about ${name}`);
  const t = binding.target;
  if (t.name !== target.name || t.sha256 !== target.sha256 || t.length !== target.length)
    throw new VerificationError('DELTA_MISMATCH', `${name} rebuilds another target than ${target.name}`);
  if (binding.base.sha256 !== baseSha256)
    throw new VerificationError(
      'DELTA_BASE_MISMATCH',
      `${name} applies to ${binding.base.sha256}, the device runs ${baseSha256}`,
    );
  return { file: released, binding };
}
