import {
  ApiRequestError,
  defaultRetry,
  DeviceApiClient,
  type Fetch,
  OtaError,
  type RetryDeps,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

/** Answers in turn: a number is that status (with its Retry-After), 'down' a refused connection; then 200. */
function scripted(answers: Array<number | 'down' | [number, string]>): { transport: Fetch; calls: () => number } {
  let calls = 0;
  const transport: Fetch = () => {
    const a = answers[calls++];
    if (a === 'down') return Promise.reject(new TypeError('fetch failed'));
    if (a === undefined) return Promise.resolve(new Response(JSON.stringify({ offer: null }), { status: 200 }));
    const [status, retryAfter] = Array.isArray(a) ? a : [a, undefined];
    const headers: Record<string, string> = retryAfter ? { 'retry-after': retryAfter } : {};
    return Promise.resolve(
      new Response(
        JSON.stringify({ error: { code: status === 503 ? 'UNAVAILABLE' : 'INVALID_INPUT', message: 'm' } }),
        { status, headers },
      ),
    );
  };
  return { transport, calls: () => calls };
}

function client(transport: Fetch, slept: number[], maxAttempts = 4): DeviceApiClient {
  const deps: RetryDeps = {
    now: () => 0,
    random: () => 0.5,
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
  };
  return new DeviceApiClient({
    baseUrl: 'http://api.invalid',
    limits: { maxApiResponseBytes: 64 * 1024, fetchTimeoutMs: 1000 },
    transport,
    retry: { policy: { ...defaultRetry, maxAttempts }, deps },
  });
}

const poll = { deviceId: 'dev-1', hardwareId: 'devkit-a', channel: 'stable', currentVersion: '1.0.0' };

describe('DeviceApiClient retries (S-21: devices that behave like a real fleet under outages)', () => {
  it('retries a refused connection, a 503 with its Retry-After and a 429, then answers', async () => {
    const slept: number[] = [];
    const s = scripted(['down', [503, '3'], 429]);
    expect(await client(s.transport, slept).poll(poll)).to.equal(null);
    expect(s.calls()).to.equal(4);
    expect(slept).to.deep.equal([500, 4_000, 2_000]);
  });

  it('never retries a 4xx refusal', async () => {
    const slept: number[] = [];
    const s = scripted([400]);
    const err = await client(s.transport, slept)
      .poll(poll)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(ApiRequestError).and.include({ code: 'API_ERROR', status: 400 });
    expect(s.calls()).to.equal(1);
    expect(slept).to.deep.equal([]);
  });

  it('gives up after its attempts with the last error, carrying the status', async () => {
    const slept: number[] = [];
    const s = scripted([500, 502, 503, 504]);
    const err = await client(s.transport, slept)
      .poll(poll)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(ApiRequestError).and.include({ status: 504 });
    expect(s.calls()).to.equal(4);
  });

  it('reports a connection that never answers as no status (the simulator tallies it as unreachable)', async () => {
    const s = scripted(['down']);
    const err = await client(s.transport, [], 1)
      .poll(poll)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(OtaError).and.include({ code: 'API_ERROR', status: undefined });
  });
});
