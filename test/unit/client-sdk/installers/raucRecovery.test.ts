import {
  decideRecovery,
  type RaucSlot,
  type RaucStatus,
  type SlotRecord,
  type TrialMarker,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

type Boot = 'good' | 'bad';

/** Slot A (rootfs.0) and B (rootfs.1); `booted` names the one that runs. */
function status(booted: 'A' | 'B', a: Boot, b: Boot, bInstalledAt?: string): RaucStatus {
  const slot = (bootname: 'A' | 'B', bootStatus: Boot): RaucSlot => ({
    name: bootname === 'A' ? 'rootfs.0' : 'rootfs.1',
    class: 'rootfs',
    bootname,
    device: bootname === 'A' ? '/dev/vda2' : '/dev/vda3',
    state: bootname === booted ? 'booted' : 'inactive',
    bootStatus,
    installedAt: bootname === 'B' ? bInstalledAt : undefined,
  });
  const slots = [slot('A', a), slot('B', b)];
  return { compatible: 'enigm-ota-vm', booted: slots[booted === 'A' ? 0 : 1]!, slots };
}
const trial = (phase: TrialMarker['phase']): TrialMarker => ({
  phase,
  version: '2.0.0',
  sha256: 'ab'.repeat(32),
  from: 'rootfs.0',
  to: 'rootfs.1',
});
/** The files of an agent that wrote 2.0.0 into B, which RAUC installed at T1. */
const wroteB: Record<string, SlotRecord> = {
  'rootfs.1': { version: '2.0.0', sha256: 'ab'.repeat(32), installedAt: 'T1' },
};
const files = (marker: TrialMarker | undefined, slots: Record<string, SlotRecord> = {}) => ({ marker, slots });
const GOOD_A = { do: 'mark-good', slot: 'rootfs.0' };
const GOOD_B = { do: 'mark-good', slot: 'rootfs.1' };
const BAD_B = { do: 'mark-bad', slot: 'rootfs.1' };
const CLEAR = { do: 'clear-marker' };
const REBOOT = { do: 'reboot' };

describe('decideRecovery', () => {
  describe('without a trial marker', () => {
    it('leaves a booted slot marked good alone', () => {
      expect(decideRecovery(status('A', 'good', 'bad'), files(undefined))).to.deep.equal({
        steps: [],
        trialDropped: false,
        rebooting: false,
      });
    });
    it('marks a confirmed slot good again after a reboot, without health checks', () => {
      expect(decideRecovery(status('B', 'good', 'bad', 'T1'), files(undefined, wroteB))).to.deep.equal({
        steps: [GOOD_B],
        trialDropped: false,
        rebooting: false,
      });
      // The factory image: RAUC never wrote it, the agent has no record of it.
      expect(decideRecovery(status('A', 'bad', 'bad'), files(undefined))).to.deep.equal({
        steps: [GOOD_A],
        trialDropped: false,
        rebooting: false,
      });
    });
    it('falls back from a slot RAUC wrote without the agent knowing (no trial ever ran on it)', () => {
      const fallBack = { steps: [BAD_B, REBOOT], trialDropped: false, rebooting: true };
      expect(decideRecovery(status('B', 'good', 'bad', 'T1'), files(undefined))).to.deep.equal(fallBack);
      expect(decideRecovery(status('B', 'good', 'bad', 'T2'), files(undefined, wroteB))).to.deep.equal(fallBack);
      // Nowhere to fall: the device keeps its only bootable slot.
      expect(decideRecovery(status('B', 'bad', 'bad', 'T2'), files(undefined, wroteB))).to.deep.equal({
        steps: [GOOD_B],
        trialDropped: false,
        rebooting: false,
      });
    });
  });

  describe('when the old slot booted', () => {
    it('drops a trial that was asked for as a failed boot, and keeps its slot from being tried again', () => {
      expect(decideRecovery(status('A', 'bad', 'bad'), files(trial('booting')))).to.deep.equal({
        steps: [BAD_B, GOOD_A, CLEAR],
        trialDropped: true,
        rebooting: false,
      });
    });
    it('drops an install that never reached its trial as an interruption', () => {
      expect(decideRecovery(status('A', 'good', 'good'), files(trial('installing')))).to.deep.equal({
        steps: [BAD_B, CLEAR],
        trialDropped: false,
        rebooting: false,
      });
    });
    it('drops an install cut while the bootloader switch was asked for as an interruption, not a failed boot', () => {
      expect(decideRecovery(status('A', 'good', 'bad'), files(trial('activating')))).to.deep.equal({
        steps: [BAD_B, CLEAR],
        trialDropped: false,
        rebooting: false,
      });
    });
  });

  describe('when the trial slot booted', () => {
    it('runs the health checks, then marks it good, or marks it bad and reboots into the old slot', () => {
      expect(decideRecovery(status('B', 'good', 'bad'), files(trial('booting')))).to.deep.equal({
        checkHealth: {
          healthy: { steps: [GOOD_B, CLEAR], trialDropped: false, rebooting: false },
          unhealthy: { steps: [BAD_B, REBOOT], trialDropped: false, rebooting: true },
        },
      });
    });
    it('treats a trial slot that booted while the switch was recorded as under way as the trial', () => {
      expect(decideRecovery(status('B', 'good', 'bad'), files(trial('activating')))).to.deep.equal({
        checkHealth: {
          healthy: { steps: [GOOD_B, CLEAR], trialDropped: false, rebooting: false },
          unhealthy: { steps: [BAD_B, REBOOT], trialDropped: false, rebooting: true },
        },
      });
    });
    it('only clears the marker when the trial was marked good before a cut', () => {
      expect(decideRecovery(status('B', 'good', 'good'), files(trial('booting')))).to.deep.equal({
        steps: [CLEAR],
        trialDropped: false,
        rebooting: false,
      });
    });
    it('falls back from a boot the agent never asked for (RAUC switched the order before the intent was stored)', () => {
      expect(decideRecovery(status('B', 'good', 'good'), files(trial('installing')))).to.deep.equal({
        steps: [BAD_B, REBOOT],
        trialDropped: false,
        rebooting: true,
      });
    });
    it('keeps the device bootable when the old slot is not good either: marks the booted one good', () => {
      const decision = decideRecovery(status('B', 'bad', 'bad'), files(trial('booting')));
      expect(decision)
        .to.have.nested.property('checkHealth.unhealthy')
        .that.deep.equals({
          steps: [GOOD_B, CLEAR],
          trialDropped: false,
          rebooting: false,
        });
      expect(decideRecovery(status('B', 'bad', 'bad'), files(trial('installing')))).to.deep.equal({
        steps: [GOOD_B, CLEAR],
        trialDropped: false,
        rebooting: false,
      });
    });
  });
});
