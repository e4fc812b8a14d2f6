import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { type BundleInput, createBundle } from '../../../infra/raucBundle';

describe('createBundle', () => {
  let dir: string;
  let input: BundleInput;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-bundle-input-'));
    await writeFile(join(dir, 'rootfs.ext4'), 'image');
    input = {
      image: join(dir, 'rootfs.ext4'),
      version: '1.2.3',
      compatible: 'enigm-ota-vm',
      out: join(dir, 'out.raucb'),
      signing: { cert: 'c', key: 'k', keyring: 'r' },
      // Never reached: every refusal below comes before RAUC runs.
      rauc: '/nonexistent/rauc',
    };
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const refusals: Array<[string, Partial<BundleInput>]> = [
    [
      'a compatible string with a line break (a key injected into the signed manifest)',
      { compatible: 'x\nversion=9.9.9' },
    ],
    ['a version with a line break', { version: '1.2.3\n[image.appfs]' }],
    ['a version that is not semantic', { version: 'latest' }],
    ['a slot class with a bracket', { slotClass: 'rootfs]\n[hooks' }],
    ['an image named for no format RAUC writes', { image: 'rootfs.bin' }],
  ];
  for (const [what, change] of refusals) {
    it(`refuses ${what} with INVALID_INPUT`, async () => {
      const changed = { ...input, ...change };
      if (change.image) changed.image = join(dir, change.image);
      const err = await createBundle(changed).catch((e: unknown) => e);
      expect(err).to.have.property('code', 'INVALID_INPUT');
    });
  }

  it('says CONFIG_INVALID when rauc is not installed', async () => {
    const err = await createBundle(input).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'CONFIG_INVALID');
  });
});
