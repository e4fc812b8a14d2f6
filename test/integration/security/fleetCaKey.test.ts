import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { DeviceIdentity } from '@enigm-ota/client-sdk';
import { expect } from 'chai';
import forge from 'node-forge';
import * as pkcs11js from 'pkcs11js';

import { ceremonyFiles, loadConfig, requireHsmPin } from '../../../infra/config';
import { FLEET_CA_KEY_LABEL, FleetCa, fleetCaToken } from '../../../infra/fleetCa';
import { Hsm } from '../../../infra/hsm';
import { ProcessManager } from '../../../scripts/lib/processes';
import { TEST_PROFILE } from '../../../scripts/lib/stack';
import { bundleSigningFiles } from '../../../trust/bundleSigning';
import { rejectionOf } from '../../rejection';
import { device, testConfig } from '../helpers';

/**
 * S-23, keys out of the API's reach: a CA key the API could read would let whoever took over
 * an API replica copy it and mint device identities forever. The key is made in a token of
 * its own, sensitive and never extractable; the API holds only that token's PIN. These tests
 * look at the live stack's files, token and API process, then enroll and renew through it.
 */
describe("the fleet CA key is out of the API process's reach (S-23)", () => {
  let caCert: forge.pki.Certificate;
  let caPem: string;

  before(async () => {
    caPem = await readFile(testConfig().identity.fleetCaCert, 'utf8');
    caCert = forge.pki.certificateFromPem(caPem);
  });

  /** Every file under `dir`, recursively. */
  async function filesUnder(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) out.push(...(await filesUnder(path)));
      else if (entry.isFile()) out.push(path);
    }
    return out;
  }

  function openCaToken(): Hsm {
    const token = fleetCaToken(testConfig());
    return Hsm.open(token, token.pin);
  }

  describe('the key ceremony', () => {
    it("writes no fleet CA private key file: the only PEM private keys in the ceremony folder are the API's TLS key and RAUC's bundle keys", async () => {
      const config = testConfig();
      const keyFile = join(config.ceremonyDir, 'offline', 'fleet-ca-key.pem');
      expect(await stat(keyFile).catch(() => undefined), keyFile).to.equal(undefined);
      const withPrivateKeys: string[] = [];
      for (const file of await filesUnder(config.ceremonyDir)) {
        if ((await stat(file)).size > 1024 * 1024) continue;
        const text = await readFile(file, 'utf8');
        if (!/-----BEGIN (RSA |ENCRYPTED )?PRIVATE KEY-----/.test(text)) continue;
        withPrivateKeys.push(file);
        const key = forge.pki.privateKeyFromPem(text);
        expect(key.n.equals((caCert.publicKey as forge.pki.rsa.PublicKey).n), `${file} holds the CA's key`).to.equal(
          false,
        );
      }
      // RAUC signs bundles with a key file (it reaches PKCS11 only through libp11): the bundle CA's
      // key is written for offline storage, the signer's stays on the signing host (ADR 0065).
      const bundle = bundleSigningFiles(config.ceremonyDir);
      expect(withPrivateKeys.sort()).to.deep.equal(
        [ceremonyFiles(config.ceremonyDir).serverKey, bundle.caKey, bundle.key].sort(),
      );
    });

    it("makes the key in the fleet CA's own token: sensitive, never extractable, and the certificate's key", () => {
      const hsm = openCaToken();
      try {
        expect(hsm.keyProtection(FLEET_CA_KEY_LABEL)).to.deep.equal({
          sensitive: true,
          extractable: false,
          alwaysSensitive: true,
          neverExtractable: true,
        });
        const pair = hsm.rsaKeyPair(FLEET_CA_KEY_LABEL);
        expect(pair.modulus.toString('hex').replace(/^0+/, '')).to.equal(
          (caCert.publicKey as forge.pki.rsa.PublicKey).n.toString(16),
        );
      } finally {
        hsm.close();
      }
    });

    it('keeps it apart from the signing keys: the signing token holds no CA key, the CA token no signing key', () => {
      const config = testConfig();
      const signing = Hsm.open(config.hsm, requireHsmPin(config));
      const ca = openCaToken();
      try {
        expect(signing.has(FLEET_CA_KEY_LABEL)).to.equal(false);
        expect(signing.keyPairs().length).to.be.greaterThan(0);
        expect(ca.keyPairs()).to.deep.equal([]);
      } finally {
        ca.close();
        signing.close();
      }
    });

    it('the token refuses to reveal the private exponent, even in a session logged in with the PIN', () => {
      const hsm = openCaToken(); // keeps the module initialized while the raw session below uses it
      const lib = new pkcs11js.PKCS11();
      lib.load(testConfig().hsm.module);
      try {
        try {
          lib.C_Initialize();
        } catch (err) {
          expect((err as { code?: number }).code).to.equal(pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED);
        }
        const token = fleetCaToken(testConfig());
        const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token.tokenLabel);
        expect(slot, 'the fleet CA token').to.not.equal(undefined);
        const session = lib.C_OpenSession(slot!, pkcs11js.CKF_SERIAL_SESSION);
        try {
          try {
            lib.C_Login(session, pkcs11js.CKU_USER, token.pin);
          } catch (err) {
            expect((err as { code?: number }).code).to.equal(pkcs11js.CKR_USER_ALREADY_LOGGED_IN);
          }
          lib.C_FindObjectsInit(session, [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
            { type: pkcs11js.CKA_LABEL, value: FLEET_CA_KEY_LABEL },
          ]);
          const [key] = lib.C_FindObjects(session, 1);
          lib.C_FindObjectsFinal(session);
          expect(key, 'the CA private key object').to.not.equal(undefined);
          let code: number | undefined;
          try {
            lib.C_GetAttributeValue(session, key!, [{ type: pkcs11js.CKA_PRIVATE_EXPONENT }]);
          } catch (err) {
            code = (err as { code?: number }).code;
          }
          expect(code).to.equal(pkcs11js.CKR_ATTRIBUTE_SENSITIVE);
        } finally {
          lib.C_CloseSession(session);
        }
      } finally {
        lib.close();
        hsm.close();
      }
    });
  });

  describe('the API process', () => {
    async function apiProcess(): Promise<{ pid: number; env: Record<string, string> }> {
      const pid = new ProcessManager(TEST_PROFILE.home).running('api');
      expect(pid, 'the API is running').to.be.a('number');
      const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
      const env = Object.fromEntries(
        raw
          .split('\0')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      return { pid: pid!, env };
    }

    it("has the CA token's PIN but not the signing keys' (it cannot open that token: CONFIG_INVALID)", async () => {
      const { env } = await apiProcess();
      expect(env['OTA_FLEET_CA_PIN'], 'the fleet CA token PIN').to.be.a('string').and.not.equal('');
      const config = loadConfig(env);
      expect(() => requireHsmPin(config))
        .to.throw()
        .with.property('code', 'CONFIG_INVALID');
      expect(config.hsm.fleetCaToken).to.not.equal(config.hsm.tokenLabel);
    });

    it('references no CA key file: not in its environment, not among its open files; it says it signs with the HSM', async () => {
      const { pid, env } = await apiProcess();
      expect(Object.keys(env)).to.not.include('OTA_FLEET_CA_KEY');
      expect(
        Object.values(env).filter(
          (v) => v.includes('fleet-ca-key') || v.includes(join(testConfig().ceremonyDir, 'offline')),
        ),
      ).to.deep.equal([]);
      const open: string[] = [];
      for (const fd of await readdir(`/proc/${pid}/fd`))
        open.push(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
      expect(open.filter((f) => f.includes('fleet-ca-key') || f.includes('/offline/'))).to.deep.equal([]);
      const log = await readFile(new ProcessManager(TEST_PROFILE.home).logFile('api'), 'utf8');
      const ready = log
        .split('\n')
        .filter((l) => l.includes('"api ready"'))
        .map((l) => JSON.parse(l) as { fleetCaKey?: string });
      expect(ready.at(-1)).to.have.property('fleetCaKey', 'hsm');
    });
  });

  describe('enrollment and renewal', () => {
    function expectIssuedByCa(certPem: string): void {
      const cert = forge.pki.certificateFromPem(certPem);
      expect(caCert.verify(cert), 'node-forge verifies it against the CA certificate').to.equal(true);
      expect(cert.signatureOid).to.equal(forge.pki.oids['sha256WithRSAEncryption']);
      // An independent check (OpenSSL through node:crypto), as a device's TLS stack would do it.
      const x509 = new X509Certificate(certPem);
      const ca = new X509Certificate(caPem);
      expect(x509.checkIssued(ca)).to.equal(true);
      expect(x509.verify(ca.publicKey)).to.equal(true);
    }

    it('work as before: the certificates the token signs verify against the CA certificate', async () => {
      const agent = await device('ca-hsm-renew', 'identity');
      const first = (await agent.identity()) as DeviceIdentity;
      expectIssuedByCa(first.certPem);
      expect(new X509Certificate(first.certPem).subject).to.include('CN=ca-hsm-renew');
      // A clock 80 days on: less than a third of the 90-day certificate is left, so the SDK renews.
      const later = await device('ca-hsm-renew', 'identity', { now: () => new Date(Date.now() + 80 * 86_400_000) });
      await later.checkForUpdate();
      const renewed = (await later.identity()) as DeviceIdentity;
      expect(renewed.certPem).to.not.equal(first.certPem);
      expectIssuedByCa(renewed.certPem);
    });

    it("the API's TLS certificate is the CA's too", async () => {
      expectIssuedByCa(await readFile(testConfig().identity.apiTlsCert, 'utf8'));
    });
  });

  describe('a CA key file beside the certificate', () => {
    /** A ceremony folder holding a CA certificate and, beside it, that certificate's key as a file; the certificate's path. */
    async function folderWithKeyFile(name: string): Promise<string> {
      const dir = join(testConfig().home, 'ca-key-file', name);
      const caCert = ceremonyFiles(dir).caCert;
      const keyFile = join(dir, 'offline', 'fleet-ca-key.pem');
      const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
      const cert = forge.pki.createCertificate();
      cert.publicKey = keys.publicKey;
      cert.serialNumber = '01';
      cert.validity.notBefore = new Date(Date.now() - 60_000);
      cert.validity.notAfter = new Date(Date.now() + 86_400_000);
      cert.setSubject([{ name: 'commonName', value: 'fleet CA with a key file' }]);
      cert.setIssuer(cert.subject.attributes);
      cert.setExtensions([
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, critical: true },
        { name: 'subjectKeyIdentifier' },
      ]);
      cert.sign(keys.privateKey, forge.md.sha256.create());
      await mkdir(join(dir, 'offline'), { recursive: true });
      await writeFile(caCert, forge.pki.certificateToPem(cert));
      await writeFile(keyFile, forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
      return caCert;
    }

    it('is never read: without the CA token there is no key to sign with (CONFIG_INVALID)', async () => {
      const caCert = await folderWithKeyFile('no-token');
      const err = await rejectionOf(FleetCa.load(caCert, { ...fleetCaToken(testConfig()), pin: '' }));
      expect(err).to.have.property('code', 'CONFIG_INVALID');
    });

    it("is never read: the token's key, which is not that certificate's, is refused (CONFIG_INVALID)", async () => {
      const caCert = await folderWithKeyFile('token-key');
      const err = await rejectionOf(FleetCa.load(caCert, fleetCaToken(testConfig())));
      expect(err).to.have.property('code', 'CONFIG_INVALID');
    });

    it("a certificate copied without its key is refused with the token's key (CONFIG_INVALID)", async () => {
      const config = testConfig();
      const caCert = await folderWithKeyFile('source');
      const certOnly = ceremonyFiles(join(config.home, 'ca-key-file', 'cert-only')).caCert;
      await mkdir(join(certOnly, '..'), { recursive: true });
      await copyFile(caCert, certOnly);
      const err = await rejectionOf(FleetCa.load(certOnly, fleetCaToken(config)));
      expect(err).to.have.property('code', 'CONFIG_INVALID');
    });

    it("without the CA token's PIN, the stack's own CA cannot sign (CONFIG_INVALID)", async () => {
      const config = testConfig();
      const err = await rejectionOf(
        FleetCa.load(ceremonyFiles(config.ceremonyDir).caCert, { ...fleetCaToken(config), pin: '' }),
      );
      expect(err).to.have.property('code', 'CONFIG_INVALID');
    });
  });
});
