import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ByteBudget, checkNetworkPolicy, isMetered } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const DAY1 = new Date('2027-03-01T23:59:00Z');
const DAY1_LATER = new Date('2027-03-01T23:59:59Z');
const DAY2 = new Date('2027-03-02T00:00:01Z');

describe('the metered-network policy', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'budget-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('the daily byte budget', () => {
    it('keeps what was used today across a restart (a new instance on the same folder)', async () => {
      await new ByteBudget(dir).add(700, DAY1);
      await new ByteBudget(dir).add(200, DAY1_LATER);
      expect(await new ByteBudget(dir).usedOn(DAY1_LATER)).to.equal(900);
    });

    it('starts the next UTC day at zero', async () => {
      await new ByteBudget(dir).add(700, DAY1);
      expect(await new ByteBudget(dir).usedOn(DAY2)).to.equal(0);
      await new ByteBudget(dir).add(5, DAY2);
      expect(await new ByteBudget(dir).usedOn(DAY2)).to.equal(5);
    });

    it('counts a day whose record is unreadable as spent, and the next day afresh', async () => {
      await writeFile(join(dir, 'network-budget.json'), '{"day": "2027-03-01", "bytes": -4');
      expect(await new ByteBudget(dir).usedOn(DAY1)).to.equal(Number.MAX_SAFE_INTEGER);
      expect(await new ByteBudget(dir).usedOn(DAY1_LATER)).to.equal(Number.MAX_SAFE_INTEGER);
      expect(await new ByteBudget(dir).usedOn(DAY2)).to.equal(0);
    });

    it('counts an oversized record as spent without reading it whole, however well it parses', async () => {
      const padded = JSON.stringify({ day: '2027-03-01', bytes: 0, pad: 'x'.repeat(1 << 20) });
      await writeFile(join(dir, 'network-budget.json'), padded);
      expect(await new ByteBudget(dir).usedOn(DAY1)).to.equal(Number.MAX_SAFE_INTEGER);
    });

    it('has nothing left to spend by a clock that cannot be read', async () => {
      expect(await new ByteBudget(dir).usedOn(new Date(Number.NaN))).to.equal(Number.MAX_SAFE_INTEGER);
    });
  });

  describe('whether the network is metered', () => {
    it('asks a probe each time, and a probe that fails counts as metered', async () => {
      let answer = false;
      const policy = { metered: () => Promise.resolve(answer) };
      expect(await isMetered(policy)).to.equal(false);
      answer = true;
      expect(await isMetered(policy)).to.equal(true);
      expect(await isMetered({ metered: () => Promise.reject(new Error('modem gone')) })).to.equal(true);
      expect(await isMetered({ metered: false })).to.equal(false);
    });

    it('refuses a policy it cannot apply (CONFIG_INVALID)', () => {
      for (const p of [{ metered: 'yes' }, { metered: true, dailyByteBudget: -1 }, { metered: true, deltasOnly: 1 }])
        expect(() => checkNetworkPolicy(p as never), JSON.stringify(p))
          .to.throw()
          .with.property('code', 'CONFIG_INVALID');
    });
  });
});
