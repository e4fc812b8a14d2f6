import { expect } from 'chai';

import type { StepWindow } from '../../../common/adminApi';
import { InputError } from '../../../common/errors';
import { Devices } from '../../../infra/devices';
import { FleetStore } from '../../../infra/fleetStore';
import { Insights } from '../../../infra/insights';
import { recordSigned } from '../../fixtures/receipts';
import { backends } from './backends';

/** No device waits in these reports (none sends a waiting one). */
const NONE_WAITING = { window: 0, notReady: 0, metered: 0 };

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const iso = (minutes: number) => at(minutes).toISOString();
const TARGET = 'beta/1.1.0/fw.bin';

/**
 * A small fleet with a known history (minutes after T0):
 *   b1 (beta)  1.0.0 at -60, 1.1.0 at 10 (healthy)
 *   b2 (beta)  1.0.0 at -120, 1.1.0 at 25 (healthy), reverted to 1.0.0 at 40
 *   b3 (beta)  1.0.0 at 5 and again at 20 (a refusal: no change), 1.1.0 at 50 (healthy)
 *   s1 (stable, revoked) 1.1.0 at 1, on another target
 *   r1 (reported only: no channel, no hardware) 0.9.0 at 2
 */
async function seed(store: FleetStore): Promise<void> {
  const devices: Array<[string, string, string | null, string | null, string, string[]]> = [
    ['b1', '1.1.0', 'kit-a', 'beta', 'enrolled', ['lab', 'north']],
    ['b2', '1.0.0', 'kit-a', 'beta', 'enrolled', ['lab']],
    ['b3', '1.1.0', 'kit-a', 'beta', 'enrolled', []],
    ['s1', '1.1.0', 'kit-b', 'stable', 'revoked', ['north']],
    ['r1', '0.9.0', null, null, 'reported', []],
  ];
  for (const [id, version, hw, channel, status, groups] of devices) {
    await store.sql.query(
      'INSERT INTO devices (device_id, current_version, hardware_id, channel, status, groups_json) VALUES ($1, $2, $3, $4, $5, $6)',
      [id, version, hw, channel, status, JSON.stringify(groups)],
    );
  }
  const reports: Array<[string, number, string, string | null, string, string | null, string | null]> = [
    ['b1', -60, '1.0.0', null, 'installed', null, null],
    ['b1', 10, '1.1.0', TARGET, 'installed', 'healthy', null],
    ['b2', -120, '1.0.0', null, 'installed', null, null],
    ['b2', 25, '1.1.0', TARGET, 'installed', 'healthy', null],
    ['b2', 40, '1.0.0', TARGET, 'failed', 'reverted', 'HEALTH_CHECK_FAILED'],
    ['b3', 5, '1.0.0', null, 'installed', null, null],
    ['b3', 20, '1.0.0', TARGET, 'refused', null, 'NOT_IN_ROLLOUT'],
    ['b3', 50, '1.1.0', TARGET, 'installed', 'healthy', null],
    ['s1', 1, '1.1.0', 'stable/1.1.0/fw.bin', 'installed', 'healthy', null],
    ['r1', 2, '0.9.0', null, 'installed', null, null],
  ];
  for (const [id, minutes, version, target, outcome, health, errorCode] of reports) {
    await store.sql.query(
      'INSERT INTO install_reports (device_id, received_at, version, target_name, outcome, health, error_code) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [id, iso(minutes), version, target, outcome, health, errorCode],
    );
  }
}

for (const backend of backends(15434)) {
  describe(`Insights on ${backend.name}`, () => {
    let env: Awaited<ReturnType<(typeof backend)['open']>>;
    let store: FleetStore;
    let insights: Insights;
    before(async () => {
      env = await backend.open();
      store = await FleetStore.open(env.fleet);
      await seed(store);
      // Seeded by hand (reports at chosen times): the derived tables are rebuilt as after a bulk load.
      await store.rebuildDerivedState();
      insights = new Insights(store.sql);
    });
    after(async () => {
      await store?.close();
      await env?.done();
    });

    describe('adoption', () => {
      it("counts the channel's devices per version at each point, a change at a point included, earlier state at since", async () => {
        const series = await insights.adoption('beta', { since: at(0), until: at(60), buckets: 7 });
        expect(series).to.include({ since: iso(0), until: iso(60), bucketMs: 600_000 });
        expect(series.points).to.deep.equal([
          { at: iso(0), versions: { '1.0.0': 2 } },
          { at: iso(10), versions: { '1.0.0': 2, '1.1.0': 1 } },
          { at: iso(20), versions: { '1.0.0': 2, '1.1.0': 1 } },
          { at: iso(30), versions: { '1.0.0': 1, '1.1.0': 2 } },
          { at: iso(40), versions: { '1.0.0': 2, '1.1.0': 1 } },
          { at: iso(50), versions: { '1.0.0': 1, '1.1.0': 2 } },
          { at: iso(60), versions: { '1.0.0': 1, '1.1.0': 2 } },
        ]);
      });

      it('ignores reports after until, and ends on until when the span does not divide evenly', async () => {
        const series = await insights.adoption('beta', {
          since: at(0),
          until: new Date(T0 + 39 * 60_000 + 999),
          buckets: 3,
        });
        expect(series.bucketMs).to.equal(1_170_499); // (39 min + 999 ms) / 2, whole ms
        expect(series.points.map((p) => p.versions)).to.deep.equal([
          { '1.0.0': 2 },
          { '1.0.0': 2, '1.1.0': 1 },
          { '1.0.0': 1, '1.1.0': 2 },
        ]);
        expect(series.points[2]!.at).to.equal(new Date(T0 + 39 * 60_000 + 999).toISOString());
      });

      it('counts no device of another channel, and nothing on a channel without devices', async () => {
        expect(
          (await insights.adoption('stable', { since: at(0), until: at(60), buckets: 2 })).points.map(
            (p) => p.versions,
          ),
        ).to.deep.equal([{}, { '1.1.0': 1 }]);
        expect(
          (await insights.adoption('nobody', { since: at(0), until: at(60), buckets: 2 })).points.map(
            (p) => p.versions,
          ),
        ).to.deep.equal([{}, {}]);
      });

      it('refuses fewer than 2 or more than 500 buckets, and until before since', async () => {
        for (const call of [
          () => insights.adoption('beta', { since: at(0), until: at(60), buckets: 1 }),
          () => insights.adoption('beta', { since: at(0), until: at(60), buckets: 501 }),
          () => insights.adoption('beta', { since: at(60), until: at(0) }),
        ]) {
          const err: unknown = await call().catch((e: unknown) => e);
          expect(err).to.be.instanceOf(InputError).and.have.property('code', 'INVALID_INPUT');
        }
      });
    });

    describe('stepHealth and targetStats', () => {
      const steps: StepWindow[] = [
        { step: 0, percent: 10, startedAt: iso(0), endedAt: iso(30), maxFailureRate: 0.1, minDevices: 1 },
        { step: 1, percent: 50, startedAt: iso(30), endedAt: iso(45), maxFailureRate: 0.1, minDevices: 2 },
        { step: 2, percent: 100, startedAt: iso(45), endedAt: null, maxFailureRate: 0.1, minDevices: 3 },
      ];

      it('judges each step as of its end: a revert after a step ended does not count in it', async () => {
        const health = await insights.stepHealth(TARGET, steps);
        expect(health.map((h) => h.stats)).to.deep.equal([
          // b1 and b2 healthy; b3 had only refused by minute 30
          { devices: 3, healthy: 2, reverted: 0, failed: 0, refused: 1, blocked: 0, waiting: NONE_WAITING },
          // b2's revert at 40 is in step 1
          { devices: 3, healthy: 1, reverted: 1, failed: 0, refused: 1, blocked: 0, waiting: NONE_WAITING },
          { devices: 3, healthy: 2, reverted: 1, failed: 0, refused: 0, blocked: 0, waiting: NONE_WAITING },
        ]);
        expect(health[1]).to.include({ step: 1, percent: 50, startedAt: iso(30), endedAt: iso(45), minDevices: 2 });
      });

      it("targetStats without a bound is the running step's numbers; with one, the numbers at that time", async () => {
        expect(await store.targetStats(TARGET)).to.deep.equal({
          devices: 3,
          healthy: 2,
          reverted: 1,
          failed: 0,
          refused: 0,
          blocked: 0,
          waiting: NONE_WAITING,
        });
        expect(await store.targetStats(TARGET, at(9))).to.deep.equal({
          devices: 0,
          healthy: 0,
          reverted: 0,
          failed: 0,
          refused: 0,
          blocked: 0,
          waiting: NONE_WAITING,
        });
        expect(await store.targetStats(TARGET, at(10))).to.deep.equal({
          devices: 1,
          healthy: 1,
          reverted: 0,
          failed: 0,
          refused: 0,
          blocked: 0,
          waiting: NONE_WAITING,
        });
      });
    });

    it("keeps an ended step's numbers once computed (they cannot change), and computes a recent end afresh", async () => {
      const ended: StepWindow = {
        step: 0,
        percent: 10,
        startedAt: iso(0),
        endedAt: iso(15),
        maxFailureRate: 0.1,
        minDevices: 1,
      };
      const [first] = await insights.stepHealth(TARGET, [ended], at(600));
      // By minute 15 only b1 (healthy at 10) had reported on the target.
      expect(first!.stats).to.deep.equal({
        devices: 1,
        healthy: 1,
        reverted: 0,
        failed: 0,
        refused: 0,
        blocked: 0,
        waiting: NONE_WAITING,
      });
      // A report stamped before the end but stored later: an ended step already judged keeps its numbers...
      await store.sql.query(
        "INSERT INTO install_reports (device_id, received_at, version, target_name, outcome, health) VALUES ('b9', $1, '1.1.0', $2, 'installed', 'healthy')",
        [iso(14), TARGET],
      );
      const [again] = await insights.stepHealth(TARGET, [ended], at(600));
      expect(again!.stats).to.deep.equal(first!.stats);
      // ...while a step that ended moments ago is still read from the history.
      const [fresh] = await insights.stepHealth(TARGET, [ended], at(15.5));
      expect(fresh!.stats).to.deep.equal({
        devices: 2,
        healthy: 2,
        reverted: 0,
        failed: 0,
        refused: 0,
        blocked: 0,
        waiting: NONE_WAITING,
      });
      await store.sql.query("DELETE FROM install_reports WHERE device_id = 'b9'");
    });

    it('reports and enrollments keep the derived tables as a rebuild from the history would', async () => {
      // Its own devices and channels (gamma, delta), removed again so the other tests' fleet stays as seeded.
      try {
        await derivedStateScenario(store, insights);
      } finally {
        for (const table of ['devices', 'install_reports', 'target_devices', 'version_changes']) {
          await store.sql.query(`DELETE FROM ${table} WHERE device_id IN ('g1', 'g2', 'g3', 'g4')`);
        }
      }
    });

    it('breaks the fleet down by version, channel, hardware, group and status', async () => {
      expect(await insights.breakdown()).to.deep.equal({
        total: 5,
        versions: { '1.1.0': 3, '1.0.0': 1, '0.9.0': 1 },
        channels: { beta: 3, stable: 1, '(none)': 1 },
        hardwareIds: { 'kit-a': 3, 'kit-b': 1, '(none)': 1 },
        groups: { lab: 2, north: 2 },
        statuses: { enrolled: 3, revoked: 1, reported: 1 },
      });
    });

    it("lists a device's latest reports newest first, up to the limit", async () => {
      expect(await insights.deviceReports('b2', 2)).to.deep.equal([
        {
          at: iso(40),
          targetName: TARGET,
          version: '1.0.0',
          outcome: 'failed',
          health: 'reverted',
          errorCode: 'HEALTH_CHECK_FAILED',
          message: null,
        },
        {
          at: iso(25),
          targetName: TARGET,
          version: '1.1.0',
          outcome: 'installed',
          health: 'healthy',
          errorCode: null,
          message: null,
        },
      ]);
      expect(await insights.deviceReports('nobody', 50)).to.deep.equal([]);
      const err: unknown = await insights.deviceReports('b2', 0).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(InputError).and.have.property('code', 'INVALID_INPUT');
    });
  });
}

/** Enrollments and reports through the store's own paths, then the same numbers after a rebuild. */
async function derivedStateScenario(store: FleetStore, insights: Insights): Promise<void> {
  const devices = new Devices(store.sql);
  const cert = { serial: 'aa', notAfter: new Date(Date.now() + 86_400_000) };
  const grant = (deviceId: string, channel: string) => ({
    deviceId,
    hardwareId: 'kit-a',
    channel,
    groups: [],
    tags: {},
  });
  await devices.enroll(grant('g1', 'gamma'), cert, '1.0.0');
  await devices.enroll(grant('g2', 'gamma'), cert, '1.0.0');
  await devices.enroll(grant('g3', 'delta'), cert, '1.0.0');
  await new Promise((r) => setTimeout(r, 20));
  const t1 = new Date();
  await new Promise((r) => setTimeout(r, 20));
  const target = 'gamma/2.0.0/fw.bin';
  const report = (
    deviceId: string,
    reportId: string,
    version: string,
    outcome: 'installed' | 'refused' | 'failed',
    health?: 'healthy' | 'reverted',
  ) => recordSigned(store, { deviceId, reportId, version, targetName: target, outcome, ...(health ? { health } : {}) });
  expect(await report('g1', 'g1-report-1', '2.0.0', 'installed', 'healthy')).to.equal(true);
  expect(await report('g1', 'g1-report-1', '2.0.0', 'installed', 'healthy')).to.equal(false);
  await report('g2', 'g2-report-1', '1.0.0', 'refused');
  await report('g2', 'g2-report-2', '2.0.0', 'installed', 'healthy');
  await report('g2', 'g2-report-3', '1.0.0', 'failed', 'reverted');
  // Revoked and enrolled again on gamma (S-20: never over an enrollment): its history counts there from now on.
  await devices.revoke('g3', { actor: 'test' });
  await devices.enroll(grant('g3', 'gamma'), cert, '1.0.0');
  // A device that cannot install the release (blocked) and one that is only outside the rollout (not).
  await recordSigned(store, {
    deviceId: 'g3',
    reportId: 'g3-report-1',
    version: '1.0.0',
    targetName: target,
    outcome: 'refused',
    errorCode: 'ROLLBACK_INDEX_TOO_LOW',
  });
  await recordSigned(store, {
    deviceId: 'g4',
    reportId: 'g4-report-1',
    version: '1.0.0',
    targetName: target,
    outcome: 'refused',
    errorCode: 'NOT_IN_ROLLOUT',
  });
  const until = new Date(Date.now() + 1000);

  const stats = { devices: 4, healthy: 1, reverted: 1, failed: 0, refused: 2, blocked: 1, waiting: NONE_WAITING };
  expect(await store.targetStats(target)).to.deep.equal(stats);
  expect(await store.targetStats(target, until)).to.deep.equal(stats);
  const series = await insights.adoption('gamma', { since: t1, until: until, buckets: 2 });
  expect(series.points.map((p) => p.versions)).to.deep.equal([{ '1.0.0': 3 }, { '1.0.0': 2, '2.0.0': 1 }]);
  expect(
    (await insights.adoption('delta', { since: t1, until: until, buckets: 2 })).points.map((p) => p.versions),
  ).to.deep.equal([{}, {}]);

  await store.rebuildDerivedState();
  expect(await store.targetStats(target)).to.deep.equal(stats);
  expect(
    (await insights.adoption('gamma', { since: t1, until: until, buckets: 2 })).points.at(-1)!.versions,
  ).to.deep.equal({
    '1.0.0': 2,
    '2.0.0': 1,
  });
}
