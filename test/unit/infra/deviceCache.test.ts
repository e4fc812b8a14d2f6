import { setTimeout as sleep } from 'node:timers/promises';

import { expect } from 'chai';

import { type DeviceChangeFeed, Devices } from '../../../infra/devices';
import type { Sql } from '../../../infra/fleetStore';

/** The devices table as `authorize` and `revoke` read and write it: one row, reads counted. */
class OneDeviceTable implements Sql {
  reads = 0;
  status = 'enrolled';
  /** A read waits for this before answering, so a test can change things while it is in flight. */
  hold: Promise<void> = Promise.resolve();

  async query<R>(text: string): Promise<{ rows: R[] }> {
    if (text.includes('UPDATE devices SET status')) {
      this.status = 'revoked';
      return { rows: [{ device_id: 'd1' }] as R[] };
    }
    this.reads += 1;
    const status = this.status;
    await this.hold;
    const row = {
      device_id: 'd1',
      hardware_id: 'hw',
      channel: 'c',
      status,
      groups_json: '[]',
      tags_json: '{}',
      current_version: '1.0.0',
      cert_serial: 'ab',
      cert_not_after: null,
      enrolled_at: null,
      revoked_at: null,
      last_report_at: new Date(0),
      attestation_json: null,
    };
    return { rows: [row] as R[] };
  }
  exec(): Promise<unknown> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Another replica's notifications, sent by the test; its own are recorded. */
class Feed implements DeviceChangeFeed {
  up = true;
  sent: string[] = [];
  private readonly fns: Array<(deviceId?: string) => void> = [];
  notify(_kind: 'device', deviceId: string): Promise<void> {
    this.sent.push(deviceId);
    this.heard(deviceId);
    return Promise.resolve();
  }
  onChange(_kind: 'device', fn: (deviceId?: string) => void): void {
    this.fns.push(fn);
  }
  listening(): boolean {
    return this.up;
  }
  heard(deviceId?: string): void {
    this.fns.forEach((fn) => fn(deviceId));
  }
}

/** A PostgreSQL replica's Devices over one device's row, with the feed of the others' notifications. */
function sharedReplica(maxAgeMs = 60_000) {
  const table = new OneDeviceTable();
  const feed = new Feed();
  return { table, feed, devices: new Devices(table, { mode: 'shared', feed, maxAgeMs }) };
}

const refused = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'authorize should refuse').to.include({ code: 'DEVICE_REVOKED' });
};

describe('device authorization from memory (Devices caching)', () => {
  it('shared: answers from memory until another replica tells of a change, then reads the store and refuses a revoked device', async () => {
    const { table, feed, devices } = sharedReplica();
    await devices.authorize('d1', 'ab');
    await devices.authorize('d1', 'ab');
    expect(table.reads).to.equal(1);
    table.status = 'revoked';
    feed.heard('d1');
    await refused(devices.authorize('d1', 'ab'));
    expect(table.reads).to.equal(2);
  });

  it('shared: a revocation made here applies to the next request here and is told to the others', async () => {
    const { feed, devices } = sharedReplica();
    await devices.authorize('d1', 'ab');
    await devices.revoke('d1', { actor: 'test' });
    expect(feed.sent).to.deep.equal(['d1']);
    await refused(devices.authorize('d1', 'ab'));
  });

  it("shared: another device's change drops only that device's record; a notification naming none drops all", async () => {
    const { table, feed, devices } = sharedReplica();
    await devices.authorize('d1', 'ab');
    feed.heard('d2');
    await devices.authorize('d1', 'ab');
    expect(table.reads).to.equal(1);
    feed.heard('d1');
    await devices.authorize('d1', 'ab');
    expect(table.reads).to.equal(2);
    feed.heard();
    await devices.authorize('d1', 'ab');
    expect(table.reads).to.equal(3);
  });

  it('shared: nothing is served from memory while the listener is down (a change then goes unheard)', async () => {
    const { table, feed, devices } = sharedReplica();
    await devices.authorize('d1', 'ab');
    feed.up = false;
    table.status = 'revoked';
    await refused(devices.authorize('d1', 'ab'));
    feed.up = true;
    table.status = 'enrolled';
    await devices.authorize('d1', 'ab');
    await devices.authorize('d1', 'ab');
    // Two reads while down would have been one from memory; kept again once it listens.
    expect(table.reads).to.equal(3);
  });

  it('shared: an entry is read again after maxAgeMs, heard or not (a notification lost unnoticed)', async () => {
    const { table, devices } = sharedReplica(30);
    await devices.authorize('d1', 'ab');
    table.status = 'revoked';
    await devices.authorize('d1', 'ab');
    await sleep(40);
    await refused(devices.authorize('d1', 'ab'));
  });

  it('shared: a read in flight when a change is heard is not kept (it may predate the change)', async () => {
    const { table, feed, devices } = sharedReplica();
    let release = () => undefined as void;
    table.hold = new Promise<void>((r) => (release = r));
    const inFlight = devices.authorize('d1', 'ab');
    await sleep(5);
    table.status = 'revoked';
    feed.heard();
    release();
    await inFlight;
    await refused(devices.authorize('d1', 'ab'));
  });

  it('shared with a maximum age of 0: every request reads the store, and changes are still told to the other replicas', async () => {
    const { table, feed, devices } = sharedReplica(0);
    await devices.authorize('d1', 'ab');
    await devices.authorize('d1', 'ab');
    expect(table.reads).to.equal(2);
    await devices.revoke('d1', { actor: 'test' });
    expect(feed.sent).to.deep.equal(['d1']);
  });

  it('off: every request reads the store; exclusive: one read until this object makes a change', async () => {
    const off = new OneDeviceTable();
    const plain = new Devices(off);
    await plain.authorize('d1', 'ab');
    await plain.authorize('d1', 'ab');
    expect(off.reads).to.equal(2);

    const own = new OneDeviceTable();
    const exclusive = new Devices(own, { mode: 'exclusive' });
    await exclusive.authorize('d1', 'ab');
    await exclusive.authorize('d1', 'ab');
    expect(own.reads).to.equal(1);
    await exclusive.revoke('d1', { actor: 'test' });
    await refused(exclusive.authorize('d1', 'ab'));
  });
});
