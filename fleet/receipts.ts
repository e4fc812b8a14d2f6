import { createHash, X509Certificate } from 'node:crypto';

import { openReceipt, type Receipt, type ReceiptClaims, ReceiptError } from '@enigm-ota/client-sdk';

import { ServerError } from '../common/errors';
import type { ReceivedReport } from '../infra/fleetStore';

/** A receipt the API checked, as the fleet store keeps it: the signed bytes, and whose key signed them. */
export interface CheckedReceipt extends Receipt {
  claims: ReceiptClaims;
  /** The signing certificate (DER) and its SHA-256: the store keeps each certificate once. */
  certificate: Buffer;
  certificateSha256: string;
}

/**
 * S-36: a report counts only with the device's signature over it. The key is the one of the
 * certificate the device presented on this connection (checked against the fleet CA by TLS),
 * so a receipt signed by any other key, for another device or another report, is refused
 * with its code; the claims come from the signed bytes, and must be the report's own.
 */
export function checkReceipt(report: ReceivedReport, certificate: Buffer): CheckedReceipt {
  try {
    const claims = openReceipt(report.receipt, new X509Certificate(certificate).publicKey, report);
    return {
      body: report.receipt!.body,
      signature: report.receipt!.signature,
      claims,
      certificate,
      certificateSha256: createHash('sha256').update(certificate).digest('hex'),
    };
  } catch (err) {
    if (err instanceof ReceiptError) throw new ServerError(err.code, err.message);
    throw err;
  }
}
