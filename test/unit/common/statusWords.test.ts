import { expect } from 'chai';

import type { GateState, RolloutStep } from '../../../common/release';
import { describeGate, describePublished } from '../../../common/statusWords';

const steps: RolloutStep[] = [10, 50, 100].map((percent) => ({
  percent,
  bakeTimeMs: 0,
  minDevices: 5,
  maxFailureRate: 0.1,
  gate: 'auto',
}));
const gate = (over: Partial<GateState>): GateState => ({
  step: 1,
  percent: 50,
  minDevices: 5,
  maxFailureRate: 0.1,
  reports: 8,
  failures: 1,
  failureRate: 0.125,
  result: 'waiting',
  ...over,
});
const rollout = (g?: GateState) => ({
  gate: g,
  steps,
  lifecycle: 'limited-rollout' as const,
  stage: 'rollout' as const,
  waitingFor: 'bake',
});

describe('describeGate', () => {
  it('says there is no gate before the rollout, with what the release waits for', () => {
    expect(
      describeGate({ ...rollout(), lifecycle: 'validation', stage: 'approval', waitingFor: 'approval by an owner' }),
    ).to.equal('No gate yet: the release is in approval (approval by an owner).');
  });

  it('says when no step has been judged', () => {
    expect(describeGate(rollout())).to.equal('No step has been judged yet.');
  });

  it('gives the step, its numbers and the threshold for each decision', () => {
    expect(describeGate(rollout(gate({ result: 'tripped' })))).to.equal(
      'Step 2 of 3 (50%) tripped the gate: 1 of 8 reporting devices failed (12.5%; at most 10% allowed). The rollout stopped.',
    );
    expect(describeGate(rollout(gate({ result: 'passed', failures: 0, failureRate: 0 })))).to.equal(
      'Step 2 of 3 (50%) passed: 0 of 8 reporting devices failed (0%; at most 10% allowed), with the 5 devices it needs.',
    );
    expect(describeGate(rollout(gate({ reports: 3, failures: 0, failureRate: 0 })))).to.equal(
      'Step 2 of 3 (50%) is waiting: 3 of the 5 devices it needs have reported; 0 of 3 reporting devices failed (0%; at most 10% allowed).',
    );
  });

  it('says how many failures were devices refusing the release', () => {
    expect(
      describeGate(rollout(gate({ result: 'tripped', reports: 10, failures: 4, blocked: 3, failureRate: 0.4 }))),
    ).to.equal(
      'Step 2 of 3 (50%) tripped the gate: 4 of 10 reporting devices failed, 3 of them by refusing it as one they cannot install (40%; at most 10% allowed). The rollout stopped.',
    );
  });

  it('leaves out the device minimum when the step has none', () => {
    expect(
      describeGate(rollout(gate({ result: 'passed', minDevices: 0, reports: 0, failures: 0, failureRate: 0 }))),
    ).to.equal('Step 2 of 3 (50%) passed: 0 of 0 reporting devices failed (0%; at most 10% allowed).');
  });
});

describe('describePublished', () => {
  const at = '2026-11-30T10:00:00.000Z';
  const base = { stage: 'rollout' as const, percent: 50, paused: false, withdrawn: false };
  it('shows the signed state alone when storage has caught up', () => {
    expect(describePublished({ ...base, published: { percent: 50, paused: false, withdrawn: false, at } })).to.equal(
      `50% (signed ${at})`,
    );
  });
  it('shows the published state and the pending one apart while a write is still to land', () => {
    expect(
      describePublished({ ...base, percent: 100, published: { percent: 50, paused: false, withdrawn: false, at } }),
    ).to.equal(`50% (signed ${at}); pending: 100% (not in storage yet)`);
    expect(
      describePublished({ ...base, paused: true, published: { percent: 50, paused: false, withdrawn: false, at } }),
    ).to.equal(`50% (signed ${at}); pending: 50%, paused (not in storage yet)`);
  });
  it('says nothing is offered before the first publish', () => {
    expect(describePublished(base)).to.equal(
      'nothing yet (50% pending: the signed rollout state is not in storage yet)',
    );
    expect(describePublished({ ...base, stage: 'approval' as const, percent: 0 })).to.equal('nothing');
  });
});
