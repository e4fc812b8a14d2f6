import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { DeviceApiClient } from './apiClient';
import { writeFileDurably } from './durable';
import { defaultLimits } from './limits';
import type { RetryPolicy } from './retry';
import type { Fetch, TlsIdentity } from './transport';

/** The device's identity on disk: its key (never leaves the device), certificate, and the fleet CA. */
export interface DeviceIdentity extends TlsIdentity {
  certPem: string;
  keyPem: string;
}

const FILES = { key: 'device.key', cert: 'device.pem', ca: 'fleet-ca.pem' } as const;

/** A new RSA key and a PKCS10 certificate request signed with it (proof of possession). */
export function newKeyAndCsr(deviceId: string): { keyPem: string; csrPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // RFC 2986, written with node:crypto: a certificate library would cost the device's memory
  // more than the rest of the SDK, for this one structure.
  const subject = der(0x30, der(0x31, der(0x30, Buffer.concat([COMMON_NAME, der(0x0c, Buffer.from(deviceId))]))));
  const info = der(
    0x30,
    Buffer.concat([der(0x02, Buffer.of(0)), subject, publicKey.export({ type: 'spki', format: 'der' }), der(0xa0)]),
  );
  const signature = der(0x03, Buffer.concat([Buffer.of(0), sign('sha256', info, privateKey)]));
  const csr = der(0x30, Buffer.concat([info, SHA256_WITH_RSA, signature]));
  const lines = csr
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\r\n');
  return { keyPem, csrPem: `-----BEGIN CERTIFICATE REQUEST-----\r\n${lines}\r\n-----END CERTIFICATE REQUEST-----\r\n` };
}

/** The OID of commonName (2.5.4.3), and the AlgorithmIdentifier of sha256WithRSAEncryption with its NULL. */
const COMMON_NAME = Buffer.from('0603550403', 'hex');
const SHA256_WITH_RSA = Buffer.from('300d06092a864886f70d01010b0500', 'hex');

/** One DER element: its tag, its definite length, its content. */
function der(tag: number, content: Buffer = Buffer.alloc(0)): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.of(n) : n < 0x100 ? Buffer.of(0x81, n) : Buffer.of(0x82, n >> 8, n & 0xff);
  return Buffer.concat([Buffer.of(tag), length, content]);
}

export async function loadIdentity(dir: string): Promise<DeviceIdentity | undefined> {
  try {
    const [keyPem, certPem, caPem] = await Promise.all(Object.values(FILES).map((f) => readFile(join(dir, f), 'utf8')));
    return { keyPem: keyPem!, certPem: certPem!, caPem: caPem! };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Key first, certificate last: a cut in between leaves no certificate, so the device enrolls again. */
export async function saveIdentity(dir: string, id: DeviceIdentity): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurably(join(dir, FILES.ca), id.caPem);
  await writeFileDurably(join(dir, FILES.key), id.keyPem);
  await writeFileDurably(join(dir, FILES.cert), id.certPem);
}

/**
 * How enrollment and renewal reach the API: its URL, the transport (TLS that trusts the fleet
 * CA; for a renewal, presenting the current certificate) and the retry policy (absent: one attempt).
 */
export interface EnrollmentApi {
  apiUrl: string;
  transport: Fetch;
  retry?: RetryPolicy;
}

/** What a device sends to enroll: the operator's one-time token, and who and what it is. */
export interface EnrollmentRequest {
  token: string;
  deviceId: string;
  currentVersion: string;
}

/**
 * Enrollment: a one-time token (from an operator) and a CSR buy a device certificate. The
 * API is reached over TLS that trusts only the provisioned fleet CA, `caPem`, which the
 * identity keeps.
 */
export async function enroll(api: EnrollmentApi, request: EnrollmentRequest, caPem: string): Promise<DeviceIdentity> {
  const { keyPem, csrPem } = newKeyAndCsr(request.deviceId);
  // A retry after an answer lost in transit finds the token spent (ENROLLMENT_REFUSED): never worse than no retry.
  const certPem = await client(api).certificate('/v1/enroll', {
    token: request.token,
    deviceId: request.deviceId,
    csr: csrPem,
    currentVersion: request.currentVersion,
  });
  return { keyPem, certPem, caPem };
}

/** Renewal over mutual TLS with the current certificate: a new key, a new certificate. */
export async function renew(api: EnrollmentApi, current: DeviceIdentity, deviceId: string): Promise<DeviceIdentity> {
  const { keyPem, csrPem } = newKeyAndCsr(deviceId);
  const certPem = await client(api).certificate('/v1/devices/renew', { deviceId, csr: csrPem });
  return { ...current, keyPem, certPem };
}

/** Renew once less than `fraction` of the certificate's lifetime is left. */
export function needsRenewal(certPem: string, now: Date, fraction = 1 / 3): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return to - now.getTime() < (to - from) * fraction;
}

/** The same capped, coded HTTP path as every other device call (D-11). */
function client({ apiUrl, transport, retry }: EnrollmentApi): DeviceApiClient {
  return new DeviceApiClient({
    baseUrl: apiUrl,
    limits: defaultLimits,
    transport,
    retry: retry && { policy: retry },
  });
}
