import { expect } from 'chai';

import type { ReleaseListItem } from '../../../common/adminApi';
import { waitForStatus } from '../../../control/releases';
import {
  approve,
  artifactFile,
  type ErrorAnswer,
  ota,
  otaAs,
  releaseAwaitingApproval,
  temporalClient,
} from '../helpers';

describe('ops control', () => {
  it('promote skips the remaining bake time of a step', async () => {
    await releaseAwaitingApproval('promo', '1.0.0', { steps: '50,100', bake: '1h' });
    await approve('promo', '1.0.0');
    const client = await temporalClient();
    await waitForStatus(client, { channel: 'promo', version: '1.0.0' }, (s) => s.percent === 50);
    const promoted = await otaAs(
      'olga',
      'release',
      'promote',
      '1.0.0',
      '--channel',
      'promo',
      '--reason',
      'metrics look fine',
      '--json',
    );
    expect(promoted.code, promoted.stderr).to.equal(0);
    await waitForStatus(client, { channel: 'promo', version: '1.0.0' }, (s) => s.percent === 100);
    await ota('release', 'promote', '1.0.0', '--channel', 'promo', '--json');
    const s = await waitForStatus(client, { channel: 'promo', version: '1.0.0' }, (x) => x.stage === 'stable');
    expect(s.history.find((h) => h.action === 'promote')).to.include({ actor: 'olga', detail: 'metrics look fine' });
  });

  it('a security release takes the expedited plan, may raise the rollback index, and still waits for approval', async () => {
    const file = await artifactFile('sec.bin');
    const r = await otaAs(
      'sec-creator',
      'release',
      'create',
      '--artifact',
      file,
      '--version',
      '2.0.1',
      '--hardware',
      'devkit-a',
      '--channel',
      'sec',
      '--security',
      '--rollback-index',
      '5',
      '--json',
    );
    expect(r.code, r.stderr).to.equal(0);
    const s = await waitForStatus(
      await temporalClient(),
      { channel: 'sec', version: '2.0.1' },
      (x) => x.stage === 'approval',
    );
    expect(s.plan).to.equal('security');
    expect(s.steps.map((x) => x.percent)).to.deep.equal([50, 100]);
    expect(s.target?.custom.rollbackIndex).to.equal(5);
    expect(s.awaitingApproval).to.equal(true);
  });

  it('abort ends a release waiting for approval', async () => {
    await releaseAwaitingApproval('aborting', '1.0.0');
    const r = await ota('release', 'abort', '1.0.0', '--channel', 'aborting', '--reason', 'wrong build', '--json');
    expect(r.code, r.stderr).to.equal(0);
    const s = await waitForStatus(
      await temporalClient(),
      { channel: 'aborting', version: '1.0.0' },
      (x) => x.stage === 'aborted',
    );
    expect(s.history.at(-1)).to.include({ action: 'abort', detail: 'wrong build' });
    expect(
      ((await ota('release', 'promote', '1.0.0', '--channel', 'aborting', '--json')).json as ErrorAnswer).error.code,
    ).to.equal('WRONG_STAGE');
  });

  it('lists releases filtered by channel and stage', async () => {
    const all = await ota('release', 'list', '--channel', 'aborting', '--json');
    expect((all.json as ReleaseListItem[]).map((r) => [r.version, r.stage])).to.deep.equal([['1.0.0', 'aborted']]);
    const none = await ota('release', 'list', '--channel', 'aborting', '--stage', 'rollout', '--json');
    expect(none.json).to.deep.equal([]);
    const bad = await ota('release', 'list', '--stage', 'nowhere', '--json');
    expect((bad.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
  });
});
