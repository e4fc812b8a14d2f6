import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { gaveUpOn, MAX_REVERTED, readDeviceState, withReverted } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const INITIAL = { currentVersion: '1.0.0', rollbackIndex: 0 };

describe('device state: the reverted trials', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-state-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives up on a target after its second revert, not its first, and on no other target', () => {
    const once = withReverted(undefined, 'ch/a.img');
    expect(gaveUpOn({ ...INITIAL, reverted: once }, 'ch/a.img')).to.equal(false);
    const twice = withReverted(withReverted(once, 'ch/b.img'), 'ch/a.img');
    expect(gaveUpOn({ ...INITIAL, reverted: twice }, 'ch/a.img')).to.equal(true);
    expect(gaveUpOn({ ...INITIAL, reverted: twice }, 'ch/b.img')).to.equal(false);
  });

  it('keeps only the newest entries, so the file stays small', () => {
    let reverted: string[] | undefined;
    for (let i = 0; i < MAX_REVERTED + 5; i++) reverted = withReverted(reverted, `ch/t${i}.img`);
    expect(reverted).to.have.length(MAX_REVERTED);
    expect(reverted?.at(-1)).to.equal(`ch/t${MAX_REVERTED + 4}.img`);
  });

  it('reads a damaged list as shorter, never as an error: bad names, non-strings and excess are dropped', async () => {
    const names = [...Array.from({ length: MAX_REVERTED + 3 }, (_, i) => `ch/t${i}.img`), '../etc/passwd', 7, ''];
    await writeFile(join(dir, 'state.json'), JSON.stringify({ ...INITIAL, reverted: names }));
    const stored = await readDeviceState(dir, INITIAL);
    expect(stored.reverted).to.have.length(MAX_REVERTED);
    expect(stored.reverted?.every((n) => /^ch\/t\d+\.img$/.test(n))).to.equal(true);
    await writeFile(join(dir, 'state.json'), JSON.stringify({ ...INITIAL, reverted: 'ch/a.img' }));
    expect(await readDeviceState(dir, INITIAL)).to.deep.equal(INITIAL);
  });
});
