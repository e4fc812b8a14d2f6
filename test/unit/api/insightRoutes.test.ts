import { expect } from 'chai';

import { stepWindows } from '../../../api/insightRoutes';
import type { ActionRecord, ReleaseStatus, RolloutStep } from '../../../common/release';

const step = (percent: number): RolloutStep => ({
  percent,
  bakeTimeMs: 1000,
  minDevices: percent,
  maxFailureRate: 0.05,
  gate: 'auto',
});
const plan = [step(10), step(50), step(100)];
const rec = (minute: number, action: string, detail?: string): ActionRecord => ({
  at: `2025-03-01T12:${String(minute).padStart(2, '0')}:00.000Z`,
  action,
  ...(detail ? { detail } : {}),
});
const status = (history: ActionRecord[], withdrawn = false) =>
  ({ steps: plan, history, withdrawn }) as unknown as ReleaseStatus;
const ends = (s: ReleaseStatus) =>
  stepWindows(s).map((w) => [w.step, w.startedAt.slice(11, 16), w.endedAt?.slice(11, 16) ?? null]);

describe('stepWindows', () => {
  it('ends each step when the next starts; the last of a stable release keeps running', () => {
    const s = status([
      rec(0, 'registered'),
      rec(1, 'approve'),
      rec(2, 'step', '10%'),
      rec(3, 'pause'),
      rec(4, 'resume'),
      rec(5, 'step', '50%'),
      rec(9, 'step', '100%'),
    ]);
    expect(ends(s)).to.deep.equal([
      [0, '12:02', '12:05'],
      [1, '12:05', '12:09'],
      [2, '12:09', null],
    ]);
    expect(stepWindows(s)[1]).to.include({ percent: 50, minDevices: 50, maxFailureRate: 0.05 });
  });

  it('ends the running step at a rollback or abort, and lists no step that did not start', () => {
    expect(ends(status([rec(2, 'step', '10%'), rec(7, 'rollback')], true))).to.deep.equal([[0, '12:02', '12:07']]);
    expect(ends(status([rec(2, 'step', '10%'), rec(3, 'step', '50%'), rec(8, 'abort')], true))).to.deep.equal([
      [0, '12:02', '12:03'],
      [1, '12:03', '12:08'],
    ]);
  });

  it('ends a step at the gate breach that withdrew the release (no rollback record), not at one it resumed from', () => {
    const history = [
      rec(2, 'step', '10%'),
      rec(3, 'gate-tripped'),
      rec(4, 'resume'),
      rec(5, 'step', '50%'),
      rec(6, 'gate-tripped'),
    ];
    expect(ends(status(history, true))).to.deep.equal([
      [0, '12:02', '12:05'],
      [1, '12:05', '12:06'],
    ]);
    expect(ends(status(history, false))[1]).to.deep.equal([1, '12:05', null]);
  });

  it('matches steps to the plan by percent when the history lost the first ones', () => {
    expect(ends(status([rec(5, 'step', '50%'), rec(9, 'step', '100%')]))).to.deep.equal([
      [1, '12:05', '12:09'],
      [2, '12:09', null],
    ]);
    expect(stepWindows(status([rec(0, 'registered')]))).to.deep.equal([]);
  });
});
