import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { expect } from 'chai';
import { Agent, fetch } from 'undici';

import { SUMMARY_EVERY_MS } from '../../../api/refusalGate';
import type { AuditRow } from '../../../common/adminApi';
import { loadConfig } from '../../../infra/config';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { apiGet, operatorToken, testConfig } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

/** What one flood got back, and when it ran. */
interface Flood {
  statuses: Map<number, number>;
  retryAfters: string[];
  ms: number;
}

/** The limits unset: the API runs with its defaults (the suite's stack raises them for the other files). */
const DEFAULT_LIMITS = { OTA_REFUSAL_BURST: '', OTA_REFUSALS_PER_MINUTE: '', OTA_REFUSAL_ENTRIES_PER_MINUTE: '' };

/**
 * S-30: outsiders filling the audit log. Unknown tokens sent as fast as the API answers,
 * from other loopback addresses than the tests' own 127.0.0.1 (each address is a source of
 * its own to the API), to the live API restarted with the default limits. Every attempt is
 * accounted for: an entry of its own, or a summary's count.
 */
describe('security: an audit log filled by refused unauthenticated attempts', function () {
  this.timeout(180_000);
  const FLOOD = 1000;
  const pm = new ProcessManager(TEST_PROFILE.home);
  let limits: { burst: number; perMinute: number };
  let ca: Buffer;
  const agents: Agent[] = [];

  before(async function () {
    this.timeout(120_000);
    ca = await readFile(testConfig().identity.fleetCaCert);
    limits = loadConfig({ ...process.env, ...DEFAULT_LIMITS }).api.refusals;
    await pm.stop('api');
    await stackUp(TEST_PROFILE, { extraEnv: { ...TEST_EXTRA_ENV, ...DEFAULT_LIMITS } });
  });
  after(async function () {
    this.timeout(120_000);
    await Promise.all(agents.map((a) => a.close()));
    await pm.stop('api');
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  const from = (localAddress: string) => {
    const agent = new Agent({ connect: { ca }, localAddress, connections: 16 });
    agents.push(agent);
    return agent;
  };
  const url = (path: string) => `${testConfig().api.url}${path}`;

  /** `n` requests, 16 at a time; `onLimited` runs once, at the first 429. */
  async function flood(
    n: number,
    send: () => Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }>,
    onLimited: () => Promise<void> = () => Promise.resolve(),
  ): Promise<Flood & { whileLimited: Promise<void> }> {
    const out: Flood = { statuses: new Map(), retryAfters: [], ms: 0 };
    let whileLimited: Promise<void> | undefined;
    let next = 0;
    const started = Date.now();
    const worker = async () => {
      while (next++ < n) {
        const res = await send();
        await res.text();
        out.statuses.set(res.status, (out.statuses.get(res.status) ?? 0) + 1);
        if (res.status === 429) {
          out.retryAfters.push(res.headers.get('retry-after') ?? '');
          whileLimited ??= onLimited();
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    out.ms = Date.now() - started;
    return { ...out, whileLimited: whileLimited ?? Promise.resolve() };
  }

  async function rowsSince(action: string, afterId: number): Promise<AuditRow[]> {
    const rows = await apiGet<AuditRow[]>(`/v1/admin/audit?action=${action}&actor=anonymous&limit=1000`);
    return rows.filter((r) => r.id > afterId && r.action === action);
  }
  const lastId = async () => (await apiGet<AuditRow[]>('/v1/admin/audit?limit=1'))[0]?.id ?? 0;
  const summaryCount = (r: AuditRow) => Number(/^RATE_LIMITED: (\d+) refused attempts/.exec(r.detail ?? '')?.[1] ?? 0);

  /**
   * The entries a flood of `n` added: at most what the source's allowance let through one by
   * one, and every other attempt counted in summaries (waited for: one is written every
   * SUMMARY_EVERY_MS).
   */
  async function accountedFor(action: string, { afterId, n, ms }: { afterId: number; n: number; ms: number }) {
    const { burst, perMinute } = limits;
    const rows = await waitFor(
      `every one of ${n} ${action} attempts in an entry or a summary`,
      async () => {
        const found = await rowsSince(action, afterId);
        const counted =
          found.filter((r) => summaryCount(r) === 0).length + found.reduce((s, r) => s + summaryCount(r), 0);
        return counted >= n && found;
      },
      { timeoutMs: SUMMARY_EVERY_MS * 3 },
    );
    const single = rows.filter((r) => summaryCount(r) === 0);
    const summaries = rows.filter((r) => summaryCount(r) > 0);
    expect(single.length, 'entries of their own').to.be.at.most(burst + Math.ceil((perMinute * ms) / 60_000) + 1);
    expect(summaries.length, 'summaries').to.be.at.most(Math.ceil(ms / SUMMARY_EVERY_MS) + 3);
    expect(single.length + summaries.reduce((s, r) => s + summaryCount(r), 0)).to.equal(n);
    return { single, summaries };
  }

  it('1,000 bad sign-ins add a bounded number of entries and get 429 with Retry-After, while an operator elsewhere signs in', async () => {
    const afterId = await lastId();
    const token = await operatorToken('flood-witness', ['viewer']);
    const attacker = from('127.0.0.2');
    const operator = from('127.0.0.1');
    let signedIn: number | undefined;
    const result = await flood(
      FLOOD,
      () =>
        fetch(url('/v1/session'), {
          dispatcher: attacker,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token: randomBytes(32).toString('base64url') }),
        }),
      // The real operator, from another address, in the middle of the flood.
      async () => {
        const res = await fetch(url('/v1/session'), {
          dispatcher: operator,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token }),
        });
        await res.text();
        signedIn = res.status;
      },
    );
    await result.whileLimited;
    expect(signedIn, 'the operator signing in elsewhere').to.equal(201);
    expect([...result.statuses.keys()].sort()).to.deep.equal([401, 429]);
    expect(result.statuses.get(429)).to.be.at.least(FLOOD / 2);
    expect(result.retryAfters.every((v) => /^[1-9]\d*$/.test(v))).to.equal(true);
    console.log(
      `    ${FLOOD} bad sign-ins in ${result.ms} ms: ${result.statuses.get(401)} x 401, ${result.statuses.get(429)} x 429`,
    );

    const { single, summaries } = await accountedFor('session.signin', { afterId, n: FLOOD, ms: result.ms });
    expect(summaries[0]).to.include({ subject: '127.0.0.2', outcome: 'refused', actor: 'anonymous' });
    console.log(`    audit entries added: ${single.length} of their own, ${summaries.length} summaries`);
  });

  it('bad enrollment tokens: 429 past the allowance, nothing written before a token is known, all accounted for', async () => {
    const afterId = await lastId();
    const attacker = from('127.0.0.3');
    const result = await flood(300, () =>
      fetch(url('/v1/enroll'), {
        dispatcher: attacker,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: randomBytes(32).toString('base64url'), deviceId: 'flood-device', csr: 'x' }),
      }),
    );
    expect([...result.statuses.keys()].sort()).to.deep.equal([403, 429]);
    const { single } = await accountedFor('device.enroll', { afterId, n: 300, ms: result.ms });
    expect(single.map((r) => r.outcome)).to.satisfy((o: string[]) => o.every((x) => x === 'refused'));
  });

  it('admin changes with unknown tokens: 429 past the allowance, the entries bounded the same way', async () => {
    const afterId = await lastId();
    const attacker = from('127.0.0.4');
    const result = await flood(300, () =>
      fetch(url('/v1/admin/operators'), {
        dispatcher: attacker,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${randomBytes(32).toString('base64url')}`,
        },
        body: JSON.stringify({ name: 'flood', roles: ['admin'] }),
      }),
    );
    expect([...result.statuses.keys()].sort()).to.deep.equal([401, 429]);
    const rows = await waitFor(
      'the summary of refused admin changes',
      async () => {
        const found = (await apiGet<AuditRow[]>('/v1/admin/audit?actor=anonymous&limit=1000')).filter(
          (r) => r.id > afterId,
        );
        const single = found.filter((r) => r.action === 'POST /v1/admin/operators');
        const summed = found.filter((r) => r.action === 'admin').reduce((s, r) => s + summaryCount(r), 0);
        return single.length + summed === 300 && { single };
      },
      { timeoutMs: SUMMARY_EVERY_MS * 3 },
    );
    const { burst, perMinute } = limits;
    expect(rows.single.length).to.be.at.most(burst + Math.ceil((perMinute * result.ms) / 60_000) + 1);
  });
});
