import type { RaucSlot, RaucStatus } from './raucStatus';

/** What the agent wrote into a slot: the verified version and sha256 of the bundle, and when RAUC wrote it. */
export interface SlotRecord {
  version: string;
  sha256: string;
  installedAt?: string;
}

/**
 * The installer's note of an install it started, kept in the state folder beside state.json:
 * `installing` from before `rauc install` until the agent asks for the trial boot,
 * `activating` while it has the bootloader switched to the trial slot, `booting` from once
 * the switch is done until the trial is confirmed or dropped at a later start.
 */
export interface TrialMarker {
  phase: 'installing' | 'activating' | 'booting';
  version: string;
  sha256: string;
  /** The slot that ran when the install began (the fallback). */
  from: string;
  /** The slot RAUC wrote (the trial). */
  to: string;
}

/** One thing recovery does, in order; each is idempotent, so a cut between them only repeats it. */
export type RaucStep =
  | { do: 'mark-good' | 'mark-bad'; slot: string }
  | { do: 'clear-marker' }
  /** Ask for the reboot; the bootloader then falls back to the slot marked good. */
  | { do: 'reboot' };

export interface RecoveryPlan {
  steps: RaucStep[];
  trialDropped: boolean;
  rebooting: boolean;
}

/** A booted trial: the health checks decide which plan runs. */
export interface HealthDecision {
  checkHealth: { healthy: RecoveryPlan; unhealthy: RecoveryPlan };
}

/**
 * D-9, D-13 on a RAUC system, at every agent start: from the booted slot, what the bootloader
 * says of it and the marker, what to mark and whether the start ends a trial. Pure: the
 * table is the whole rule (docs/adr/0064-rauc-installer-behind-the-installer-seam.md).
 *
 * - No marker: a confirmed slot booted (a bootloader script may clear its mark on every
 *   boot, as RAUC's GRUB example does); marked good again, no health checks (a network
 *   outage must never send the fleet back to an older slot). Unless RAUC wrote the slot and
 *   the agent has no record of writing it (RAUC's service finished an install after the
 *   agent was restarted and dropped it, or someone ran `rauc install` by hand): that image
 *   passed no trial, so it falls back.
 * - The marker names another slot than the booted one: the trial did not run or did not
 *   confirm, and the bootloader fell back. Its slot is marked bad so no later reboot tries
 *   it; a trial the agent had started (`booting`) counts as a failed boot, an install that
 *   never reached its trial (`installing`, or `activating`: the power went before the
 *   bootloader switch was done) as an interruption.
 * - The trial slot booted, marked good: confirmed before a cut; only the marker is left.
 * - The trial slot booted, not yet good: the health checks decide: mark good, or mark bad
 *   and reboot so the bootloader falls back. `activating` counts as `booting` here: the switch
 *   took effect, or this slot would not run.
 * - The trial slot booted while the install was still `installing` (a power cut after RAUC
 *   switched the boot order, before the agent recorded its intent): not a trial the agent
 *   answers for, so it falls back.
 * A fallback needs a slot to fall back to: when the old slot is not good either, the booted
 * one is marked good instead, so the device never loses its last bootable slot.
 */
export function decideRecovery(
  status: RaucStatus,
  files: { marker: TrialMarker | undefined; slots: Record<string, SlotRecord> },
): RecoveryPlan | HealthDecision {
  const { marker } = files;
  const booted = status.booted;
  const markBooted: RaucStep[] = booted.bootStatus === 'good' ? [] : [{ do: 'mark-good', slot: booted.name }];
  if (marker === undefined) {
    if (booted.bootStatus === 'good' || agentWrote(booted, files.slots[booted.name])) return plan(markBooted);
    const good = status.slots.find(
      (s) => s.name !== booted.name && s.class === booted.class && s.bootStatus === 'good',
    );
    return fallBackTo(good, booted.name, []);
  }
  if (booted.name !== marker.to) {
    const known = status.slots.some((s) => s.name === marker.to && s.name !== booted.name);
    const dropTrial: RaucStep[] = known ? [{ do: 'mark-bad', slot: marker.to }] : [];
    return plan([...dropTrial, ...markBooted, { do: 'clear-marker' }], { trialDropped: marker.phase === 'booting' });
  }
  const fallBack = fallBackFrom(status, marker);
  if (marker.phase === 'installing') return fallBack;
  if (booted.bootStatus === 'good') return plan([{ do: 'clear-marker' }]);
  return {
    checkHealth: {
      healthy: plan([{ do: 'mark-good', slot: booted.name }, { do: 'clear-marker' }]),
      unhealthy: fallBack,
    },
  };
}

function fallBackFrom(status: RaucStatus, marker: TrialMarker): RecoveryPlan {
  const booted = status.booted.name;
  const old = status.slots.find((s) => s.name === marker.from && s.name !== booted);
  // The marker stays: the start after the reboot finds the old slot booted and drops the trial.
  return fallBackTo(old, booted, [{ do: 'clear-marker' }]);
}

function fallBackTo(old: RaucSlot | undefined, booted: string, cleanUp: RaucStep[]): RecoveryPlan {
  if (old?.bootStatus !== 'good') return plan([{ do: 'mark-good', slot: booted }, ...cleanUp]);
  return plan([{ do: 'mark-bad', slot: booted }, { do: 'reboot' }], { rebooting: true });
}

/**
 * Whether the slot holds what the agent wrote, or what the factory did (RAUC never wrote it):
 * RAUC's install time of the slot must be the one the agent recorded, when both know one.
 */
function agentWrote(slot: RaucSlot, record: SlotRecord | undefined): boolean {
  if (slot.installedAt === undefined) return true;
  if (record === undefined) return false;
  return record.installedAt === undefined || record.installedAt === slot.installedAt;
}

function plan(steps: RaucStep[], outcome: { trialDropped?: boolean; rebooting?: boolean } = {}): RecoveryPlan {
  return { steps, trialDropped: outcome.trialDropped ?? false, rebooting: outcome.rebooting ?? false };
}
