import {
  ApiRequestError,
  backoffMs,
  cycleDelayMs,
  defaultRetry,
  isRetryable,
  OtaError,
  pollDelayMs,
  realRetryDeps,
  retryAfterMs,
  retryDelayMs,
  type RetryDeps,
  type RetryPolicy,
  retryPolicy,
  TransportError,
  withRetry,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const POLICY: RetryPolicy = {
  ...defaultRetry,
  baseMs: 100,
  capMs: 1_000,
  maxAttempts: 4,
  maxElapsedMs: 10_000,
  maxRetryAfterMs: 5_000,
};
const NOW = Date.parse('2030-01-01T00:00:00Z');

function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

/** A fake clock that sleeps by moving on; `random` is fixed; every sleep is kept. */
function fakeDeps(random = 0.5): RetryDeps & { slept: number[] } {
  let now = NOW;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    random: () => random,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

/** Work that fails with the given errors in turn, then answers 'ok'. */
function failing(...errors: Array<Error | undefined>): { work: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    work: () => {
      const err = errors[calls++];
      if (err !== undefined) return Promise.reject(err);
      return Promise.resolve('ok');
    },
  };
}

const unreachable = () => new ApiRequestError('cannot reach', undefined);
const status = (s: number, retryAfter?: string) => new ApiRequestError(`HTTP ${s}`, { status: s, retryAfter });

describe('retry policy (S-21: devices that behave like a real fleet under outages)', () => {
  describe('retryPolicy', () => {
    it('gives the defaults, and takes settings within their bounds', () => {
      expect(retryPolicy()).to.deep.equal(defaultRetry);
      expect(retryPolicy({ maxAttempts: 1, pollJitter: 0.5 })).to.include({
        maxAttempts: 1,
        pollJitter: 0.5,
        baseMs: defaultRetry.baseMs,
      });
    });

    it('refuses a setting out of its bounds, not an integer, or a cap below the base (CONFIG_INVALID)', () => {
      const bad: Array<Partial<RetryPolicy>> = [
        { baseMs: 0 },
        { baseMs: 1.5 },
        { maxAttempts: 0 },
        { maxAttempts: 21 },
        { capMs: 24 * 3_600_000 },
        { maxRetryAfterMs: -1 },
        { pollIntervalMs: 10 },
        { pollJitter: 1.5 },
        { pollJitter: Number.NaN },
        { maxElapsedMs: 'soon' as unknown as number },
        { baseMs: 2_000, capMs: 1_000 },
      ];
      for (const given of bad) {
        expect(() => retryPolicy(given), JSON.stringify(given))
          .to.throw(OtaError)
          .with.property('code', 'CONFIG_INVALID');
      }
    });
  });

  describe('backoffMs (full jitter)', () => {
    it('waits a uniform share of a window that doubles with each retry, up to the cap', () => {
      expect([0, 1, 2, 3, 4].map((r) => backoffMs(POLICY, r, () => 0.999))).to.deep.equal([99, 199, 399, 799, 999]);
      expect(backoffMs(POLICY, 60, () => 0.5)).to.equal(500);
      expect(backoffMs(POLICY, 3, () => 0)).to.equal(0);
    });
  });

  describe('pollDelayMs', () => {
    it('spreads the poll interval by the jitter either way', () => {
      const p = { ...POLICY, pollIntervalMs: 10_000, pollJitter: 0.2 };
      expect([0, 0.5, 1].map((r) => pollDelayMs(p, () => r))).to.deep.equal([8_000, 10_000, 12_000]);
      expect(pollDelayMs({ ...p, pollJitter: 0 }, () => 0.9)).to.equal(10_000);
    });
  });

  describe('retryAfterMs', () => {
    it('reads delay seconds and HTTP dates, a date in the past as 0', () => {
      expect(retryAfterMs('3', NOW, POLICY)).to.equal(3_000);
      expect(retryAfterMs(' 0 ', NOW, POLICY)).to.equal(0);
      expect(retryAfterMs(new Date(NOW + 2_000).toUTCString(), NOW, POLICY)).to.equal(2_000);
      expect(retryAfterMs(new Date(NOW - 60_000).toUTCString(), NOW, POLICY)).to.equal(0);
    });

    it('caps an absurd value at maxRetryAfterMs', () => {
      expect(retryAfterMs('999999999999', NOW, POLICY)).to.equal(5_000);
      expect(retryAfterMs('Fri, 31 Dec 9999 23:59:59 GMT', NOW, POLICY)).to.equal(5_000);
    });

    it('ignores an absent or malformed header', () => {
      for (const h of [
        undefined,
        '',
        '-5',
        '1.5',
        '1e9',
        'soon',
        'Mon, 99 Foo 2030 00:00:00 GMT',
        '2030-01-01T00:00:00Z',
        '9'.repeat(13),
      ]) {
        expect(retryAfterMs(h, NOW, POLICY), String(h)).to.equal(undefined);
      }
    });
  });

  describe('isRetryable', () => {
    it('retries no answer, 5xx and 429; never a 4xx refusal or another error', () => {
      expect(
        [unreachable(), status(500), status(502), status(503), status(599), status(429)].map(isRetryable),
      ).to.deep.equal([true, true, true, true, true, true]);
      const never = [
        status(400),
        status(401),
        status(403),
        status(404),
        status(409),
        status(413),
        status(600),
        new TransportError('API_ERROR', 'malformed'),
        new OtaError('ENROLLMENT_REFUSED', 'm'),
        new Error('x'),
        'x',
      ];
      expect(never.map(isRetryable)).to.deep.equal(never.map(() => false));
    });

    it('keeps the API_ERROR code callers already branch on', () => {
      expect(status(503, '5'))
        .to.be.instanceOf(TransportError)
        .and.include({ code: 'API_ERROR', status: 503, retryAfter: '5', name: 'ApiRequestError' });
    });
  });

  describe('retryDelayMs', () => {
    it('waits at least the Retry-After, with the jitter on top so told devices still spread', () => {
      expect(retryDelayMs({ policy: POLICY, deps: fakeDeps(0.5) }, 0, status(503, '2'))).to.equal(2_050);
      expect(retryDelayMs({ policy: POLICY, deps: fakeDeps(0.5) }, 0, status(503))).to.equal(50);
    });

    it('runs on the real clock and random source by default', () => {
      const delay = retryDelayMs({ policy: POLICY }, 0, status(503, '2'));
      expect(delay).to.be.at.least(2_000).and.below(2_100);
    });
  });

  describe('cycleDelayMs', () => {
    const p = { ...POLICY, pollIntervalMs: 10_000, pollJitter: 0.2 };
    it('waits the jittered poll interval after a cycle that answered, or failed for a reason retrying cannot fix', () => {
      expect(cycleDelayMs({ policy: p, deps: fakeDeps(0) }, { failedBefore: 0 })).to.equal(8_000);
      const refused = new OtaError('NOT_ENROLLED', 'no certificate');
      expect(cycleDelayMs({ policy: p, deps: fakeDeps(1) }, { error: refused, failedBefore: 3 })).to.equal(12_000);
    });

    it('backs off after requests that failed for good, the window growing with each failed cycle in a row', () => {
      // maxAttempts 4: the cycle's own retries used windows 100, 200, 400; the next is 800, then the cap.
      const first = cycleDelayMs({ policy: p, deps: fakeDeps(0.5) }, { error: status(503), failedBefore: 0 });
      const second = cycleDelayMs({ policy: p, deps: fakeDeps(0.5) }, { error: status(503), failedBefore: 1 });
      expect([first, second]).to.deep.equal([400, 500]);
      expect(cycleDelayMs({ policy: p, deps: fakeDeps(0.5) }, { error: status(429, '3'), failedBefore: 0 })).to.equal(
        3_400,
      );
    });
  });

  describe('withRetry', () => {
    it('answers at once when the first attempt succeeds', async () => {
      const deps = fakeDeps();
      const f = failing();
      expect(await withRetry(f.work, POLICY, deps)).to.equal('ok');
      expect(deps.slept).to.deep.equal([]);
    });

    it('retries no answer, 503 and 429 with growing jittered waits, honouring Retry-After', async () => {
      const deps = fakeDeps();
      const f = failing(unreachable(), status(503, '1'), status(429));
      expect(await withRetry(f.work, POLICY, deps)).to.equal('ok');
      expect(deps.slept).to.deep.equal([50, 1_100, 200]);
    });

    it('never retries a 4xx refusal', async () => {
      const deps = fakeDeps();
      const refused = status(403);
      const f = failing(refused);
      expect(await rejectionOf(withRetry(f.work, POLICY, deps))).to.equal(refused);
      expect(f.calls()).to.equal(1);
    });

    it('gives up with the last error after maxAttempts', async () => {
      const deps = fakeDeps();
      const last = status(500);
      const f = failing(status(500), status(500), status(500), last, undefined);
      expect(await rejectionOf(withRetry(f.work, POLICY, deps))).to.equal(last);
      expect(f.calls()).to.equal(4);
    });

    it('gives up rather than wait past maxElapsedMs', async () => {
      const deps = fakeDeps();
      const f = failing(status(503, '60'), undefined);
      const p = { ...POLICY, maxRetryAfterMs: 60_000 };
      expect(await rejectionOf(withRetry(f.work, p, deps))).to.have.property('status', 503);
      expect(f.calls()).to.equal(1);
    });

    it('sleeps for real with the default dependencies', async () => {
      const f = failing(unreachable());
      expect(await withRetry(f.work, { ...POLICY, baseMs: 10, capMs: 10 })).to.equal('ok');
      expect(realRetryDeps.now()).to.be.closeTo(Date.now(), 1_000);
      expect(realRetryDeps.random()).to.be.within(0, 1);
    });
  });
});
