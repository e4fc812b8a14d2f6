import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { slotImageWithVersion } from '../../device/image/deviceImage';
import { deviceImage } from './referenceVm';

const run = promisify(execFile);

async function versionIn(rootfs: string): Promise<string> {
  return (await run('debugfs', ['-R', 'cat /etc/enigm-ota/version', rootfs])).stdout.trim();
}

describe('reference image: slot content of another version', function () {
  it('writes the version and provisioned files into a copy of the slot filesystem, the original untouched', async function () {
    this.timeout(900_000);
    const { rootfs } = await deviceImage();
    const dir = await mkdtemp(join(tmpdir(), 'enigm-ota-slot-test-'));
    try {
      const out = join(dir, 'rootfs-2.0.0.ext4');
      const config = { path: '/etc/enigm-ota/provisioned/agent.json', content: '{"x":1}\n', mode: 0o600 };
      await slotImageWithVersion({ rootfs, version: '2.0.0', out, files: [config] });
      assert.equal(await versionIn(out), '2.0.0');
      const { stdout } = await run('debugfs', ['-R', `stat ${config.path}`, out]);
      assert.match(stdout, /Mode: +0600\b/);
      assert.match(stdout, /User: +0 +Group: +0\b/);
      assert.equal((await run('debugfs', ['-R', `cat ${config.path}`, out])).stdout, config.content);
      assert.equal(await versionIn(rootfs), '1.0.0');
      assert.equal((await stat(out)).size, (await stat(rootfs)).size);
      await run('e2fsck', ['-fn', out]);
      await assert.rejects(slotImageWithVersion({ rootfs, version: '2.0.0; rm -rf /', out }), /bad version/);
      const outside = { path: '/etc/../../x', content: '', mode: 0o644 };
      await assert.rejects(slotImageWithVersion({ rootfs, version: '2.0.0', out, files: [outside] }), /bad path/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
