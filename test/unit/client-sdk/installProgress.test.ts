import { randomBytes } from 'node:crypto';

import type { InstallProgress } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { progressMark } from '../../../device/agent/program';
import { deviceRunningOld, loopbackDevice, makeDelta, type Release, targetName } from './loopbackOta';

const V1: Release = { version: '1.0.0', rollbackIndex: 1, bytes: randomBytes(300_000) };
const V2: Release = { version: '2.0.0', rollbackIndex: 2, bytes: randomBytes(600_000) };

describe('install progress: what the agent says while it downloads and installs', () => {
  const ctx = deviceRunningOld(V1, V2, 'ota-progress-');
  describe('with a delta for the running image', () => {
    const base = randomBytes(300_000);
    const old: Release = { version: '1.0.0', rollbackIndex: 1, bytes: base };
    const next: Release = { version: '2.0.0', rollbackIndex: 2, bytes: Buffer.concat([base, randomBytes(5000)]) };
    const withDelta = deviceRunningOld(old, next, 'ota-progress-delta-', async () => [await makeDelta(old, next)]);

    it('the SDK tells the rebuild of the image from the delta, up to the image whole, before the install', async () => {
      const events: InstallProgress[] = [];
      const agent = loopbackDevice(withDelta.ota, withDelta.stateDir, { device: { progress: (p) => events.push(p) } });
      const result = await agent.checkForUpdate();
      expect(result).to.include({ status: 'installed', version: next.version });
      const phases = events.map((e) => e.phase);
      expect(phases.indexOf('apply')).to.be.greaterThan(phases.lastIndexOf('download'));
      expect(phases.lastIndexOf('apply')).to.be.lessThan(phases.indexOf('install'));
      const applied = events.filter((e) => e.phase === 'apply');
      expect(applied.at(-1)).to.deep.include({ doneBytes: next.bytes.length, totalBytes: next.bytes.length });
    });
  });

  it('the SDK tells a download from its first byte to its last, then the install at its start and end', async () => {
    const events: InstallProgress[] = [];
    const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { progress: (p) => events.push(p) } });
    expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: V2.version });
    const target = targetName(V2.version);
    const total = V2.bytes.length;
    expect(events.every((e) => e.target === target && e.totalBytes === total)).to.equal(true);
    const downloads = events.filter((e) => e.phase === 'download').map((e) => e.doneBytes);
    expect(downloads[0], 'before the first byte').to.equal(0);
    expect(downloads.at(-1)).to.equal(total);
    expect(downloads.length, 'as bytes arrive').to.be.greaterThan(2);
    expect([...downloads].sort((a, b) => a - b)).to.deep.equal(downloads);
    expect(events.slice(downloads.length).map((e) => [e.phase, e.doneBytes])).to.deep.equal([
      ['install', 0],
      ['install', total],
    ]);
  });

  it('the agent logs a download at its start, each quarter it crosses and its end, and every install event', () => {
    const at = (doneBytes: number, phase: InstallProgress['phase'] = 'download', target = 't/2.0.0') => ({
      phase,
      target,
      doneBytes,
      totalBytes: 1000,
    });
    const lines: number[] = [];
    let mark: ReturnType<typeof progressMark>;
    for (const done of [0, 10, 240, 250, 260, 499, 500, 999, 1000, 0, 5, 1000]) {
      const next = progressMark(mark, at(done));
      if (next) {
        lines.push(done);
        mark = next;
      }
    }
    // A second download of the same target (a retry) starts over and is logged again.
    expect(lines).to.deep.equal([0, 250, 500, 999, 1000, 0, 1000]);
    expect(progressMark(mark, at(0, 'install'))).to.deep.equal({ target: 't/2.0.0', phase: 'install', quarter: -1 });
    expect(progressMark(mark, at(1000, 'download', 't/3.0.0')), 'another target').to.deep.equal({
      target: 't/3.0.0',
      phase: 'download',
      quarter: 4,
    });
    expect(progressMark(mark, at(1000, 'apply')), 'a delta rebuild after its download').to.deep.equal({
      target: 't/2.0.0',
      phase: 'apply',
      quarter: 4,
    });
    expect(progressMark(undefined, { ...at(0), totalBytes: 0 }), 'an empty artifact').to.deep.equal({
      target: 't/2.0.0',
      phase: 'download',
      quarter: 4,
    });
  });
});
