import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { readCappedIfPresent } from './cappedFile';
import { writeFileDurably } from './durable';
import { InstallError } from './errors';
import type { Delivery } from './imageFetch';
import { isTargetName } from './installPolicy';
import { isSemver } from './semver';

/** What a device persists between polls. */
export interface DeviceState {
  currentVersion: string;
  /** Highest rollbackIndex this device has booted and confirmed. */
  rollbackIndex: number;
  /**
   * One target name per trial boot that was reverted on this device, newest last (at most
   * MAX_REVERTED entries). A target reverted TRIALS_PER_TARGET times is refused with
   * TARGET_REVERTED when offered again, instead of another download, reboot and revert.
   */
  reverted?: string[];
}

/**
 * Trials of one target before the device gives up on it. Not one: a power cut during the
 * trial boot looks exactly like an image that fails it, and must not stop the device from
 * converging. A fixed release is a new target and gets its own trials.
 */
export const TRIALS_PER_TARGET = 2;
/** Enough for the last few bad releases' trials. */
export const MAX_REVERTED = 16;

/**
 * An install whose outcome is not settled and reported yet. It is written before the
 * trial boot so that after a power cut the agent still knows the verified rollbackIndex
 * of the version it may find running (D-9, D-14).
 */
export interface PendingInstall {
  targetName: string;
  version: string;
  rollbackIndex: number;
  /** Sent with the outcome report, so resending it after a lost answer counts once. */
  reportId?: string;
  /** How the image came (delta or full, bytes), for the report; dropped when malformed. */
  delivery?: Delivery;
  /** The verified image's sha256 and the rollout timestamp version the install acted on: signed into its receipt. */
  sha256?: string;
  timestampVersion?: number;
  /** Its trial failed and is counted in `reverted` already: reported as a revert until the report arrives. */
  trialFailed?: boolean;
}

export interface StoredState extends DeviceState {
  pending?: PendingInstall;
}

/** D-10: a damaged state file must never read as "no rollback index": it stops every install. */
export async function readDeviceState(dir: string, initial: DeviceState): Promise<StoredState> {
  let bytes: Buffer | undefined;
  try {
    bytes = await readCappedIfPresent(join(dir, 'state.json'), MAX_STATE_BYTES);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== undefined) throw err;
    throw new InstallError('DEVICE_STATE_INVALID', `device state.json is ${(err as Error).message}`, { cause: err });
  }
  if (bytes === undefined) return { ...initial };
  const text = bytes.toString('utf8');
  let state: Partial<StoredState> | null;
  try {
    state = JSON.parse(text) as Partial<StoredState> | null;
  } catch (err) {
    throw new InstallError('DEVICE_STATE_INVALID', 'device state.json is not JSON', { cause: err });
  }
  const raw = state?.pending;
  if (!isVersionAndIndex(state)) {
    throw new InstallError('DEVICE_STATE_INVALID', 'device state.json lacks a valid version or rollback index');
  }
  const stored: StoredState = { currentVersion: state.currentVersion, rollbackIndex: state.rollbackIndex };
  const reverted = revertedList(state.reverted);
  if (reverted.length > 0) stored.reverted = reverted;
  if (raw === undefined) return stored;
  const p = (raw ?? {}) as Partial<PendingInstall>;
  if (
    typeof p.targetName !== 'string' ||
    !isVersionAndIndex({ currentVersion: p.version, rollbackIndex: p.rollbackIndex })
  ) {
    throw new InstallError('DEVICE_STATE_INVALID', 'device state.json has a malformed pending install');
  }
  const pending: PendingInstall = {
    targetName: p.targetName,
    version: p.version as string,
    rollbackIndex: p.rollbackIndex as number,
  };
  if (typeof p.reportId === 'string' && REPORT_ID.test(p.reportId)) pending.reportId = p.reportId;
  if (isDelivery(p.delivery)) pending.delivery = p.delivery;
  if (typeof p.sha256 === 'string' && /^[0-9a-f]{64}$/.test(p.sha256)) pending.sha256 = p.sha256;
  if (Number.isSafeInteger(p.timestampVersion) && p.timestampVersion! >= 1)
    pending.timestampVersion = p.timestampVersion!;
  if (p.trialFailed === true) pending.trialFailed = true;
  return { ...stored, pending };
}

/** Atomic and durable (see `writeFileDurably`): after a cut, state.json is the old or the new state. */
export async function writeDeviceState(dir: string, state: StoredState): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileDurably(join(dir, 'state.json'), JSON.stringify(state));
}

/** A state file is a few hundred bytes; one far larger was damaged or planted. */
const MAX_STATE_BYTES = 64 * 1024;

const REPORT_ID = /^[A-Za-z0-9_-]{8,64}$/;

function isVersionAndIndex(s: Partial<DeviceState> | null | undefined): s is DeviceState {
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.currentVersion === 'string' &&
    isSemver(s.currentVersion) &&
    Number.isSafeInteger(s.rollbackIndex) &&
    (s.rollbackIndex as number) >= 0
  );
}

/**
 * The reverted list only spares the device a trial it already failed: a damaged one reads as
 * shorter (the worst case is one more trial, reverted again), never as an error.
 */
function revertedList(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  const names = list.filter((n): n is string => typeof n === 'string' && isTargetName(n));
  return names.slice(-MAX_REVERTED);
}

/** `reverted` with one more trial of `targetName`, the oldest entries dropped past MAX_REVERTED. */
export function withReverted(reverted: readonly string[] | undefined, targetName: string): string[] {
  return [...(reverted ?? []), targetName].slice(-MAX_REVERTED);
}

/** Whether the device has given up on `targetName`: its trials here were reverted TRIALS_PER_TARGET times. */
export function gaveUpOn(state: DeviceState, targetName: string): boolean {
  return (state.reverted ?? []).filter((n) => n === targetName).length >= TRIALS_PER_TARGET;
}

/** A delivery note is only statistics: one that does not read well is dropped, never an error. */
function isDelivery(d: unknown): d is Delivery {
  const x = d as Partial<Delivery> | null | undefined;
  return (
    typeof x === 'object' &&
    x !== null &&
    (x.as === 'delta' || x.as === 'full') &&
    Number.isSafeInteger(x.bytes) &&
    (x.bytes as number) >= 0 &&
    (x.deltaRefused === undefined ||
      (typeof x.deltaRefused === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(x.deltaRefused)))
  );
}
