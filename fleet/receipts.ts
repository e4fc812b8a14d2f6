import { createHash, X509Certificate } from 'node:crypto';

import { openReceipt, type Receipt, type ReceiptClaims, ReceiptError } from '@enigm-ota/client-sdk';

import { ServerError } from '../common/errors';
import type { ReceivedReport } from '../infra/fleetStore';
import { type AttestationPolicy, verifyAttestedBytes } from './attestation';

/** A receipt the API checked, as the fleet store keeps it: the signed bytes, and whose key signed them. */
export interface CheckedReceipt extends Receipt {
  claims: ReceiptClaims;
  /** The signing certificate (DER) and its SHA-256: the store keeps each certificate once. */
  certificate: Buffer;
  certificateSha256: string;
}

/** How an attestation key's co-signature is checked: the manufacturer roots and the attestation policy. */
export interface ReceiptAttestation {
  roots: () => Promise<string[]>;
  policy: AttestationPolicy;
}

/**
 * S-36: a report counts only with the device's signature over it. The key is the one of the
 * certificate the device presented on this connection (checked against the fleet CA by TLS),
 * so a receipt signed by any other key, for another device or another report, is refused
 * with its code; the claims come from the signed bytes, and must be the report's own. A
 * co-signature by the device's attestation key is checked as attestation evidence is (S-13)
 * and kept; without manufacturer roots configured it is dropped (nothing to check it with).
 */
export async function checkReceipt(
  report: ReceivedReport,
  certificate: Buffer,
  attestation?: ReceiptAttestation,
): Promise<CheckedReceipt> {
  let claims: ReceiptClaims;
  try {
    claims = openReceipt(report.receipt, new X509Certificate(certificate).publicKey, report);
  } catch (err) {
    if (err instanceof ReceiptError) throw new ServerError(err.code, err.message);
    throw err;
  }
  const { body, signature, attestation: attested } = report.receipt!;
  const checked: CheckedReceipt = {
    body,
    signature,
    claims,
    certificate,
    certificateSha256: createHash('sha256').update(certificate).digest('hex'),
  };
  if (attested && attestation) {
    verifyAttestedBytes(Buffer.from(body, 'base64'), attested, {
      manufacturerRoots: await attestation.roots(),
      deviceId: claims.deviceId,
      now: new Date(),
      policy: attestation.policy,
    });
    checked.attestation = attested;
  }
  return checked;
}
