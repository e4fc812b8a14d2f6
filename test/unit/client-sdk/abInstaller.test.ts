import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AbSlotInstaller, type AbStep, type VerifiedTarget } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const target = (version: string) =>
  ({ sha256: version.replace(/\D/g, '').padEnd(64, 'a'), fields: { version } }) as VerifiedTarget;
const STEPS: AbStep[] = ['image-written', 'version-written', 'trial-set', 'active-switched', 'trial-cleared'];

describe('AbSlotInstaller', () => {
  let dir: string;
  let image: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-ab-'));
    image = join(dir, 'new.img');
    await writeFile(image, 'new image');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A device already running 1.0.0 (installed into slot b, the first inactive slot). */
  async function device(options: ConstructorParameters<typeof AbSlotInstaller>[1]) {
    const first = new AbSlotInstaller(join(dir, 'dev'), { boot: () => Promise.resolve(true) });
    await writeFile(join(dir, 'old.img'), 'old image');
    await first.install(join(dir, 'old.img'), target('1.0.0'));
    await first.confirm(target('1.0.0'));
    return new AbSlotInstaller(join(dir, 'dev'), options);
  }

  it('names the running image and the hash it was verified with, for delta updates: the confirmed slot only', async () => {
    expect(
      await new AbSlotInstaller(join(dir, 'factory'), { boot: () => Promise.resolve(true) }).runningImage(),
      'a factory image has no recorded hash',
    ).to.equal(undefined);
    const ab = await device({ boot: () => Promise.resolve(false) });
    expect(await ab.runningImage()).to.deep.equal({
      file: join(dir, 'dev', 'slots', 'b', 'image'),
      sha256: target('1.0.0').sha256,
    });
    await ab.install(image, target('2.0.0'));
    expect(await ab.confirm(target('2.0.0'))).to.equal(false);
    expect((await ab.runningImage())?.sha256, 'a failed trial changes nothing').to.equal(target('1.0.0').sha256);
    await writeFile(join(dir, 'dev', 'slots', 'b', 'sha256'), 'not a hash');
    expect(await ab.runningImage(), 'a damaged record is no base').to.equal(undefined);
  });

  it('writes the inactive slot, switches after a healthy boot, and reports what runs', async () => {
    const ab = await device({ boot: () => Promise.resolve(true) });
    expect(await ab.running()).to.deep.equal({ slot: 'b', version: '1.0.0' });
    await ab.install(image, target('2.0.0'));
    expect((await ab.running()).version).to.equal('1.0.0');
    expect(await ab.confirm(target('2.0.0'))).to.equal(true);
    expect(await ab.running()).to.deep.equal({ slot: 'a', version: '2.0.0' });
    expect(await readFile(join(dir, 'dev', 'slots', 'a', 'image'), 'utf8')).to.equal('new image');
  });

  it('reverts by itself when the new slot fails its boot', async () => {
    const ab = await device({ boot: () => Promise.resolve(false) });
    await ab.install(image, target('2.0.0'));
    expect(await ab.confirm(target('2.0.0'))).to.equal(false);
    expect(await ab.running()).to.deep.equal({ slot: 'b', version: '1.0.0' });
  });

  it('ignores a boot that answers after its trial was reverted', async () => {
    let answer: (healthy: boolean) => void = () => undefined;
    let booting: () => void = () => undefined;
    const booted = new Promise<void>((r) => (booting = r));
    const ab = await device({
      boot: () => {
        booting();
        return new Promise((r) => (answer = r));
      },
    });
    await ab.install(image, target('2.0.0'));
    const confirming = ab.confirm(target('2.0.0'));
    await booted;
    await ab.revert();
    answer(true);
    expect(await confirming).to.equal(false);
    expect(await ab.running()).to.deep.equal({ slot: 'b', version: '1.0.0' });
  });

  for (const [i, cut] of STEPS.entries()) {
    it(`after a power cut at "${cut}" runs a complete old or new version`, async () => {
      const ab = await device({
        boot: () => Promise.resolve(true),
        step: (name) => {
          if (name === cut) throw new Error(`power cut at ${name}`);
        },
      });
      try {
        await ab.install(image, target('2.0.0'));
        await ab.confirm(target('2.0.0'));
      } catch {
        // the device lost power here
      }
      const rebooted = new AbSlotInstaller(join(dir, 'dev'), { boot: () => Promise.resolve(true) });
      // Only a trial that had not switched yet is a failed boot; after the switch it had confirmed.
      const recovery = await rebooted.recover();
      expect(recovery.trialDropped).to.equal(cut === 'trial-set');
      // A marker left by the cut stays until the agent has stored the outcome, then goes.
      const marker = join(dir, 'dev', 'trial');
      expect(existsSync(marker)).to.equal(recovery.afterRecorded !== undefined);
      await recovery.afterRecorded?.();
      expect(existsSync(marker)).to.equal(false);
      const now = await rebooted.running();
      const switched = i >= STEPS.indexOf('active-switched');
      expect(now.version).to.equal(switched ? '2.0.0' : '1.0.0');
      const img = await readFile(join(dir, 'dev', 'slots', now.slot, 'image'), 'utf8');
      expect(img).to.equal(switched ? 'new image' : 'old image');
    });
  }
});
