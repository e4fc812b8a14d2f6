import { expect } from 'chai';

import { EVENT_TYPES } from '../../../common/webhookEvents';
import { Devices } from '../../../infra/devices';
import { FleetStore } from '../../../infra/fleetStore';
import { Watermarks } from '../../../infra/watermarks';
import { type NewEvent, WebhookStore } from '../../../infra/webhookStore';
import { type DispatcherOptions, WebhookDispatcher } from '../../../webhooks/dispatcher';
import { newSecret } from '../../../webhooks/signature';
import { waitFor } from '../../wait';
import { firstArrivals, type Receiver, startReceiver, verifiedEvents } from '../receivers';
import { backends } from './backends';

const OPTIONS: DispatcherOptions = {
  policy: { allowPrivate: true, self: { hosts: [], ports: [] } },
  timeoutMs: 1000,
  maxRetryMs: 1000,
  giveUpAfterMs: 60_000,
  concurrency: 8,
  source: 'urn:enigm-ota:delivery-test',
  warn: () => undefined,
  idleMs: 100,
};

/** The outbox, its deliveries and the dispatcher, on both engines, against receiver processes. */
for (const backend of backends(15440)) {
  describe(`webhook delivery on ${backend.name}`, () => {
    let env: Awaited<ReturnType<(typeof backend)['open']>>;
    let fleet: FleetStore;
    let store: WebhookStore;
    const running: Array<{ stop(): Promise<void> }> = [];
    let n = 0;

    before(async () => {
      env = await backend.open();
      fleet = await FleetStore.open(env.fleet);
      store = new WebhookStore(fleet.sql);
    });
    afterEach(async () => {
      for (const r of running.splice(0).reverse()) await r.stop();
    });
    after(async () => {
      await fleet?.close();
      await env?.done();
    });

    async function receiver(): Promise<Receiver> {
      const r = await startReceiver();
      running.push(r);
      return r;
    }
    function dispatcher(over: Partial<DispatcherOptions> = {}, on = store): WebhookDispatcher {
      const d = new WebhookDispatcher(on, { ...OPTIONS, ...over });
      d.start();
      running.push(d);
      return d;
    }
    async function subscribe(r: Receiver, channel?: string) {
      const secret = newSecret();
      const id = await store.subscribe({ url: r.url, secret, types: EVENT_TYPES, channel, createdBy: 'test' });
      return { id, secret };
    }
    const event = (orderingKey: string, over: Partial<NewEvent> = {}): NewEvent => ({
      key: `${backend.name}-${++n}`,
      type: 'release.step-published',
      subject: `releases/${orderingKey}`,
      channel: 'hooks',
      orderingKey,
      data: { n },
      ...over,
    });
    const delivered = async (r: Receiver, count: number) =>
      waitFor(`${count} deliveries`, async () => {
        const got = await r.received();
        return got.length >= count && got;
      });

    it('delivers each event signed, once, and in order per ordering key with keys interleaved', async () => {
      const r = await receiver();
      const { secret } = await subscribe(r);
      dispatcher();
      const events = Array.from({ length: 30 }, (_, i) => event(`key-${n}-${i % 3}`.replace(/-\d+-/, '-')));
      await store.record(events);
      const got = verifiedEvents(await delivered(r, 30), secret);
      expect(new Set(got.map((e) => e.id)).size).to.equal(30);
      for (const key of new Set(got.map((e) => e.partitionkey))) {
        const sequences = got.filter((e) => e.partitionkey === key).map((e) => e.sequence);
        expect(sequences, key).to.deep.equal([...sequences].sort());
      }
      // A retried write (same key) records nothing twice.
      expect(await store.record(events.slice(0, 5))).to.equal(0);
    });

    it('sends a refused event again with the same id, and holds later events of its key until it is delivered', async () => {
      const r = await receiver();
      const { id, secret } = await subscribe(r);
      await r.answerWith('500');
      dispatcher();
      const [first, second] = [event('held'), event('held')];
      await store.record([first, second]);
      await delivered(r, 2);
      expect(new Set((await r.received()).map((q) => q.headers['webhook-id']))).to.deep.equal(new Set([first.key]));
      await r.answerWith('200');
      const got = await waitFor('both events', async () => {
        const ids = firstArrivals(verifiedEvents(await r.received(), secret)).map((e) => e.id);
        return ids.length === 2 && ids;
      });
      expect(got).to.deep.equal([first.key, second.key]);
      // The dispatcher settles a chain after its last send: the log may trail the receiver a little.
      const firstLog = await waitFor('the first delivery settled as delivered', async () =>
        (await store.deliveries(id, { limit: 10 })).find(
          (d) => d.subject === first.subject && d.state === 'delivered' && d.attempts >= 2,
        ),
      );
      expect(firstLog).to.include({ lastStatus: 200 });
    });

    it('a hanging receiver holds only its own deliveries', async () => {
      const [hanging, healthy] = [await receiver(), await receiver()];
      await hanging.answerWith('hang');
      const stuck = await subscribe(hanging);
      const ok = await subscribe(healthy);
      dispatcher({ timeoutMs: 5000 });
      const started = Date.now();
      await store.record(Array.from({ length: 10 }, (_, i) => event(`spread-${i}`)));
      await waitFor(
        'the healthy receiver',
        async () => (await store.deliveries(ok.id, { state: 'delivered', limit: 100 })).length >= 10,
      );
      expect(Date.now() - started, 'time to deliver to the healthy receiver').to.be.below(4000);
      expect(await store.deliveries(stuck.id, { state: 'delivered', limit: 100 })).to.have.length(0);
    });

    it('gives a delivery up (dead) after its retry window, and a redelivery sends it', async () => {
      const r = await receiver();
      const { id, secret } = await subscribe(r);
      await r.answerWith('500');
      const d = dispatcher({ giveUpAfterMs: 1500 });
      const e = event('doomed');
      await store.record([e]);
      const [dead] = await waitFor('the dead delivery', async () => {
        const rows = await store.deliveries(id, { state: 'dead', limit: 10 });
        return rows.length > 0 && rows;
      });
      expect(dead).to.include({ state: 'dead', lastStatus: 500 });
      await r.answerWith('200');
      expect(await store.redeliver({ subscriptionId: id })).to.deep.equal([dead!.id]);
      d.wake();
      await waitFor(
        'the redelivered event',
        async () => (await store.deliveries(id, { state: 'delivered', limit: 10 })).length === 1,
      );
      expect(verifiedEvents(await r.received(), secret).at(-1)?.id).to.equal(e.key);
    });

    it('filters by channel and type, and a removed subscription gets no more deliveries', async () => {
      const r = await receiver();
      const all = await subscribe(r);
      const other = await subscribe(r, 'other');
      const onlyRevoked = await store.subscribe({
        url: r.url,
        secret: newSecret(),
        types: ['device.revoked'],
        createdBy: 't',
      });
      await store.record([event('filtered')]);
      expect(await store.deliveries(all.id, { limit: 100 })).to.have.length.above(0);
      expect(await store.deliveries(other.id, { limit: 100 })).to.have.length(0);
      expect(await store.deliveries(onlyRevoked, { limit: 100 })).to.have.length(0);
      expect(await store.remove(all.id)).to.equal(true);
      const before = (await store.deliveries(all.id, { limit: 100 })).length;
      await store.record([event('filtered')]);
      expect(await store.deliveries(all.id, { limit: 100 })).to.have.length(before);
      expect((await store.list()).map((s) => s.id)).not.to.include(all.id);
    });

    it('writes device and storage-rollback events in the statement of their change, once each', async () => {
      const devices = new Devices(fleet.sql, { mode: 'off' });
      const deviceId = `hook-dev-${backend.name}`.toLowerCase();
      const grant = { deviceId, hardwareId: 'devkit-a', channel: 'hooks', groups: [], tags: {} };
      const count = async (type: string, subject: string) =>
        (
          await fleet.sql.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM webhook_events WHERE type = $1 AND subject = $2',
            [type, subject],
          )
        ).rows[0]!.n;
      await devices.enroll(grant, { serial: 'aa01', notAfter: new Date(Date.now() + 3_600_000) }, '1.0.0');
      await devices
        .enroll(grant, { serial: 'aa02', notAfter: new Date(Date.now() + 3_600_000) }, '1.0.0')
        .catch(() => undefined);
      expect(await count('device.enrolled', `devices/${deviceId}`), 'a refused enrollment tells nothing').to.equal(1);
      await devices.revoke(deviceId, { actor: 'olga', reason: 'stolen' });
      await devices.revoke(deviceId, { actor: 'olga' }).catch(() => undefined);
      expect(await count('device.revoked', `devices/${deviceId}`)).to.equal(1);
      const revoked = await fleet.sql.query<{ data: string }>(
        `SELECT data FROM webhook_events WHERE type = 'device.revoked' AND subject = $1`,
        [`devices/${deviceId}`],
      );
      expect(JSON.parse(revoked.rows[0]!.data)).to.deep.equal({
        deviceId,
        channel: 'hooks',
        actor: 'olga',
        reason: 'stolen',
      });

      const marks = new Watermarks(fleet.sql);
      const repo = `hooks-${backend.name}`;
      await marks.raise(repo, 'timestamp', 9);
      await marks.recordRollback(repo, 'timestamp', 7);
      await marks.recordRollback(repo, 'timestamp', 7);
      expect(await count('storage.rollback-detected', `repositories/${repo}`)).to.equal(1);
      await marks.recordRollback(repo, 'timestamp', 6);
      expect(await count('storage.rollback-detected', `repositories/${repo}`)).to.equal(2);
    });

    if (backend.name === 'PostgreSQL') {
      it('two replicas share the deliveries: each event once, in order per key', async () => {
        const r = await receiver();
        const { secret } = await subscribe(r);
        const second = await FleetStore.open(env.fleet);
        running.push({ stop: () => second.close() });
        dispatcher({ concurrency: 4 });
        dispatcher({ concurrency: 4 }, new WebhookStore(second.sql));
        await store.record(Array.from({ length: 100 }, (_, i) => event(`shared-${i % 10}`)));
        const got = verifiedEvents(await delivered(r, 100), secret);
        expect(got).to.have.length(100);
        expect(new Set(got.map((e) => e.id)).size).to.equal(100);
        for (const key of new Set(got.map((e) => e.partitionkey))) {
          const sequences = got.filter((e) => e.partitionkey === key).map((e) => e.sequence);
          expect(sequences, key).to.deep.equal([...sequences].sort());
        }
      });
    }
  });
}
