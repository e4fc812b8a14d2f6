import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { FleetStore } from '../../../infra/fleetStore';
import { Insights } from '../../../infra/insights';
import { Watermarks } from '../../../infra/watermarks';
import { StoreFloor } from '../../../trust/versionFloor';
import { recordSigned } from '../../fixtures/receipts';
import { DIST } from '../../paths';
import { backends } from './backends';

/** The same behaviour on both backends: PGlite (embedded default) and a real PostgreSQL. */
for (const backend of backends(15432)) {
  describe(`FleetStore on ${backend.name}`, () => {
    let env: Awaited<ReturnType<(typeof backend)['open']>>;
    before(async () => {
      env = await backend.open();
    });
    after(async () => {
      await env.done();
    });

    it('migrates once, however often it is opened', async () => {
      const a = await FleetStore.open(env.fleet);
      await a.close();
      expect(a.applied).to.include.members(['001_fleet.sql', '002_report_health.sql', '003_identity.sql']);
      const b = await FleetStore.open(env.fleet);
      await b.close();
      expect(b.applied).to.deep.equal([]);
    });

    it('keeps every report and the version each device runs now', async () => {
      const store = await FleetStore.open(env.fleet);
      try {
        const prefix = `fs-${backend.name}-${Date.now()}-`;
        await recordSigned(store, { deviceId: `${prefix}1`, version: '1.0.0', outcome: 'installed' });
        await recordSigned(store, {
          deviceId: `${prefix}1`,
          version: '1.0.0',
          outcome: 'refused',
          errorCode: 'NOT_IN_ROLLOUT',
        });
        await recordSigned(store, {
          deviceId: `${prefix}2`,
          version: '1.1.0',
          outcome: 'installed',
          targetName: 'stable/1.1.0/fw.bin',
        });
        expect(
          (await new Insights(store.sql).deviceReports(`${prefix}1`, 10)).map((r) => [
            r.version,
            r.outcome,
            r.errorCode,
          ]),
        ).to.deep.equal([
          ['1.0.0', 'refused', 'NOT_IN_ROLLOUT'],
          ['1.0.0', 'installed', null],
        ]);
        expect(await store.summary(prefix)).to.deep.equal({
          devices: 2,
          versions: { '1.0.0': 1, '1.1.0': 1 },
          outcomes: { refused: 1, installed: 1 },
          errorCodes: { NOT_IN_ROLLOUT: 1 },
        });
      } finally {
        await store.close();
      }
    });

    it('counts devices that wait by their reason, in no failure, until a later report replaces the wait', async () => {
      const store = await FleetStore.open(env.fleet);
      try {
        const prefix = `wait-${backend.name}-${Date.now()}-`;
        const target = `wait/${prefix}/fw.bin`;
        const waiting = (n: number, waitReason: 'window' | 'not-ready' | 'metered', errorCode: string) =>
          recordSigned(store, {
            deviceId: `${prefix}${n}`,
            version: '1.0.0',
            outcome: 'waiting',
            waitReason,
            errorCode,
            targetName: target,
          });
        await waiting(1, 'window', 'INSTALL_WINDOW_CLOSED');
        await waiting(2, 'window', 'INSTALL_WINDOW_CLOSED');
        await waiting(3, 'not-ready', 'DEVICE_NOT_READY');
        await waiting(4, 'metered', 'BYTE_BUDGET_SPENT');
        const until = new Date(Date.now() + 1000);
        const expected = {
          devices: 4,
          healthy: 0,
          reverted: 0,
          failed: 0,
          refused: 0,
          blocked: 0,
          waiting: { window: 2, notReady: 1, metered: 1 },
        };
        expect(await store.targetStats(target)).to.deep.equal(expected);
        expect(await store.targetStats(target, until), 'from the history too').to.deep.equal(expected);
        await recordSigned(store, {
          deviceId: `${prefix}1`,
          version: '2.0.0',
          outcome: 'installed',
          health: 'healthy',
          targetName: target,
        });
        expect(await store.targetStats(target)).to.deep.include({
          healthy: 1,
          waiting: { window: 1, notReady: 1, metered: 1 },
        });
        await store.rebuildDerivedState();
        expect(await store.targetStats(target), 'rebuilt from the history').to.deep.include({
          healthy: 1,
          waiting: { window: 1, notReady: 1, metered: 1 },
        });
      } finally {
        await store.close();
      }
    });

    it('counts a retried report once (idempotency key), and keeps it across a restart', async () => {
      const prefix = `idem-${backend.name}-${Date.now()}-`;
      const target = `idem/${prefix}/fw.bin`;
      const report = {
        deviceId: `${prefix}1`,
        reportId: 'report-0001',
        version: '2.0.0',
        outcome: 'installed' as const,
        health: 'healthy' as const,
        targetName: target,
      };
      const first = await FleetStore.open(env.fleet);
      expect(await recordSigned(first, report)).to.equal(true);
      await first.close();
      const second = await FleetStore.open(env.fleet); // an API restart
      try {
        expect(await recordSigned(second, report)).to.equal(false);
        expect(await recordSigned(second, { ...report, reportId: 'report-0002', health: 'reverted' })).to.equal(true);
        // The same id from another device is another report.
        expect(await recordSigned(second, { ...report, deviceId: `${prefix}2` })).to.equal(true);
        expect(await new Insights(second.sql).deviceReports(`${prefix}1`, 10)).to.have.length(2);
        expect(await second.targetStats(target)).to.include({ devices: 2, healthy: 1, reverted: 1 });
      } finally {
        await second.close();
      }
    });

    it('treats the device prefix as text, not a pattern', async () => {
      const store = await FleetStore.open(env.fleet);
      try {
        expect((await store.summary('%')).devices).to.equal(0);
      } finally {
        await store.close();
      }
    });

    it('keeps the highest metadata version seen, refuses an older one and remembers the refusal', async () => {
      const store = await FleetStore.open(env.fleet);
      try {
        const marks = new Watermarks(store.sql);
        // Replicas racing: the highest wins whatever the order.
        await Promise.all([7, 9, 8].map((v) => marks.raise('release', 'snapshot', v)));
        const refused: string[] = [];
        const floor = new StoreFloor(
          marks,
          (repo, { role, found, highest }) => refused.push(`${repo} ${role} ${found}<${highest}`),
          0,
        );
        const before = await floor.beforeRead('release');
        expect(before).to.include({ snapshot: 9 });
        // A reader that read v8 after another replica raised the floor to v9 is not refused;
        // one that took the floor (9) before its read and found v4 is.
        await floor.admit('release', { seen: { snapshot: 8 }, floor: { snapshot: 7 } });
        await floor.admit('release', { seen: { snapshot: 10 }, floor: before });
        const err = await floor.admit('release', { seen: { snapshot: 4 }, floor: before }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.have.property('code', 'STORAGE_ROLLBACK');
        expect(refused).to.deep.equal(['release snapshot 4<9']);
        const mark = (await marks.list()).find((m) => m.repo === 'release' && m.role === 'snapshot');
        expect(mark).to.include({ version: 10 });
        expect(mark?.lastRollback).to.include({ version: 4 });
      } finally {
        await store.close();
      }
    });
  });
}

describe('ota db migrate', () => {
  it('applies the migrations to an embedded store once, and says so', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ota-migrate-'));
    const cli = join(DIST, 'cli', 'main.js');
    const run = async () =>
      JSON.parse(
        (
          await promisify(execFile)(process.execPath, [cli, 'db', 'migrate', '--json'], {
            env: { ...process.env, OTA_HOME: home, DATABASE_URL: '' },
          })
        ).stdout,
      ) as { applied: string[] };
    try {
      expect((await run()).applied).to.include('003_identity.sql');
      expect((await run()).applied).to.deep.equal([]);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
