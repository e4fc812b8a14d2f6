import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import forge from 'node-forge';

import { ServerError } from '../common/errors';

/**
 * Where the ceremony keeps the RAUC bundle-signing PKI. The CA certificate is the keyring
 * devices are provisioned with (/etc/rauc/keyring.pem); the CA's key is written once to the
 * offline folder, like the offline root keys, to be stored offline and deleted here (a `.pem`,
 * not a `.key`: every `.key` file there is read as a TUF root key by root changes); the
 * signing certificate and key stay on the signing host, which builds bundles.
 */
export interface BundleSigningFiles {
  keyring: string;
  caKey: string;
  cert: string;
  key: string;
}

export function bundleSigningFiles(ceremonyDir: string): BundleSigningFiles {
  return {
    keyring: join(ceremonyDir, 'bundle-ca.pem'),
    caKey: join(ceremonyDir, 'offline', 'bundle-ca-key.pem'),
    cert: join(ceremonyDir, 'bundle-signer.pem'),
    key: join(ceremonyDir, 'bundle-signer.key'),
  };
}

const CA_YEARS = 10;
const SIGNER_YEARS = 2;
const KEY_BITS = 3072;

/**
 * The bundle-signing CA and one signing certificate, made once (idempotent: an existing
 * keyring is kept, whatever else is there, since devices were provisioned with it). RAUC
 * verifies a CMS signature against X.509 certificates; the TUF keys cannot sign that
 * (docs/adr/0065-bundle-signing-ca-from-the-ceremony.md). The signing certificate names
 * codeSigning (for RAUC's `check-purpose=codesign`) and emailProtection (OpenSSL's default
 * S/MIME purpose, which RAUC applies when no purpose is configured).
 */
export async function ensureBundleSigning(
  ceremonyDir: string,
): Promise<{ files: BundleSigningFiles; created: boolean }> {
  const files = bundleSigningFiles(ceremonyDir);
  if (existsSync(files.keyring)) return { files, created: false };
  const partial = [files.caKey, files.cert, files.key].filter((f) => existsSync(f));
  if (partial.length > 0) {
    throw new ServerError(
      'CONFIG_INVALID',
      `${partial.join(', ')} left by an unfinished ceremony: remove them and run it again`,
    );
  }
  await mkdir(join(ceremonyDir, 'offline'), { recursive: true, mode: 0o700 });
  const ca = newKey();
  const caCert = certificate({
    subject: 'Enigm OTA bundle signing CA',
    key: ca,
    issuer: { cert: undefined, key: ca },
    years: CA_YEARS,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  const signer = newKey();
  const signerCert = certificate({
    subject: 'Enigm OTA bundle signer',
    key: signer,
    issuer: { cert: caCert, key: ca },
    years: SIGNER_YEARS,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', codeSigning: true, emailProtection: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  await writeSecret(files.caKey, ca.pem);
  await writeSecret(files.key, signer.pem);
  await writeFile(files.cert, forge.pki.certificateToPem(signerCert), { flag: 'wx' });
  // The keyring last: its presence says the set is complete.
  await writeFile(files.keyring, forge.pki.certificateToPem(caCert), { flag: 'wx' });
  return { files, created: true };
}

interface Key {
  pem: string;
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}

/** Node's key generation (OpenSSL), read into node-forge, which builds the certificates. */
function newKey(): Key {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: KEY_BITS });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { pem, privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function certificate(spec: {
  subject: string;
  key: Key;
  issuer: { cert: forge.pki.Certificate | undefined; key: Key };
  years: number;
  extensions: object[];
}): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = spec.key.publicKey;
  // A positive serial of 16 random bytes (the high bit cleared keeps it positive in DER).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + spec.years * 365 * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: spec.subject }]);
  cert.setIssuer(spec.issuer.cert ? spec.issuer.cert.subject.attributes : cert.subject.attributes);
  const authority = spec.issuer.cert
    ? [{ name: 'authorityKeyIdentifier', keyIdentifier: spec.issuer.cert.generateSubjectKeyIdentifier().getBytes() }]
    : [];
  cert.setExtensions([...spec.extensions, ...authority]);
  cert.sign(spec.issuer.key.privateKey, forge.md.sha256.create());
  return cert;
}

async function writeSecret(file: string, pem: string): Promise<void> {
  await writeFile(file, pem, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
}
