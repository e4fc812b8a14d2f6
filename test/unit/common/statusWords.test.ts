import { expect } from 'chai';
import { describeGate } from '../../../common/gateWords';
import type { GateState, RolloutStep } from '../../../common/release';

const steps: RolloutStep[] = [10, 50, 100].map((percent) => ({ percent, bakeTimeMs: 0, minDevices: 5, maxFailureRate: 0.1, gate: 'auto' }));
const gate = (over: Partial<GateState>): GateState => ({ step: 1, percent: 50, minDevices: 5, maxFailureRate: 0.1, reports: 8, failures: 1, failureRate: 0.125, result: 'waiting', ...over });
const rollout = (g?: GateState) => ({ gate: g, steps, lifecycle: 'limited-rollout' as const, stage: 'rollout' as const, waitingFor: 'bake' });

describe('describeGate', () => {
  it('says there is no gate before the rollout, with what the release waits for', () => {
    expect(describeGate({ ...rollout(), lifecycle: 'validation', stage: 'approval', waitingFor: 'approval by an owner' })).to.equal('No gate yet: the release is in approval (approval by an owner).');
  });

  it('says when no step has been judged', () => {
    expect(describeGate(rollout())).to.equal('No step has been judged yet.');
  });

  it('gives the step, its numbers and the threshold for each decision', () => {
    expect(describeGate(rollout(gate({ result: 'tripped' })))).to.equal('Step 2 of 3 (50%) tripped the gate: 1 of 8 reporting devices failed (12.5%; at most 10% allowed). The rollout stopped.');
    expect(describeGate(rollout(gate({ result: 'passed', failures: 0, failureRate: 0 })))).to.equal('Step 2 of 3 (50%) passed: 0 of 8 reporting devices failed (0%; at most 10% allowed), with the 5 devices it needs.');
    expect(describeGate(rollout(gate({ reports: 3, failures: 0, failureRate: 0 })))).to.equal('Step 2 of 3 (50%) is waiting: 3 of the 5 devices it needs have reported; 0 of 3 reporting devices failed (0%; at most 10% allowed).');
  });

  it('leaves out the device minimum when the step has none', () => {
    expect(describeGate(rollout(gate({ result: 'passed', minDevices: 0, reports: 0, failures: 0, failureRate: 0 })))).to.equal('Step 2 of 3 (50%) passed: 0 of 0 reporting devices failed (0%; at most 10% allowed).');
  });
});
