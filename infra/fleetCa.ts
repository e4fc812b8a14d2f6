import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import forge from 'node-forge';

import { InputError, ServerError } from '../common/errors';
import { patterns } from '../common/validation';
import type { CeremonyFiles, Config } from './config';
import { Hsm } from './hsm';

/** Devices are named in their certificate's CN; the same pattern as everywhere else. */
export const DEVICE_ID = new RegExp(patterns.deviceId);
export const MAX_CSR_BYTES = 8 * 1024;
/** The SDK makes 2048-bit keys; a larger key than 4096 bits only makes the CA work harder. */
const CSR_RSA_BITS = { min: 2048, max: 4096 } as const;
/** e = 65537 only: small exponents are where RSA signature forgeries live. */
const CSR_RSA_EXPONENT = '65537';
/** RSASSA-PKCS1-v1_5 with SHA-2 (the SDK signs with SHA-256); MD5 and SHA-1 prove too little. */
const CSR_SIGNATURE_OIDS: ReadonlySet<string> = new Set(
  ['sha256WithRSAEncryption', 'sha384WithRSAEncryption', 'sha512WithRSAEncryption'].map(
    (name) => forge.pki.oids[name]!,
  ),
);
const CA_YEARS = 10;
/** S-23: the CA's key in its HSM token; the ceremony makes it, every signature is the token's. */
export const FLEET_CA_KEY_LABEL = 'fleet-ca';
const CA_KEY_BITS = 3072;
const SHA256_WITH_RSA = forge.pki.oids['sha256WithRSAEncryption']!;

/** The fleet CA's HSM token: the module and SoftHSM2 settings of `Config['hsm']`, its label and PIN. */
export type FleetCaToken = Pick<Config['hsm'], 'module' | 'softhsmConf'> & { tokenLabel: string; pin: string };

export function fleetCaToken(config: Config): FleetCaToken {
  const { module, softhsmConf, fleetCaToken: tokenLabel, fleetCaPin: pin } = config.hsm;
  return { module, softhsmConf, tokenLabel, pin };
}

/** Where the CA's signatures come from: the HSM token, or memory (benchmarks). */
export type FleetCaKeySource = 'hsm' | 'memory';

/** Signs a certificate's DER TBSCertificate with RSA RSASSA-PKCS1-v1_5 over SHA-256. */
interface CaKey {
  readonly source: FleetCaKeySource;
  readonly publicKey: forge.pki.rsa.PublicKey;
  sign(tbs: Buffer): Buffer;
  close(): void;
}

/**
 * The fleet CA (node-forge builds the certificates): it issues the API's TLS certificate and,
 * at enrollment, device certificates whose CN is the device id. Devices trust only this CA
 * for the API, and the API accepts only certificates it issued. Created once, idempotently,
 * by the ceremony. S-23: its private key is made in its own HSM token and never leaves it;
 * the API holds that token's PIN, so it can have certificates signed but cannot copy the key.
 */
export class FleetCa {
  private constructor(
    readonly cert: forge.pki.Certificate,
    private readonly key: CaKey,
  ) {}

  get certPem(): string {
    return forge.pki.certificateToPem(this.cert);
  }

  /** Which key signs: `hsm` for every stack, `memory` for a benchmark's ephemeral CA. */
  get keySource(): FleetCaKeySource {
    return this.key.source;
  }

  /** Ends the HSM session (the API's stop, the ceremony's end). */
  close(): void {
    this.key.close();
  }

  /**
   * The ceremony: the CA's key in the token and its self-signed certificate, then the API's TLS
   * certificate. An existing CA is kept, whichever key it has: devices were provisioned with
   * its certificate, so a new CA would cut them off. The caller closes the CA returned.
   */
  static async ensure(
    files: CeremonyFiles,
    issue: { apiHosts: string[]; token: FleetCaToken },
  ): Promise<{ ca: FleetCa; created: boolean }> {
    const { apiHosts, token } = issue;
    let created = false;
    if (!existsSync(files.caCert)) {
      const key = hsmKey(openToken(token), { generate: true });
      try {
        const cert = newCert(key.publicKey, 'Enigm OTA fleet CA', CA_YEARS * 365 * 24);
        cert.setIssuer(cert.subject.attributes);
        cert.setExtensions([
          { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
          { name: 'subjectKeyIdentifier' },
        ]);
        signCert(cert, key);
        await mkdir(join(files.caCert, '..'), { recursive: true });
        await atomicWrite(files.caCert, forge.pki.certificateToPem(cert), 0o644);
      } finally {
        key.close();
      }
      created = true;
    }
    const ca = await FleetCa.load(files.caCert, token);
    try {
      if (created || !existsSync(files.serverCert)) {
        const server = ca.issueServer('Enigm OTA device API', apiHosts, 2 * 365 * 24);
        await atomicWrite(files.serverKey, server.keyPem, 0o600);
        await atomicWrite(files.serverCert, server.certPem, 0o644);
      }
    } catch (err) {
      ca.close();
      throw err;
    }
    return { ca, created };
  }

  /**
   * The CA as the API uses it, from its certificate (`caCert`, a PEM file) and its token.
   * S-23: the key is the token's: sensitive, never extractable, and the certificate's key;
   * no key is ever read from a file.
   */
  static async load(caCert: string, token: FleetCaToken): Promise<FleetCa> {
    let cert: forge.pki.Certificate;
    try {
      cert = forge.pki.certificateFromPem(await readFile(caCert, 'utf8'));
    } catch (err) {
      throw new ServerError(
        'CONFIG_INVALID',
        `the fleet CA certificate ${caCert} cannot be read (run the key ceremony: ota keys init)`,
        { cause: err },
      );
    }
    const key = hsmKey(openToken(token), { generate: false });
    if (!samePublicKey(key.publicKey, cert.publicKey as forge.pki.rsa.PublicKey)) {
      key.close();
      throw new ServerError('CONFIG_INVALID', `the fleet CA's ${key.source} key is not the key of ${caCert}`);
    }
    return new FleetCa(cert, key);
  }

  /** A CA whose key exists only in this process's memory: benchmarks, never a stack. */
  static ephemeral(): FleetCa {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const key = memoryKey(keys);
    const cert = newCert(keys.publicKey, 'Enigm OTA ephemeral CA', 24);
    cert.setIssuer(cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    signCert(cert, key);
    return new FleetCa(cert, key);
  }

  /**
   * Enrollment and renewal: a device certificate from a CSR that passes `verifyCsr`. The
   * subject is set here, from the enrollment token or the current certificate, never taken
   * from the CSR.
   */
  signDeviceCsr(
    csrPem: string,
    deviceId: string,
    validHours: number,
  ): { certPem: string; serial: string; notAfter: Date } {
    if (!DEVICE_ID.test(deviceId)) throw new InputError('device id is not valid');
    const publicKey = verifyCsr(csrPem);
    const cert = this.issue(publicKey, { cn: deviceId, validHours, use: 'client', hosts: [] });
    return { certPem: forge.pki.certificateToPem(cert), serial: cert.serialNumber, notAfter: cert.validity.notAfter };
  }

  /** A TLS server certificate and key from this CA (the API's; tests also play a compromised API). */
  issueServer(cn: string, hosts: string[], validHours = 24): { certPem: string; keyPem: string } {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const cert = this.issue(keys.publicKey, { cn, validHours, use: 'server', hosts });
    return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
  }

  private issue(
    publicKey: forge.pki.PublicKey,
    { cn, validHours, use, hosts }: { cn: string; validHours: number; use: 'server' | 'client'; hosts: string[] },
  ): forge.pki.Certificate {
    const cert = newCert(publicKey, cn, validHours);
    cert.setIssuer(this.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: use === 'server', clientAuth: use === 'client' },
      ...(hosts.length
        ? [
            {
              name: 'subjectAltName',
              altNames: hosts.map((h) => (/^[\d.]+$/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })),
            },
          ]
        : []),
      { name: 'authorityKeyIdentifier', keyIdentifier: this.cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    signCert(cert, this.key);
    // Fail closed: what leaves the CA verifies against the CA certificate, as a device checks it.
    if (!this.cert.verify(forge.pki.certificateFromPem(forge.pki.certificateToPem(cert)))) {
      throw new ServerError(
        'CONFIG_INVALID',
        `the fleet CA's ${this.key.source} key made a signature its certificate does not verify`,
      );
    }
    return cert;
  }
}

/**
 * S-20: the CSR proves possession of its key. Each step throws CSR_INVALID; the result is
 * the key a certificate may be issued for. No I/O, so it is unit tested on its own.
 */
export function verifyCsr(csrPem: string): forge.pki.rsa.PublicKey {
  if (csrPem.length > MAX_CSR_BYTES) throw new ServerError('CSR_INVALID', `CSR larger than ${MAX_CSR_BYTES} bytes`);
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch {
    throw new ServerError('CSR_INVALID', 'CSR is not a PEM PKCS#10 request with an RSA key');
  }
  const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!publicKey?.n || !publicKey.e) throw new ServerError('CSR_INVALID', 'CSR carries no RSA key');
  const bits = publicKey.n.bitLength();
  if (bits < CSR_RSA_BITS.min || bits > CSR_RSA_BITS.max) {
    throw new ServerError(
      'CSR_INVALID',
      `CSR key must be RSA of ${CSR_RSA_BITS.min} to ${CSR_RSA_BITS.max} bits, not ${bits}`,
    );
  }
  if (publicKey.e.toString(10) !== CSR_RSA_EXPONENT)
    throw new ServerError('CSR_INVALID', `CSR key must use the public exponent ${CSR_RSA_EXPONENT}`);
  if (!CSR_SIGNATURE_OIDS.has(String(csr.signatureOid)))
    throw new ServerError('CSR_INVALID', 'CSR must be signed with RSA PKCS#1 v1.5 and SHA-256, -384 or -512');
  // The signature is checked with the key the CSR carries: a request signed by any other key
  // (someone relaying another device's public key) proves nothing and gets nothing.
  let signed = false;
  try {
    signed = csr.verify();
  } catch {
    signed = false;
  }
  if (!signed)
    throw new ServerError('CSR_INVALID', 'CSR signature does not verify with its own key (no proof of possession)');
  return publicKey;
}

function newCert(publicKey: forge.pki.PublicKey, cn: string, validHours: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive 128-bit serial, unguessable and unique in practice.
  cert.serialNumber = `01${randomBytes(16).toString('hex')}`;
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60_000); // tolerate small clock skew
  cert.validity.notAfter = new Date(now + validHours * 3_600_000);
  cert.setSubject([
    { name: 'commonName', value: cn },
    { name: 'organizationName', value: 'Enigm OTA' },
  ]);
  return cert;
}

async function atomicWrite(file: string, text: string, mode: number): Promise<void> {
  await writeFile(`${file}.tmp`, text, { mode });
  await rename(`${file}.tmp`, file);
}

/** node-forge's `cert.sign`, with the signature made by `key` (the token) over the DER TBSCertificate. */
function signCert(cert: forge.pki.Certificate, key: CaKey): void {
  cert.signatureOid = cert.siginfo.algorithmOid = SHA256_WITH_RSA;
  // getTBSCertificate is part of node-forge's pki API, missing from its type definitions.
  const tbs = (
    forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
  ).getTBSCertificate(cert);
  (cert as unknown as { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  cert.signature = key.sign(Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary')).toString('binary');
}

function openToken(token: FleetCaToken): Hsm {
  if (!token.pin)
    throw new ServerError('CONFIG_INVALID', 'OTA_FLEET_CA_PIN is not set (the fleet CA signs in its HSM token)');
  return Hsm.open(token, token.pin);
}

/** S-23: the token's key, refused unless the token says it was made there and can never leave it. */
function hsmKey(hsm: Hsm, { generate }: { generate: boolean }): CaKey {
  try {
    if (!generate && !hsm.has(FLEET_CA_KEY_LABEL)) {
      throw new ServerError(
        'CONFIG_INVALID',
        `the fleet CA's key "${FLEET_CA_KEY_LABEL}" is not in its HSM token (run the key ceremony: ota keys init)`,
      );
    }
    const pair = generate ? hsm.generateRsa(FLEET_CA_KEY_LABEL, CA_KEY_BITS) : hsm.rsaKeyPair(FLEET_CA_KEY_LABEL);
    const p = hsm.keyProtection(FLEET_CA_KEY_LABEL);
    if (!p.sensitive || p.extractable || !p.alwaysSensitive || !p.neverExtractable) {
      throw new ServerError(
        'CONFIG_INVALID',
        `the fleet CA's key in the HSM could be or has been extracted (${JSON.stringify(p)}); make a new CA`,
      );
    }
    const big = (b: Buffer) => new forge.jsbn.BigInteger(b.toString('hex'), 16);
    return {
      source: 'hsm',
      publicKey: forge.pki.setRsaPublicKey(big(pair.modulus), big(pair.publicExponent)),
      sign: (tbs) => pair.sign(tbs),
      close: () => hsm.close(),
    };
  } catch (err) {
    hsm.close();
    throw err;
  }
}

function memoryKey(keys: forge.pki.rsa.KeyPair): CaKey {
  return {
    source: 'memory',
    publicKey: keys.publicKey,
    sign: (tbs) => {
      const md = forge.md.sha256.create();
      md.update(tbs.toString('binary'));
      return Buffer.from(keys.privateKey.sign(md), 'binary');
    },
    close: () => undefined,
  };
}

function samePublicKey(a: forge.pki.rsa.PublicKey, b: forge.pki.rsa.PublicKey | undefined): boolean {
  return !!b?.n && !!b.e && a.n.equals(b.n) && a.e.equals(b.e);
}
