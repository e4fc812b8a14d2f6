import { expect } from 'chai';

import type { ChannelPolicy, ReleaseStatus, RolloutStep } from '../../../common/release';
import { approvalRefusal, evaluateGate } from '../../../workflows/governance';

const step: RolloutStep = { percent: 10, bakeTimeMs: 0, minDevices: 4, maxFailureRate: 0.25, gate: 'auto' };

describe('evaluateGate', () => {
  it('waits until the sample holds minDevices health reports', () => {
    expect(evaluateGate(0, step, { healthy: 3, reverted: 0 }).result).to.equal('waiting');
  });

  it('passes at or below the failure rate, and trips above it', () => {
    expect(evaluateGate(0, step, { healthy: 3, reverted: 1 }).result).to.equal('passed');
    const tripped = evaluateGate(0, step, { healthy: 2, reverted: 2 });
    expect(tripped).to.include({ result: 'tripped', reports: 4, failures: 2, failureRate: 0.5 });
  });

  it('counts devices that refuse the release as one they cannot install as failures (reports of a release the fleet cannot take)', () => {
    // The case: 12 healthy reports, 38 devices refusing with ROLLBACK_INDEX_TOO_LOW.
    const gate = evaluateGate(0, step, { healthy: 12, reverted: 0, blocked: 38 });
    expect(gate).to.include({ result: 'tripped', reports: 50, failures: 38, blocked: 38, failureRate: 0.76 });
    // A sample without `blocked` (a recorded history's) is judged by its reports alone.
    expect(evaluateGate(0, step, { healthy: 12, reverted: 0 })).to.include({
      result: 'passed',
      failures: 0,
      blocked: 0,
    });
  });

  it('allows no failure at all with maxFailureRate 0', () => {
    const strict = { ...step, minDevices: 1, maxFailureRate: 0 };
    expect(evaluateGate(0, strict, { healthy: 9, reverted: 0 }).result).to.equal('passed');
    expect(evaluateGate(0, strict, { healthy: 99, reverted: 1 }).result).to.equal('tripped');
  });
});

describe('approvalRefusal', () => {
  const policy: ChannelPolicy = { approvals: 2, owners: ['alice', 'bob'], plan: 'default', onBreach: 'pause' };
  const status = (over: Partial<ReleaseStatus> = {}) =>
    ({
      version: '1.0.0',
      channel: 'stable',
      stage: 'approval',
      awaitingApproval: true,
      createdBy: 'carol',
      approvals: [],
      ...over,
    }) as ReleaseStatus;

  it('accepts a release owner who is not the creator', () => {
    expect(approvalRefusal(status(), { policy, round: 'release' }, { approver: 'alice' })).to.equal(undefined);
  });

  it('refuses the creator, strangers, a second approval by the same owner, and the wrong moment', () => {
    expect(
      approvalRefusal(status({ createdBy: 'alice' }), { policy, round: 'release' }, { approver: 'alice' }),
    ).to.contain('created');
    expect(approvalRefusal(status(), { policy, round: 'release' }, { approver: 'mallory' })).to.contain(
      'not a release owner',
    );
    const once = status({
      approvals: [{ approver: 'alice', comment: '', at: 'x', round: 'release', decision: 'approve' }],
    });
    expect(approvalRefusal(once, { policy, round: 'release' }, { approver: 'alice' })).to.contain('already');
    expect(
      approvalRefusal(
        status({ awaitingApproval: false, stage: 'rollout' }),
        { policy, round: 'release' },
        { approver: 'bob' },
      ),
    ).to.contain('not waiting');
  });

  it("lets anyone but the creator approve under the '*' owner rule", () => {
    expect(
      approvalRefusal(status(), { policy: { ...policy, owners: ['*'] }, round: 'release' }, { approver: 'mallory' }),
    ).to.equal(undefined);
  });
});
