import { constants, createPrivateKey, type KeyObject, sign } from 'node:crypto';

import { canonicalize } from '@tufjs/canonical-json';

import { AttestationError } from './errors';

/**
 * Remote attestation, device side. A key certified by the manufacturer's CA signs a fresh
 * server nonce together with what the device measured about itself. The server verifies
 * it (fleet/attestation.ts) to decide eligibility only: attestation never replaces the
 * device's own verification of what it installs (D-1..D-15).
 */

/** Verified boot state, as boot loaders report it (Android's green / yellow / orange / red). */
export const BOOT_STATES = ['verified', 'self-signed', 'unverified', 'failed'] as const;
export type BootState = (typeof BOOT_STATES)[number];

export interface AttestationMeasurements {
  bootState: BootState;
  /** The running OS build, a semantic version. */
  osVersion: string;
  /** Integrity flags; `true` means the check passed (e.g. `{ "dm-verity": true }`). */
  integrity: Record<string, boolean>;
}

/** What the attestation key signs: who, in answer to which nonce, measured what. */
export interface AttestationClaim {
  deviceId: string;
  nonce: string;
  measurements: AttestationMeasurements;
}

export interface AttestationEvidence extends AttestationClaim {
  /** RSASSA-PKCS1-v1_5 with SHA-256 over `attestationPayload(claim)`, base64. */
  signature: string;
  /** PEM certificates: the attestation key's own first, then intermediates towards the manufacturer root. */
  certChain: string[];
}

export interface AttestationKey {
  /** RSA private key, PEM (PKCS1 or PKCS8). */
  privateKeyPem: string;
  certChain: string[];
}

/** Domain separation: these bytes can never be mistaken for anything else the key signs. */
const ATTESTATION_PAYLOAD_TYPE = 'enigm-ota/attestation/v1';

/**
 * The exact bytes that are signed and verified: canonical JSON (OLPC, as TUF uses) of the
 * claim and a type tag. Only the known measurement fields are included, so a field the
 * server does not understand is never covered by a signature it accepts.
 */
export function attestationPayload(claim: AttestationClaim): Buffer {
  const { bootState, osVersion, integrity } = claim.measurements;
  const signed = {
    type: ATTESTATION_PAYLOAD_TYPE,
    deviceId: claim.deviceId,
    nonce: claim.nonce,
    measurements: { bootState, osVersion, integrity },
  };
  return Buffer.from(canonicalize(signed), 'utf8');
}

/** Signs the claim with the attestation key; the server decides whether the evidence counts. */
export function createEvidence(key: AttestationKey, claim: AttestationClaim): AttestationEvidence {
  const privateKey = rsaKey(key.privateKeyPem);
  const signature = sign('sha256', attestationPayload(claim), {
    key: privateKey,
    padding: constants.RSA_PKCS1_PADDING,
  });
  const { bootState, osVersion, integrity } = claim.measurements;
  return {
    deviceId: claim.deviceId,
    nonce: claim.nonce,
    measurements: { bootState, osVersion, integrity: { ...integrity } },
    signature: signature.toString('base64'),
    certChain: [...key.certChain],
  };
}

/** Only RSA: the server verifies RSASSA-PKCS1-v1_5 signatures with node-forge, which reads RSA certificates only. */
function rsaKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new AttestationError('ATTESTATION_KEY_INVALID', 'the attestation private key cannot be read', { cause: err });
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new AttestationError(
      'ATTESTATION_KEY_INVALID',
      `the attestation key must be RSA, not ${key.asymmetricKeyType}`,
    );
  }
  return key;
}
