import { EventEmitter } from 'node:events';

import { expect } from 'chai';

import { CHANGE_CHANNEL, changeOf, localBus, postgresBus } from '../../../infra/changes';

/** A pg Client as the bus uses it: LISTEN recorded, notifications and losses sent by the test. */
class FakeClient extends EventEmitter {
  listening = false;
  ended = false;
  async connect(): Promise<void> {}
  query(text: string): Promise<void> {
    if (text === `LISTEN ${CHANGE_CHANNEL}`) this.listening = true;
    return Promise.resolve();
  }
  end(): Promise<void> {
    this.ended = true;
    return Promise.resolve();
  }
}

describe('change bus (cache invalidation across API replicas)', () => {
  describe('on PGlite (one process)', () => {
    it('runs the listeners of the kind notified, and only those', async () => {
      const bus = localBus();
      const heard: string[] = [];
      bus.onChange('rollout', () => heard.push('rollout'));
      bus.onChange('device', () => heard.push('device'));
      await bus.notify('rollout');
      expect(heard).to.deep.equal(['rollout']);
    });
  });

  describe('on PostgreSQL', () => {
    it('sends NOTIFY with a small JSON payload and runs its own listeners at once', async () => {
      const sent: unknown[][] = [];
      const bus = postgresBus({
        notifyQuery: (_t, params) => {
          sent.push(params);
          return Promise.resolve();
        },
        newClient: () => new FakeClient(),
      });
      await bus.ready;
      expect(bus.listening()).to.equal(true);
      let heard = 0;
      const devices: Array<string | undefined> = [];
      bus.onChange('rollout', () => heard++);
      bus.onChange('device', (id) => devices.push(id));
      await bus.notify('rollout');
      await bus.notify('device', 'dev-1');
      expect(sent).to.deep.equal([
        [CHANGE_CHANNEL, '{"kind":"rollout"}'],
        [CHANGE_CHANNEL, '{"kind":"device","id":"dev-1"}'],
      ]);
      expect(heard).to.equal(1);
      expect(devices).to.deep.equal(['dev-1']);
      await bus.close();
    });

    it("runs the listeners of another replica's notification with its id; an unknown payload invalidates every kind", async () => {
      const client = new FakeClient();
      const bus = postgresBus({ notifyQuery: () => Promise.resolve(undefined), newClient: () => client });
      await bus.ready;
      expect(client.listening).to.equal(true);
      const heard: string[] = [];
      bus.onChange('rollout', () => heard.push('rollout'));
      bus.onChange('device', (id) => heard.push(`device ${id ?? '(all)'}`));
      client.emit('notification', { channel: CHANGE_CHANNEL, payload: '{"kind":"device"}' });
      client.emit('notification', { channel: CHANGE_CHANNEL, payload: '{"kind":"device","id":"dev-7"}' });
      client.emit('notification', { channel: CHANGE_CHANNEL, payload: 'x'.repeat(1000) });
      expect(heard).to.deep.equal(['device (all)', 'device dev-7', 'rollout', 'device (all)']);
      await bus.close();
    });

    it('listens again on a new connection after losing one, and then invalidates every kind (it may have missed some)', async () => {
      const clients: FakeClient[] = [];
      const bus = postgresBus(
        {
          notifyQuery: () => Promise.resolve(undefined),
          newClient: () => clients[clients.push(new FakeClient()) - 1]!,
        },
        { log: () => undefined, retryMs: 10 },
      );
      await bus.ready;
      expect(bus.listening()).to.equal(true);
      let heard = 0;
      // The listeners' run on the new connection is the signal that the reconnect is done.
      const reconnected = new Promise<void>((resolve) =>
        bus.onChange('rollout', () => {
          heard++;
          resolve();
        }),
      );
      clients[0]!.emit('error', new Error('connection reset'));
      // Until it listens again, a change may be missed: caches must not serve meanwhile.
      expect(bus.listening()).to.equal(false);
      await reconnected;
      expect(bus.listening()).to.equal(true);
      expect(clients[0]!.ended).to.equal(true);
      expect(clients).to.have.length(2);
      expect(clients[1]!.listening).to.equal(true);
      expect(heard).to.equal(1);
      await bus.close();
      expect(bus.listening()).to.equal(false);
    });
  });

  it('reads only known kinds from a payload, and an id only when it is well formed (else the whole kind)', () => {
    expect(changeOf('{"kind":"rollout"}')).to.deep.equal({ kind: 'rollout' });
    expect(changeOf('{"kind":"device","id":"dev-1"}')).to.deep.equal({ kind: 'device', id: 'dev-1' });
    expect(changeOf('{"kind":"device","id":"a b"}')).to.deep.equal({ kind: 'device' });
    expect(changeOf(`{"kind":"device","id":"${'d'.repeat(129)}"}`)).to.deep.equal({ kind: 'device' });
    expect(changeOf('{"kind":"device","id":7}')).to.deep.equal({ kind: 'device' });
    expect(changeOf('{"kind":"other"}')).to.equal(undefined);
    expect(changeOf('not json')).to.equal(undefined);
    expect(changeOf(undefined)).to.equal(undefined);
  });
});
