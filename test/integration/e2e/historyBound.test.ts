import { expect } from 'chai';

import { decideRelease, releaseAction, releaseStatus, waitForStatus } from '../../../control/releases';
import { approve, createLongBake, temporalClient } from '../helpers';

describe('a release flooded with messages', () => {
  it("keeps each run's history bounded by continuing as new, and still completes", async function () {
    this.timeout(600_000);
    const client = await temporalClient();
    const channel = 'flood';
    const version = '1.0.0';
    await createLongBake(channel, version, { createdBy: 'flood-creator', historyLimit: 400 });
    await waitForStatus(client, { channel, version }, (s) => s.stage === 'approval');

    // 1000 messages: invalid approvals (the creator's: refused before history) while
    // waiting, then pause/resume pairs during the bake, which each write history.
    let refused = 0;
    for (let i = 0; i < 800; i++) {
      await decideRelease(
        client,
        { channel, version },
        { decision: 'approve', input: { approver: 'flood-creator' } },
      ).catch(() => refused++);
    }
    expect(refused).to.equal(800);
    await approve(channel, version);
    await waitForStatus(client, { channel, version }, (s) => s.percent === 50);
    for (let i = 0; i < 100; i++) {
      await releaseAction(
        client,
        { channel, version },
        { action: 'pause', input: { actor: 'ops', reason: `flood ${i}` } },
      );
      await releaseAction(client, { channel, version }, { action: 'resume', input: { actor: 'ops' } });
    }

    const runs: number[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = 'release-${channel}-${version}'` }))
      runs.push(wf.historyLength);
    expect(runs.length).to.be.greaterThan(1);
    for (const length of runs) expect(length).to.be.below(400 * 2);
    const s = await releaseStatus(client, { channel, version });
    expect(s.stage).to.equal('rollout');
    expect(s.history.length).to.be.at.most(100);
    expect(s.history.some((h) => h.action === 'continue-as-new')).to.equal(true);

    // The rollout state survived every run: promote through to stable.
    await releaseAction(client, { channel, version }, { action: 'promote', input: { actor: 'ops' } });
    await waitForStatus(client, { channel, version }, (x) => x.percent === 100);
    await releaseAction(client, { channel, version }, { action: 'promote', input: { actor: 'ops' } }).catch(
      () => undefined,
    );
    const final = await waitForStatus(client, { channel, version, timeoutMs: 60_000 }, (x) => x.stage === 'stable');
    expect(final.approvals.map((a) => a.approver)).to.deep.equal(['test-owner']);
  });
});
