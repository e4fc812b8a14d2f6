import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { UpdateResult } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import {
  bootedSlot,
  deviceRunningOld,
  loopbackDevice,
  type LoopDelta,
  makeDelta,
  type Release,
  sha256Of,
} from './loopbackOta';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Images like consecutive builds: mostly the same bytes, some edited, some moved. */
const BASE = Buffer.from(
  Array.from({ length: 4000 }, (_, i) => `symbol_${i} ${randomBytes(5).toString('hex')}\n`).join(''),
);
const edit = (from: Buffer, seed: number) => {
  const next = Buffer.from(from);
  for (let at = seed * 997; at < next.length; at += 23_000) randomBytes(48).copy(next, at);
  return Buffer.concat([next, randomBytes(2000)]);
};
const V1: Release = { version: '1.0.0', rollbackIndex: 1, bytes: BASE };
const V2: Release = { version: '2.0.0', rollbackIndex: 2, bytes: edit(BASE, 1) };
const V3: Release = { version: '3.0.0', rollbackIndex: 3, bytes: edit(V2.bytes, 2) };

const installed = (r: UpdateResult) => (r.status === 'installed' ? r.delivery : undefined);

describe('DeviceAgent with delta updates (D-17)', () => {
  describe('a delta signed in both repositories for the running image', () => {
    let delta: LoopDelta;
    const ctx = deviceRunningOld(V1, V2, 'ota-delta-', async () => {
      delta = await makeDelta(V1, V2);
      return [delta];
    });

    it('rebuilds the new image from the running one, downloading only the delta, and reports how it came', async () => {
      const result = await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate();
      expect(result).to.include({ status: 'installed', version: V2.version });
      expect(installed(result)).to.deep.equal({ as: 'delta', bytes: delta.bytes.length });
      expect(delta.bytes.length).to.be.lessThan(V2.bytes.length / 4);
      expect(ctx.ota.fetched).to.deep.equal([sha(delta.bytes)]);
      expect(await bootedSlot(ctx.stateDir, [V1, V2])).to.deep.equal({ version: V2.version, complete: true });
      expect(ctx.ota.reports.map((r) => r.delivery)).to.deep.equal([{ as: 'delta', bytes: delta.bytes.length }]);
    });

    it('applies the delta again over a rebuilt image cut short (a power cut while it was written)', async () => {
      await mkdir(join(ctx.stateDir, 'downloads'), { recursive: true });
      await writeFile(
        join(ctx.stateDir, 'downloads', `${sha256Of(V2)}.partial`),
        Buffer.concat([V2.bytes.subarray(0, 5000), Buffer.alloc(3000)]),
      );
      const result = await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate();
      expect(installed(result)).to.deep.equal({ as: 'delta', bytes: delta.bytes.length });
      expect(ctx.ota.fetched).to.deep.equal([sha(delta.bytes)]);
      expect(await bootedSlot(ctx.stateDir, [V1, V2])).to.deep.equal({ version: V2.version, complete: true });
    });
  });

  /** Each attack is refused with its code, and the device installs the verified full image instead. */
  const attacks: Array<[string, string, () => Promise<LoopDelta>]> = [
    [
      'signed in the release repository only',
      'DELTA_MISMATCH',
      async () => ({ ...(await makeDelta(V1, V2)), in: ['release'] }),
    ],
    [
      'signed in the rollout repository only',
      'DELTA_MISMATCH',
      async () => ({ ...(await makeDelta(V1, V2)), in: ['rollout'] }),
    ],
    [
      'made for another base (listed under the running image, bound to another)',
      'DELTA_BASE_MISMATCH',
      async () => {
        const d = await makeDelta(V1, V2);
        return { ...d, binding: { ...d.binding, base: { sha256: sha256Of(V3), length: V1.bytes.length } } };
      },
    ],
    [
      'bound to another full target',
      'DELTA_MISMATCH',
      async () => {
        const d = await makeDelta(V1, V2);
        return { ...d, binding: { ...d.binding, target: { ...d.binding.target, sha256: sha256Of(V3) } } };
      },
    ],
    [
      'tampered with in storage or in transit',
      'TARGET_HASH_MISMATCH',
      async () => {
        const d = await makeDelta(V1, V2);
        const served = Buffer.from(d.bytes);
        served[served.length - 10]! ^= 0xff;
        return { ...d, served };
      },
    ],
    [
      'refused by the API (its base is a protected release the device may not have)',
      'DOWNLOAD_FAILED',
      async () => ({ ...(await makeDelta(V1, V2)), refused: true }),
    ],
    [
      'signed, but rebuilding another image than the full target',
      'DELTA_OUTPUT_MISMATCH',
      async () => {
        const other = await makeDelta(V1, V3);
        const genuine = await makeDelta(V1, V2);
        return { ...other, name: genuine.name, binding: { ...other.binding, target: genuine.binding.target } };
      },
    ],
  ];
  for (const [what, code, make] of attacks) {
    describe(`a delta ${what}`, () => {
      const ctx = deviceRunningOld(V1, V2, 'ota-delta-attack-', async () => [await make()]);

      it(`is refused with ${code}, then the full image installs`, async () => {
        const result = await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate();
        expect(result).to.include({ status: 'installed', version: V2.version });
        expect(installed(result)).to.deep.equal({ as: 'full', bytes: V2.bytes.length, deltaRefused: code });
        expect(ctx.ota.fetched.at(-1)).to.equal(sha256Of(V2));
        expect(await bootedSlot(ctx.stateDir, [V1, V2])).to.deep.equal({ version: V2.version, complete: true });
      });
    });
  }

  describe('a device two releases behind', () => {
    let fromV1: LoopDelta;
    const ctx = deviceRunningOld(V1, V3, 'ota-delta-behind-', async () => {
      fromV1 = await makeDelta(V1, V3);
      return [await makeDelta(V2, V3), fromV1];
    });

    it('uses the delta from the image it runs', async () => {
      const result = await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate();
      expect(installed(result)).to.deep.equal({ as: 'delta', bytes: fromV1.bytes.length });
      expect(ctx.ota.fetched).to.deep.equal([sha(fromV1.bytes)]);
      expect(await bootedSlot(ctx.stateDir, [V1, V3])).to.deep.equal({ version: V3.version, complete: true });
    });
  });

  describe('a device whose image no delta applies to', () => {
    const ctx = deviceRunningOld(V1, V3, 'ota-delta-none-', async () => [await makeDelta(V2, V3)]);

    it('takes the full image and reports no refusal', async () => {
      const result = await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate();
      expect(installed(result)).to.deep.equal({ as: 'full', bytes: V3.bytes.length });
      expect(ctx.ota.fetched).to.deep.equal([sha256Of(V3)]);
    });
  });
});
