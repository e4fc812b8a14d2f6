import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { newKeyAndCsr } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { FleetCa, verifyCsr } from '../../../infra/fleetCa';

const run = promisify(execFile);

describe('newKeyAndCsr (a PKCS10 request written with node:crypto)', () => {
  it('makes a request openssl verifies, signed by its key, naming the device, which the fleet CA signs', async () => {
    const { keyPem, csrPem } = newKeyAndCsr('dev-7_a');
    const dir = await mkdtemp(join(tmpdir(), 'ota-csr-'));
    try {
      await writeFile(join(dir, 'csr.pem'), csrPem);
      await writeFile(join(dir, 'key.pem'), keyPem);
      const { stdout, stderr } = await run('openssl', [
        'req',
        '-in',
        join(dir, 'csr.pem'),
        '-noout',
        '-verify',
        '-subject',
      ]);
      expect(`${stdout}${stderr}`)
        .to.match(/verify OK/)
        .and.match(/subject=CN ?= ?dev-7_a/);
      // The request's key is the device's: the same public key openssl derives from the private one.
      const fromCsr = await run('openssl', ['req', '-in', join(dir, 'csr.pem'), '-noout', '-pubkey']);
      const fromKey = await run('openssl', ['pkey', '-in', join(dir, 'key.pem'), '-pubout']);
      expect(fromCsr.stdout).to.equal(fromKey.stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(verifyCsr(csrPem).n.bitLength()).to.equal(2048);
    const ca = FleetCa.ephemeral();
    expect(ca.signDeviceCsr(csrPem, 'dev-7_a', 1).certPem).to.match(/^-----BEGIN CERTIFICATE-----/);
  });
});
