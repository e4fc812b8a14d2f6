import { expect } from 'chai';

import { type Admission, RefusalLimiter, type RefusalLimits, sourceOf } from '../../../api/refusalLimiter';

/** S-30: the refusal limiter's arithmetic (api/refusalLimiter.ts) on a clock the test moves. */
describe('RefusalLimiter', () => {
  const LIMITS: RefusalLimits = { burst: 10, perMinute: 6, rowsPerMinute: 60, maxSources: 100 };
  let t: number;
  const limiter = (limits: Partial<RefusalLimits> = {}) => new RefusalLimiter({ ...LIMITS, ...limits }, () => t);
  beforeEach(() => {
    t = Date.UTC(2030, 0, 1);
  });

  /** `n` attempts from `source`, none of them proving its credential. */
  const refusedAttempts = (l: RefusalLimiter, source: string, n: number): Admission[] =>
    Array.from({ length: n }, () => l.admit(source, 'session.signin'));
  const admitted = (as: Admission[]) => as.filter((a) => a.admitted).length;

  describe('one source', () => {
    it('admits burst attempts in a row, then refuses with the seconds until one comes back', () => {
      const l = limiter();
      const answers = refusedAttempts(l, '192.0.2.1', 1000);
      expect(admitted(answers)).to.equal(10);
      // 6 a minute: one every 10 s.
      expect(answers[10]).to.deep.equal({ admitted: false, retryAfterS: 10 });
      t += 4_000;
      expect(l.admit('192.0.2.1', 'session.signin')).to.deep.equal({ admitted: false, retryAfterS: 6 });
    });

    it('gets its allowance back at perMinute, never above burst', () => {
      const l = limiter();
      refusedAttempts(l, '192.0.2.1', 10);
      t += 9_999;
      expect(l.admit('192.0.2.1', 'a').admitted).to.equal(false);
      t += 1;
      expect(l.admit('192.0.2.1', 'a').admitted).to.equal(true);
      t += 3_600_000;
      expect(admitted(refusedAttempts(l, '192.0.2.1', 100))).to.equal(10);
    });

    it('counts attempts still in flight, so concurrent ones cannot all slip in before the first refusal', () => {
      const l = limiter();
      // 50 requests arrive before any of them is answered.
      expect(admitted(refusedAttempts(l, '192.0.2.1', 50))).to.equal(10);
    });

    it('never limits attempts whose credential proves itself, however many', () => {
      const l = limiter();
      for (let i = 0; i < 1000; i++) {
        expect(l.admit('192.0.2.1', 'device.enroll').admitted, `attempt ${i}`).to.equal(true);
        l.accepted('192.0.2.1');
      }
      expect(l.size).to.equal(0);
    });

    it('adds nothing when the clock goes back or breaks', () => {
      const l = limiter();
      refusedAttempts(l, '192.0.2.1', 10);
      t -= 3_600_000;
      expect(l.admit('192.0.2.1', 'a').admitted).to.equal(false);
      t += 3_600_000;
      expect(l.admit('192.0.2.1', 'a').admitted).to.equal(false);
      t = NaN;
      expect(l.admit('192.0.2.1', 'a').admitted).to.equal(false);
    });
  });

  describe('many sources', () => {
    it('keeps sources apart: a flooding source does not limit an operator signing in elsewhere', () => {
      const l = limiter();
      refusedAttempts(l, '192.0.2.1', 1000);
      expect(l.admit('198.51.100.7', 'session.signin').admitted).to.equal(true);
      l.accepted('198.51.100.7');
      expect(l.admit('192.0.2.1', 'session.signin').admitted).to.equal(false);
    });

    it('holds at most maxSources, whatever the number of addresses', () => {
      const l = limiter();
      for (let i = 0; i < 100_000; i++) l.admit(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 'a');
      expect(l.size).to.equal(100);
    });

    it('pushes out the source seen least recently, not the one being limited', () => {
      const l = limiter({ maxSources: 3 });
      refusedAttempts(l, '192.0.2.1', 10);
      for (const s of ['10.0.0.1', '10.0.0.2']) l.admit(s, 'a');
      // The flooding source keeps coming back: it stays, and stays limited.
      expect(l.admit('192.0.2.1', 'a').admitted).to.equal(false);
      l.admit('10.0.0.3', 'a');
      expect(l.admit('192.0.2.1', 'a').admitted).to.equal(false);
      expect(l.size).to.equal(3);
    });
  });

  describe('audit entries', () => {
    it('allows rowsPerMinute entries over all sources, then counts the rest into one summary per action', () => {
      const l = limiter({ rowsPerMinute: 5 });
      const decided = Array.from({ length: 20 }, (_, i) => l.mayRecord(`10.0.0.${i % 7}`, 'device.enroll'));
      expect(decided.filter(Boolean)).to.have.length(5);
      refusedAttempts(l, '192.0.2.1', 13);
      const [enroll, signin, ...more] = l.drain();
      expect(more).to.deep.equal([]);
      expect(enroll).to.include({ action: 'device.enroll', count: 15 });
      expect(signin).to.include({ action: 'session.signin', count: 3 });
      expect(signin!.sources).to.deep.equal([{ source: '192.0.2.1', count: 3 }]);
      expect(l.drain()).to.deep.equal([]);
      t += 60_000;
      expect(l.mayRecord('10.0.0.1', 'device.enroll')).to.equal(true);
    });

    it('names the five sources with most attempts, one that came late included, and counts the others', () => {
      const l = limiter({ burst: 1, maxSources: 10_000 });
      for (let i = 0; i < 5000; i++) l.admit(`10.0.${i >> 8}.${i & 255}`, 'session.signin');
      t += 1;
      for (let i = 0; i < 5000; i++) l.admit(`10.0.${i >> 8}.${i & 255}`, 'session.signin');
      t += 1;
      refusedAttempts(l, '192.0.2.1', 50);
      const [summary] = l.drain();
      expect(summary!.count).to.equal(5000 + 49);
      expect(summary!.sources[0]).to.deep.equal({ source: '192.0.2.1', count: 49 });
      expect(summary!.sources.length).to.be.within(1, 5);
      expect(summary!.others).to.equal(5000 + 49 - summary!.sources.reduce((n, s) => n + s.count, 0));
      expect(summary!.since.getTime()).to.be.below(summary!.until.getTime());
    });
  });
});

describe('sourceOf', () => {
  it('is the peer address, an IPv4 address written as IPv6 being the IPv4 address', () => {
    expect(sourceOf('192.0.2.1')).to.equal('192.0.2.1');
    expect(sourceOf('::ffff:192.0.2.1')).to.equal('192.0.2.1');
    expect(sourceOf(undefined)).to.equal('unknown');
  });

  it('counts IPv6 per /64, however the address is written', () => {
    expect(sourceOf('2001:db8:1:2::1')).to.equal('2001:db8:1:2::/64');
    expect(sourceOf('2001:0DB8:0001:0002:ffff:1:2:3')).to.equal('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8:1:3::1')).to.not.equal(sourceOf('2001:db8:1:2::1'));
    expect(sourceOf('::1')).to.equal('0:0:0:0::/64');
  });
});
