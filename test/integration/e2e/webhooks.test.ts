import { expect } from 'chai';

import type { WebhookDelivery } from '../../../common/adminApi';
import { waitForStatus } from '../../../control/releases';
import { stackToken, TEST_PROFILE } from '../../../scripts/lib/stack';
import { sleep, waitFor } from '../../wait';
import {
  approve,
  deviceFetch,
  type ErrorAnswer,
  ota,
  otaWithToken,
  releaseAwaitingApproval,
  temporalClient,
  testConfig,
} from '../helpers';
import { firstArrivals, type ReceivedEvent, type Receiver, startReceiver, verifiedEvents } from '../receivers';

const OUTAGE_MS = 5 * 60_000;

/** Release events in the order a receiver first got them, without stage changes. */
const releaseTypes = (events: readonly ReceivedEvent[], version: string) =>
  firstArrivals(events)
    .filter((e) => e.type.startsWith('dev.enigm-ota.release.') && e.data['version'] === version)
    .map((e) => e.type.slice('dev.enigm-ota.'.length))
    .filter((t) => t !== 'release.stage-changed');

/** Every key's events arrived in their order: the sequence rises within each partition key. */
function expectOrderPerKey(events: readonly ReceivedEvent[]): void {
  for (const key of new Set(events.map((e) => e.partitionkey))) {
    const sequences = firstArrivals(events)
      .filter((e) => e.partitionkey === key)
      .map((e) => e.sequence);
    expect(sequences, key).to.deep.equal([...sequences].sort());
  }
}

describe('webhooks, end to end', () => {
  const receivers: Receiver[] = [];
  let admin: string;
  before(async () => {
    admin = await stackToken(TEST_PROFILE, 'admin');
  });
  after(async () => {
    for (const r of receivers) await r.stop();
  });

  async function receiver(port = 0): Promise<Receiver> {
    const r = await startReceiver(port);
    receivers.push(r);
    return r;
  }
  async function subscribe(url: string, ...more: string[]): Promise<{ id: number; secret: string }> {
    const r = await otaWithToken(admin, 'webhook', 'add', '--url', url, ...more, '--json');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    return r.json as { id: number; secret: string };
  }
  async function deliveries(id: number): Promise<WebhookDelivery[]> {
    const r = await otaWithToken(admin, 'webhook', 'deliveries', String(id), '--limit', '1000', '--json');
    expect(r.code, r.stderr).to.equal(0);
    return r.json as WebhookDelivery[];
  }
  async function releaseToStable(channel: string, version: string): Promise<number> {
    await releaseAwaitingApproval(channel, version, { steps: '50,100' });
    const started = Date.now();
    await approve(channel, version);
    await waitForStatus(await temporalClient(), { channel, version }, (s) => s.stage === 'stable');
    return Date.now() - started;
  }

  it('tells a subscriber of a release from created to stable and of a device enrolled and revoked, each signed', async () => {
    const r = await receiver();
    const { id, secret } = await subscribe(r.url, '--event', 'release.*,device.*', '--channel', 'hooks');
    const elsewhere = await subscribe(r.url, '--event', 'all', '--channel', 'elsewhere');
    await releaseToStable('hooks', '1.0.0');
    await deviceFetch('hook-device-1', 'hooks');
    const revoked = await ota('device', 'revoke', 'hook-device-1', '--reason', 'lost in transit', '--json');
    expect(revoked.code, revoked.stderr).to.equal(0);

    const events = await waitFor('the release and device events', async () => {
      const got = verifiedEvents(await r.received(), secret);
      const types = got.map((e) => e.type);
      return types.includes('dev.enigm-ota.release.stable') && types.includes('dev.enigm-ota.device.revoked') && got;
    });
    expect(releaseTypes(events, '1.0.0')).to.deep.equal([
      'release.created',
      'release.approval-requested',
      'release.approved',
      'release.step-published',
      'release.step-published',
      'release.stable',
    ]);
    expectOrderPerKey(events);
    const approved = events.find((e) => e.type === 'dev.enigm-ota.release.approved')!;
    expect(approved.subject).to.equal('releases/hooks/1.0.0');
    expect(approved.data).to.include({ approver: 'test-owner', channel: 'hooks', version: '1.0.0' });
    const device = firstArrivals(events).filter((e) => e.subject === 'devices/hook-device-1');
    expect(device.map((e) => e.type)).to.deep.equal(['dev.enigm-ota.device.enrolled', 'dev.enigm-ota.device.revoked']);
    expect(device[1]!.data).to.include({ reason: 'lost in transit', channel: 'hooks' });
    // The delivery log agrees, and the other channel's subscription got nothing of this.
    await waitFor(
      'the delivery log',
      async () => (await deliveries(id)).filter((d) => d.state === 'delivered').length === firstArrivals(events).length,
    );
    expect(await deliveries(elsewhere.id)).to.deep.equal([]);
  });

  it('refuses URLs that are not http(s) or that point at the API, unknown events, and non-admins', async () => {
    const refused = async (token: string, url: string, event = 'all') => {
      const r = await otaWithToken(token, 'webhook', 'add', '--url', url, '--event', event, '--json');
      expect(r.code, r.stdout).not.to.equal(0);
      return (r.json as ErrorAnswer).error.code;
    };
    const api = new URL(testConfig().api.url);
    expect(await refused(admin, 'file:///etc/passwd')).to.equal('WEBHOOK_URL_REFUSED');
    expect(await refused(admin, 'gopher://127.0.0.1:70/')).to.equal('WEBHOOK_URL_REFUSED');
    expect(await refused(admin, `${api.origin}/v1/admin/events`)).to.equal('WEBHOOK_URL_REFUSED');
    expect(await refused(admin, `https://localhost:${api.port}/x`)).to.equal('WEBHOOK_URL_REFUSED');
    expect(await refused(admin, 'http://169.254.169.254/latest/meta-data/')).to.equal('WEBHOOK_URL_REFUSED');
    expect(await refused(admin, 'http://127.0.0.1:9/', 'release.exploded')).to.equal('INVALID_INPUT');
    const ops = await stackToken(TEST_PROFILE, 'ops');
    expect(await refused(ops, 'http://127.0.0.1:9/')).to.equal('FORBIDDEN');
    const list = await otaWithToken(admin, 'webhook', 'list', '--json');
    const urls = (list.json as Array<{ url: string }>).map((s) => s.url);
    expect(
      urls.filter((u) => u.startsWith('file:') || u.includes('169.254') || u.startsWith(api.origin)),
    ).to.deep.equal([]);
  });

  it('a receiver answering 500 or hanging does not slow a release', async () => {
    const baseline = await releaseToStable('nohooks', '1.0.0');
    const [failing, hanging, healthy] = [await receiver(), await receiver(), await receiver()];
    await failing.answerWith('500');
    await hanging.answerWith('hang');
    const f = await subscribe(failing.url, '--event', 'all', '--channel', 'slowhooks');
    const h = await subscribe(hanging.url, '--event', 'all', '--channel', 'slowhooks');
    const ok = await subscribe(healthy.url, '--event', 'all', '--channel', 'slowhooks');
    const took = await releaseToStable('slowhooks', '1.0.0');
    expect(took, `release with failing receivers took ${took} ms, without ${baseline} ms`).to.be.below(
      baseline * 1.5 + 5000,
    );
    await waitFor('stable at the healthy receiver', async () =>
      verifiedEvents(await healthy.received(), ok.secret).some((e) => e.type === 'dev.enigm-ota.release.stable'),
    );
    const failed = await waitFor('a refused attempt', async () =>
      (await deliveries(f.id)).find((d) => d.lastStatus === 500),
    );
    expect(failed.state).to.equal('pending');
    expect((await deliveries(h.id)).filter((d) => d.state === 'delivered')).to.deep.equal([]);
  });

  it('tells of a key change with the new root version', async () => {
    const r = await receiver();
    const { secret } = await subscribe(r.url, '--event', 'keys.changed');
    const changed = await ota('keys', 'rotate', 'rollout', 'timestamp', '--json');
    expect(changed.code, changed.stdout + changed.stderr).to.equal(0);
    const rootVersion = (changed.json as { rootVersion: number }).rootVersion;
    // The API follows the new root when it next reads the repository: a device's poll does.
    const asDevice = await deviceFetch('keys-hook-device', 'hooks');
    const [told] = await waitFor('the keys.changed event', async () => {
      await (await asDevice(`${testConfig().api.url}/v1/repos/rollout/metadata/timestamp.json`)).arrayBuffer();
      const got = verifiedEvents(await r.received(), secret);
      return got.length > 0 && got;
    });
    expect(told!.type).to.equal('dev.enigm-ota.keys.changed');
    expect(told!.data).to.deep.equal({ repo: 'rollout', rootVersion });
  });

  it('loses nothing while the receiver is down for 5 minutes, and keeps each release in order', async function () {
    this.timeout(OUTAGE_MS + 240_000);
    const first = await receiver();
    const port = first.port;
    const { id, secret } = await subscribe(first.url, '--event', 'release.*,device.*');
    await first.stop();
    const downAt = Date.now();
    // While it is down: two releases to stable, a device enrolled and revoked.
    await releaseToStable('outage-a', '1.0.0');
    await releaseToStable('outage-b', '2.0.0');
    await deviceFetch('outage-device', 'outage-a');
    expect((await ota('device', 'revoke', 'outage-device', '--json')).code).to.equal(0);
    const waiting = await waitFor('deliveries that failed while it was down', async () => {
      const log = await deliveries(id);
      // Later events of a release wait behind its first: only the first of each key is tried.
      return log.length > 0 && log.every((d) => d.state === 'pending') && log.some((d) => d.lastError) && log;
    });
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
    expect(Date.now() - downAt).to.be.at.least(OUTAGE_MS);

    const back = await receiver(port);
    const log = await waitFor(
      'every delivery',
      async () => {
        const all = await deliveries(id);
        return all.every((d) => d.state === 'delivered') && all;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(log.length).to.be.at.least(waiting.length);
    const events = verifiedEvents(await back.received(), secret);
    expect(new Set(events.map((e) => e.id)).size).to.equal(log.length);
    expect(releaseTypes(events, '1.0.0')).to.include.members(['release.created', 'release.stable']);
    expect(releaseTypes(events, '2.0.0').at(-1)).to.equal('release.stable');
    expect(firstArrivals(events).filter((e) => e.subject === 'devices/outage-device')).to.have.length(2);
    expectOrderPerKey(events);
  });
});
