import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import forge from 'node-forge';

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
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  csr.setSubject([{ name: 'commonName', value: deviceId }]);
  csr.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, csrPem: forge.pki.certificationRequestToPem(csr) };
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
