import { timingSafeEqual } from 'node:crypto';

import {
  type AttestationEvidence,
  type AttestationMeasurements,
  attestationPayload,
  BOOT_STATES,
  type BootState,
  compareSemver,
  isSemver,
} from '@enigm-ota/client-sdk';
import forge from 'node-forge';

import { EvidenceError, ServerError } from '../common/errors';
import { patterns } from '../common/validation';

/**
 * Remote attestation, server side: does this evidence prove that a key the manufacturer
 * certified for this device signed our fresh nonce together with these measurements, and
 * do the measurements pass our policy? Pure: roots, the expected nonce, the device and the
 * time come in as data. Issuing nonces, using each once and expiring them belong to the
 * caller's nonce store (`nonceIsFresh` is its rule).
 *
 * Attestation adds eligibility (fleet/eligibility.ts) and nothing else: it never replaces
 * the device's verification of what it installs.
 */

/** S-13: caps on every field of the evidence, and on the whole. */
export const attestationLimits = {
  maxEvidenceBytes: 16 * 1024,
  /** The attestation key's certificate and up to three intermediates. */
  maxChainLength: 4,
  maxCertificateChars: 6 * 1024,
  /** base64 of an 8192-bit RSA signature. */
  maxSignatureChars: 1368,
  maxIntegrityFlags: 32,
} as const;

/** Nonces are base64url, at least 16 random bytes (22 characters), at most 128 characters. */
const NONCE_PATTERN = /^[A-Za-z0-9_-]{22,128}$/;
const FLAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DEVICE_ID = new RegExp(patterns.deviceId);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Exactly one certificate per entry. */
const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;

const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
/** node-forge's chain error for a certificate outside its validity period (missing from @types/node-forge). */
const CERTIFICATE_EXPIRED = (forge.pki as unknown as { certificateError: Record<string, string> }).certificateError[
  'certificate_expired'
];

/** What evidence must show to pass. */
export interface AttestationPolicy {
  /** Boot states that pass. */
  bootStates: BootState[];
  /** Lowest OS version that passes (semantic version). */
  minOsVersion?: string;
  /** Integrity flags the measurements must report as `true`. */
  requiredIntegrity: string[];
  /**
   * OID the manufacturer puts in the extended key usage of its attestation key
   * certificates; when set, the leaf must carry it (and the extension must not be critical:
   * node-forge refuses critical extensions it does not enforce).
   */
  extKeyUsage?: string;
  /** Smallest RSA modulus, in bits, accepted for the attestation key. */
  minKeyBits: number;
}

export const defaultAttestationPolicy: AttestationPolicy = {
  bootStates: ['verified'],
  requiredIntegrity: [],
  minKeyBits: 2048,
};

export interface VerifyEvidenceOptions {
  /** PEM certificates of the manufacturer CAs whose attestation keys we trust. */
  manufacturerRoots: string[];
  /** The nonce the server issued for this attestation, taken from its store (single use, short-lived). */
  expectedNonce: string;
  /** The authenticated device (enrollment, mTLS) the evidence must be about. */
  deviceId: string;
  /**
   * The subject common name the manufacturer certified the attestation key for. Defaults
   * to `deviceId`; a manufacturer that certifies hardware serials needs the serial that
   * enrollment recorded for this device.
   */
  certifiedSubject?: string;
  now: Date;
  policy: AttestationPolicy;
}

/**
 * Authentic evidence, judged against the policy. Failing measurements are a result, not
 * an error: the evidence proves the device is in a state we do not accept, and that is
 * worth recording (`ota device explain` shows the reason). Untrustworthy evidence throws.
 */
export type AttestationResult =
  | { passed: true; measurements: AttestationMeasurements; reason: string }
  | {
      passed: false;
      code: 'ATTESTATION_MEASUREMENTS_FAILED';
      failures: string[];
      measurements: AttestationMeasurements;
      reason: string;
    };

/**
 * The verification checklist; each step throws an EvidenceError with its code.
 * `evidence` is untrusted input (a parsed request body), checked field by field.
 */
export function verifyEvidence(evidence: unknown, options: VerifyEvidenceOptions): AttestationResult {
  // node-forge compares validity against an invalid date as "valid": never hand it one.
  if (!(options.now instanceof Date) || Number.isNaN(options.now.getTime()))
    throw new ServerError('CONFIG_INVALID', 'attestation needs the current time');
  const e = readEvidence(evidence); // S-13: sizes and shape
  verifyNonce(e, options.expectedNonce); // S-13: answers the nonce issued for this attestation
  verifyDevice(e, options.deviceId); // S-13: about the authenticated device
  const leaf = verifyChain(e.certChain, options.manufacturerRoots, options.now); // S-13: certified by a manufacturer root, valid now
  verifyAttestationKey(leaf, options); // S-13: an attestation key, certified for this device
  verifySignature(e, leaf); // S-13: signed by that key
  return judgeMeasurements(e.measurements, options.policy); // S-13: measurements against policy
}

/**
 * ADR 0079: bytes the device co-signed with its attestation key (a receipt): the chain, the key
 * and the signature checked as for evidence (S-13), each failure with its ATTESTATION_* code.
 * `signed` is untrusted input, bounded like evidence.
 */
export function verifyAttestedBytes(
  bytes: Buffer,
  signed: { signature?: unknown; certChain?: unknown },
  options: Omit<VerifyEvidenceOptions, 'expectedNonce'>,
): void {
  const { signature, certChain } = signed;
  if (
    typeof signature !== 'string' ||
    signature.length > attestationLimits.maxSignatureChars ||
    !BASE64.test(signature)
  )
    malformed('the attestation signature is not base64 of at most 1024 bytes');
  if (
    !Array.isArray(certChain) ||
    certChain.length === 0 ||
    certChain.length > attestationLimits.maxChainLength ||
    !certChain.every(
      (c) => typeof c === 'string' && c.length <= attestationLimits.maxCertificateChars && PEM_CERTIFICATE.test(c),
    )
  )
    malformed(`certChain must hold 1 to ${attestationLimits.maxChainLength} PEM certificates`);
  const leaf = verifyChain(certChain as string[], options.manufacturerRoots, options.now);
  verifyAttestationKey(leaf, { ...options, expectedNonce: '' });
  verifySignedBytes({ bytes, signature: signature }, leaf, 'the attestation key did not sign this receipt');
}

/** True while a nonce issued at `issuedAt` may still be answered: not in the future, at most `maxAgeMs` old. */
export function nonceIsFresh(issuedAt: Date | string, now: Date, maxAgeMs: number): boolean {
  const issued = typeof issuedAt === 'string' ? Date.parse(issuedAt) : issuedAt.getTime();
  const age = now.getTime() - issued;
  // NaN (an unreadable time) fails both comparisons.
  return age >= 0 && age <= maxAgeMs;
}

/** For configuration: a policy read from a file or environment, checked once at start-up. */
export function checkAttestationPolicy(value: unknown, source = 'attestation policy'): AttestationPolicy {
  const bad = (why: string): never => {
    throw new ServerError('CONFIG_INVALID', `${source}: ${why}`);
  };
  if (!isRecord(value)) return bad('not an object');
  const known = ['bootStates', 'minOsVersion', 'requiredIntegrity', 'extKeyUsage', 'minKeyBits'];
  // A misspelt setting would otherwise be a requirement silently dropped.
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  if (unknown.length > 0) bad(`unknown settings ${unknown.join(', ').slice(0, 100)}`);
  const { bootStates, minOsVersion, requiredIntegrity, extKeyUsage, minKeyBits } = value;
  if (
    !Array.isArray(bootStates) ||
    bootStates.length === 0 ||
    !bootStates.every((s) => (BOOT_STATES as readonly unknown[]).includes(s))
  ) {
    bad(`bootStates: a non-empty list of ${BOOT_STATES.join(', ')}`);
  }
  if (minOsVersion !== undefined && !(typeof minOsVersion === 'string' && isSemver(minOsVersion)))
    bad('minOsVersion: a semantic version');
  if (
    !Array.isArray(requiredIntegrity) ||
    requiredIntegrity.length > attestationLimits.maxIntegrityFlags ||
    !requiredIntegrity.every((f) => typeof f === 'string' && FLAG.test(f))
  ) {
    bad('requiredIntegrity: a list of flag names');
  }
  if (
    extKeyUsage !== undefined &&
    !(typeof extKeyUsage === 'string' && /^[0-2](\.(0|[1-9][0-9]{0,8})){1,20}$/.test(extKeyUsage))
  )
    bad('extKeyUsage: an OID');
  if (!Number.isSafeInteger(minKeyBits) || (minKeyBits as number) < 2048) bad('minKeyBits: 2048 or more');
  return {
    bootStates: [...(bootStates as BootState[])],
    ...(minOsVersion !== undefined && { minOsVersion: minOsVersion as string }),
    requiredIntegrity: [...(requiredIntegrity as string[])],
    ...(extKeyUsage !== undefined && { extKeyUsage: extKeyUsage as string }),
    minKeyBits: minKeyBits as number,
  };
}

function malformed(why: string, cause?: unknown): never {
  throw new EvidenceError('ATTESTATION_MALFORMED', `attestation evidence: ${why}`, { cause });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  const unknown = Object.keys(o).filter((k) => !keys.includes(k));
  if (unknown.length > 0) malformed(`${what} has unknown fields ${unknown.slice(0, 3).join(', ').slice(0, 100)}`);
}

/** Malformed input is refused with a code, never read with defaults. Returns a copy. */
function readEvidence(value: unknown): AttestationEvidence {
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  } catch (err) {
    return malformed('not JSON data', err);
  }
  if (bytes > attestationLimits.maxEvidenceBytes)
    malformed(`${bytes} bytes, more than ${attestationLimits.maxEvidenceBytes}`);
  if (!isRecord(value)) return malformed('not an object');
  onlyKeys(value, ['deviceId', 'nonce', 'measurements', 'signature', 'certChain'], 'evidence');
  const { deviceId, nonce, measurements, signature, certChain } = value;
  if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) malformed('deviceId is missing or malformed');
  if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) malformed('nonce is missing or malformed');
  if (
    typeof signature !== 'string' ||
    signature.length > attestationLimits.maxSignatureChars ||
    signature.length % 4 !== 0 ||
    !BASE64.test(signature)
  ) {
    malformed('signature is not base64 of at most 1024 bytes');
  }
  if (!Array.isArray(certChain) || certChain.length === 0 || certChain.length > attestationLimits.maxChainLength) {
    malformed(`certChain must hold 1 to ${attestationLimits.maxChainLength} certificates`);
  }
  for (const pem of certChain as unknown[]) {
    if (typeof pem !== 'string' || pem.length > attestationLimits.maxCertificateChars || !PEM_CERTIFICATE.test(pem)) {
      malformed(
        `each certChain entry must be one PEM certificate of at most ${attestationLimits.maxCertificateChars} characters`,
      );
    }
  }
  return {
    deviceId: deviceId,
    nonce: nonce,
    measurements: readMeasurements(measurements),
    signature: signature,
    certChain: [...(certChain as string[])],
  };
}

function readMeasurements(value: unknown): AttestationMeasurements {
  if (!isRecord(value)) return malformed('measurements are missing');
  onlyKeys(value, ['bootState', 'osVersion', 'integrity'], 'measurements');
  const { bootState, osVersion, integrity } = value;
  if (!(BOOT_STATES as readonly unknown[]).includes(bootState))
    malformed(`bootState must be one of ${BOOT_STATES.join(', ')}`);
  if (typeof osVersion !== 'string' || !isSemver(osVersion)) malformed('osVersion must be a semantic version');
  if (!isRecord(integrity)) return malformed('integrity must be an object of flags');
  const flags = Object.entries(integrity);
  if (
    flags.length > attestationLimits.maxIntegrityFlags ||
    !flags.every(([k, v]) => FLAG.test(k) && typeof v === 'boolean')
  ) {
    malformed(`integrity must hold at most ${attestationLimits.maxIntegrityFlags} named boolean flags`);
  }
  return {
    bootState: bootState as BootState,
    osVersion: osVersion,
    integrity: Object.fromEntries(flags) as Record<string, boolean>,
  };
}

/** A replayed or stale answer carries another nonce than the one issued for this attestation. */
function verifyNonce(e: AttestationEvidence, expectedNonce: string): void {
  const got = Buffer.from(e.nonce, 'utf8');
  const want = Buffer.from(expectedNonce, 'utf8');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new EvidenceError(
      'ATTESTATION_NONCE_INVALID',
      'the evidence answers another nonce than the one issued (replayed or stale)',
    );
  }
}

function verifyDevice(e: AttestationEvidence, deviceId: string): void {
  if (e.deviceId !== deviceId) {
    throw new EvidenceError(
      'ATTESTATION_DEVICE_MISMATCH',
      `the evidence is about device ${e.deviceId}, not ${deviceId}`,
    );
  }
}

function parseCertificate(pem: string, what: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (err) {
    // node-forge reads RSA certificates only; anything else cannot lead to a root we trust.
    throw new EvidenceError('ATTESTATION_CHAIN_INVALID', `${what} cannot be read as an RSA certificate`, {
      cause: err,
    });
  }
}

/** The chain leads from the leaf to a manufacturer root, every link is a CA, and every certificate is valid now. */
function verifyChain(certChain: string[], manufacturerRoots: string[], now: Date): forge.pki.Certificate {
  if (manufacturerRoots.length === 0)
    throw new ServerError('CONFIG_INVALID', 'no manufacturer roots configured for attestation');
  const roots = manufacturerRoots.map((pem, i) => {
    try {
      return forge.pki.certificateFromPem(pem);
    } catch (err) {
      throw new ServerError('CONFIG_INVALID', `manufacturer root ${i} cannot be read`, { cause: err });
    }
  });
  const chain = certChain.map((pem, i) => parseCertificate(pem, `certificate ${i} of the chain`));
  try {
    forge.pki.verifyCertificateChain(forge.pki.createCaStore(roots), chain, { validityCheckDate: now });
  } catch (err) {
    const reason = (err as { error?: unknown; message?: unknown } | null) ?? {};
    if (reason.error === CERTIFICATE_EXPIRED) {
      throw new EvidenceError(
        'ATTESTATION_CERT_EXPIRED',
        `a certificate of the chain is not valid at ${now.toISOString()}`,
        { cause: err },
      );
    }
    throw new EvidenceError(
      'ATTESTATION_CHAIN_INVALID',
      `the chain does not lead to a manufacturer root: ${String(reason.message ?? err)}`,
      { cause: err },
    );
  }
  return chain[0]!;
}

type Extension = { id: string } & Record<string, unknown>;

function extension(cert: forge.pki.Certificate, oid: string): Extension | undefined {
  const found = (cert.extensions as Extension[]).filter((x) => x.id === oid);
  if (found.length > 1)
    throw new EvidenceError('ATTESTATION_KEY_INVALID', `the attestation certificate repeats extension ${oid}`);
  return found[0];
}

/**
 * The leaf certifies an attestation key (not a CA; for signatures; the manufacturer's attestation
 * usage) for this device.
 */
function verifyAttestationKey(leaf: forge.pki.Certificate, options: VerifyEvidenceOptions): void {
  const refuse = (why: string): never => {
    throw new EvidenceError('ATTESTATION_KEY_INVALID', `the attestation certificate ${why}`);
  };
  if (extension(leaf, OID_BASIC_CONSTRAINTS)?.['cA'] === true) refuse('is a CA certificate');
  if (extension(leaf, OID_KEY_USAGE)?.['digitalSignature'] !== true) refuse('is not certified for digital signatures');
  const eku = options.policy.extKeyUsage;
  if (eku !== undefined) {
    const usages = extension(leaf, OID_EXT_KEY_USAGE);
    // node-forge names the OIDs it knows and keeps the others as they are.
    const name = forge.pki.oids[eku];
    if (!usages || !(usages[eku] === true || (name !== undefined && usages[name] === true)))
      refuse(`lacks the attestation key usage ${eku}`);
  }
  const bits = (leaf.publicKey as forge.pki.rsa.PublicKey).n.bitLength();
  if (bits < options.policy.minKeyBits) refuse(`holds a ${bits}-bit key, below ${options.policy.minKeyBits}`);
  const subject = leaf.subject.getField('CN') as { value?: unknown } | null;
  const expected = options.certifiedSubject ?? options.deviceId;
  if (subject?.value !== expected) {
    throw new EvidenceError(
      'ATTESTATION_DEVICE_MISMATCH',
      `the attestation key is certified for ${String(subject?.value)}, not ${expected}`,
    );
  }
}

/** RSASSA-PKCS1-v1_5 with SHA-256 over the canonical payload (the SDK's `attestationPayload`). */
function verifySignature(e: AttestationEvidence, leaf: forge.pki.Certificate): void {
  verifySignedBytes(
    { bytes: attestationPayload(e), signature: e.signature },
    leaf,
    'the attestation key did not sign these measurements for this nonce',
  );
}

function verifySignedBytes(
  signed: { bytes: Buffer; signature: string },
  leaf: forge.pki.Certificate,
  refusal: string,
): void {
  const { bytes, signature } = signed;
  const md = forge.md.sha256.create();
  md.update(bytes.toString('binary'));
  let ok: boolean;
  try {
    ok = (leaf.publicKey as forge.pki.rsa.PublicKey).verify(
      md.digest().bytes(),
      Buffer.from(signature, 'base64').toString('binary'),
    );
  } catch (err) {
    throw new EvidenceError('ATTESTATION_SIGNATURE_INVALID', 'the signature cannot be read with the attestation key', {
      cause: err,
    });
  }
  if (!ok) throw new EvidenceError('ATTESTATION_SIGNATURE_INVALID', refusal);
}

function judgeMeasurements(m: AttestationMeasurements, policy: AttestationPolicy): AttestationResult {
  const failures: string[] = [];
  if (!policy.bootStates.includes(m.bootState))
    failures.push(`boot state ${m.bootState}, not ${policy.bootStates.join(' or ')}`);
  if (policy.minOsVersion !== undefined && compareSemver(m.osVersion, policy.minOsVersion) < 0) {
    failures.push(`OS ${m.osVersion}, below ${policy.minOsVersion}`);
  }
  for (const flag of policy.requiredIntegrity) {
    if (!Object.hasOwn(m.integrity, flag)) failures.push(`integrity flag ${flag} not reported`);
    else if (m.integrity[flag] !== true) failures.push(`integrity flag ${flag} failing`);
  }
  if (failures.length === 0)
    return {
      passed: true,
      measurements: m,
      reason: `boot ${m.bootState}, OS ${m.osVersion}, required integrity flags passed`,
    };
  return {
    passed: false,
    code: 'ATTESTATION_MEASUREMENTS_FAILED',
    failures,
    measurements: m,
    reason: failures.join('; '),
  };
}
