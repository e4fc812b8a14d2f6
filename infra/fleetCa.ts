import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { InputError } from '../common/errors';
import { patterns } from '../common/validation';

/** Devices are named in their certificate's CN; the same pattern as everywhere else. */
export const DEVICE_ID = new RegExp(patterns.deviceId);
export const MAX_CSR_BYTES = 8 * 1024;
const CA_YEARS = 10;

export interface FleetCaFiles {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

export function fleetCaFiles(ceremonyDir: string): FleetCaFiles {
  return {
    caCert: join(ceremonyDir, 'fleet-ca.pem'),
    caKey: join(ceremonyDir, 'offline', 'fleet-ca-key.pem'),
    serverCert: join(ceremonyDir, 'api-tls.pem'),
    serverKey: join(ceremonyDir, 'api-tls.key'),
  };
}

/**
 * The fleet CA (node-forge): it issues the API's TLS certificate and, at enrollment, device
 * certificates whose CN is the device id. Devices trust only this CA for the API, and the
 * API accepts only certificates it issued. Created once, idempotently, by the ceremony.
 */
export class FleetCa {
  private constructor(
    readonly cert: forge.pki.Certificate,
    private readonly key: forge.pki.rsa.PrivateKey,
  ) {}

  get certPem(): string {
    return forge.pki.certificateToPem(this.cert);
  }

  static async ensure(files: FleetCaFiles, apiHosts: string[]): Promise<{ ca: FleetCa; created: boolean }> {
    let created = false;
    if (!existsSync(files.caCert)) {
      const keys = forge.pki.rsa.generateKeyPair({ bits: 3072 });
      const cert = newCert(keys.publicKey, 'Enigm OTA fleet CA', CA_YEARS * 365 * 24);
      cert.setIssuer(cert.subject.attributes);
      cert.setExtensions([
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        { name: 'subjectKeyIdentifier' },
      ]);
      cert.sign(keys.privateKey, forge.md.sha256.create());
      await mkdir(join(files.caKey, '..'), { recursive: true, mode: 0o700 });
      await atomicWrite(files.caKey, forge.pki.privateKeyToPem(keys.privateKey), 0o600);
      await atomicWrite(files.caCert, forge.pki.certificateToPem(cert), 0o644);
      created = true;
    }
    const ca = await FleetCa.load(files);
    if (created || !existsSync(files.serverCert)) {
      const server = ca.issueServer('Enigm OTA device API', apiHosts, 2 * 365 * 24);
      await atomicWrite(files.serverKey, server.keyPem, 0o600);
      await atomicWrite(files.serverCert, server.certPem, 0o644);
    }
    return { ca, created };
  }

  static async load(files: Pick<FleetCaFiles, 'caCert' | 'caKey'>): Promise<FleetCa> {
    const cert = forge.pki.certificateFromPem(await readFile(files.caCert, 'utf8'));
    const key = forge.pki.privateKeyFromPem(await readFile(files.caKey, 'utf8')) as forge.pki.rsa.PrivateKey;
    return new FleetCa(cert, key);
  }

  /**
   * Enrollment: a device certificate from a CSR. The CSR must be self-signed (the device
   * holds the key) with an RSA key of at least 2048 bits; the subject is set here, from the
   * enrollment token, never taken from the CSR.
   */
  signDeviceCsr(csrPem: string, deviceId: string, validHours: number): { certPem: string; serial: string; notAfter: Date } {
    if (!DEVICE_ID.test(deviceId)) throw new InputError('device id is not valid');
    if (csrPem.length > MAX_CSR_BYTES) throw new InputError(`CSR larger than ${MAX_CSR_BYTES} bytes`);
    let csr: forge.pki.CertificateSigningRequest;
    try {
      csr = forge.pki.certificationRequestFromPem(csrPem);
    } catch {
      throw new InputError('CSR is not a PEM PKCS#10 request with an RSA key');
    }
    if (!csr.verify()) throw new InputError('CSR signature does not verify (proof of key possession)');
    const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
    if (!publicKey || publicKey.n.bitLength() < 2048) throw new InputError('CSR key must be RSA with at least 2048 bits');
    const cert = this.issue(publicKey, deviceId, validHours, 'client', []);
    return { certPem: forge.pki.certificateToPem(cert), serial: cert.serialNumber, notAfter: cert.validity.notAfter };
  }

  /** A TLS server certificate and key from this CA (the API's; tests also play a compromised API). */
  issueServer(cn: string, hosts: string[], validHours = 24): { certPem: string; keyPem: string } {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const cert = this.issue(keys.publicKey, cn, validHours, 'server', hosts);
    return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
  }

  private issue(publicKey: forge.pki.PublicKey, cn: string, validHours: number, use: 'server' | 'client', hosts: string[]): forge.pki.Certificate {
    const cert = newCert(publicKey, cn, validHours);
    cert.setIssuer(this.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: use === 'server', clientAuth: use === 'client' },
      ...(hosts.length
        ? [{ name: 'subjectAltName', altNames: hosts.map((h) => (/^[\d.]+$/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })) }]
        : []),
      { name: 'authorityKeyIdentifier', keyIdentifier: this.cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.key, forge.md.sha256.create());
    return cert;
  }
}

function newCert(publicKey: forge.pki.PublicKey, cn: string, validHours: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive 128-bit serial, unguessable and unique in practice.
  cert.serialNumber = `01${randomBytes(16).toString('hex')}`;
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60_000); // tolerate small clock skew
  cert.validity.notAfter = new Date(now + validHours * 3_600_000);
  cert.setSubject([{ name: 'commonName', value: cn }, { name: 'organizationName', value: 'Enigm OTA' }]);
  return cert;
}

async function atomicWrite(file: string, text: string, mode: number): Promise<void> {
  await writeFile(`${file}.tmp`, text, { mode });
  await rename(`${file}.tmp`, file);
}
