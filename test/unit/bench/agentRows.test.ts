import { expect } from 'chai';

import { type AgentMeasurements, agentRows } from '../../../bench/agentRows';

describe('bench/agent.ts verdicts', () => {
  const measured: AgentMeasurements = {
    mib: 64,
    bareMiB: 41.5,
    idleMiB: 57.5,
    fullPeakMiB: 96,
    deltaPeakMiB: 96.5,
    pairs: [
      { name: 'a', ours: 100, bsdiff: 100 },
      { name: 'b', ours: 101, bsdiff: 100 },
    ],
    install: { oursMs: 1200, baselineMs: 1000, baseline: '(curl | tee | openssl, cp)', judged: false },
  };
  const verdicts = (m: AgentMeasurements) => agentRows(m).map((r) => [r.measure, r.target, r.met]);

  it('judges idle memory against bare node plus 16 MiB, peaks against 96 MiB and deltas against bsdiff, at their bounds', () => {
    expect(verdicts(measured)).to.deep.equal([
      ['agent idle resident memory', '<= +16 MiB', true],
      ['peak memory, verify + install a full image, 64 MiB', '<= 1.00x', true],
      ['peak memory, download + apply a delta + install, 64 MiB', '<= 1.00x', false],
      ['delta size, a', '<= 1.00x', true],
      ['delta size, b', '<= 1.00x', false],
      ['install time, verified download + install, 64 MiB', undefined, undefined],
    ]);
    expect(agentRows({ ...measured, idleMiB: 57.6 })[0]!.met).to.equal(false);
  });

  it('judges install time only against rauc install itself (1.2x), and gives every ratio', () => {
    const judged = agentRows({ ...measured, install: { ...measured.install, baseline: 'rauc install', judged: true } });
    expect(judged.at(-1)).to.include({ target: '<= 1.20x', met: true, ratio: 1.2 });
    const slower = { ...measured.install, oursMs: 1201, judged: true };
    expect(agentRows({ ...measured, install: slower }).at(-1)!.met).to.equal(false);
    expect(agentRows(measured).map((r) => Number(r.ratio.toFixed(3)))).to.deep.equal([1.386, 1, 1.005, 1, 1.01, 1.2]);
  });
});
