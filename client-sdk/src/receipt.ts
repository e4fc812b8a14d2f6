import { constants, type KeyObject, sign, verify } from 'node:crypto';

import type { AttestationKey } from './attestation';
import { OtaError } from './errors';

/**
 * A device-signed receipt (ADR 0079): what the device says it did, signed with its identity
 * key, so a server that stores reports cannot invent one a gate counts. The body is the exact
 * bytes signed (base64 on the wire); the server, the worker and an auditor read the claims
 * back from those bytes, never from the report's unsigned fields.
 */
export interface Receipt {
  body: string;
  signature: string;
  /** Where the device has an attestation key: its signature over the same body, and its certificate chain. */
  attestation?: { signature: string; certChain: string[] };
}

/** The claims a receipt signs: the report's own fields and what the device knew when it acted. */
export interface ReceiptClaims {
  type: typeof RECEIPT_TYPE;
  deviceId: string;
  reportId: string;
  outcome: 'installed' | 'refused' | 'failed' | 'waiting';
  version: string;
  targetName?: string;
  health?: 'healthy' | 'reverted';
  errorCode?: string;
  waitReason?: string;
  /** The verified target's sha256: the image the outcome is about. */
  sha256?: string;
  /** The version of the rollout repository's timestamp the device acted on. */
  timestampVersion?: number;
  /** The slot the device runs from as it reports (A/B backends name one). */
  slot?: string;
  /** When the running system booted (ISO 8601, seconds): a report from another boot is another claim. */
  bootTime?: string;
  signedAt: string;
}

/** What a device knows beside the report when it signs: none is required. */
export type ReceiptContext = Pick<ReceiptClaims, 'sha256' | 'timestampVersion' | 'slot' | 'bootTime'>;

/** The fields a receipt and its report must agree on; `message` and `delivery` are informative only. */
const BOUND = [
  'deviceId',
  'reportId',
  'outcome',
  'version',
  'targetName',
  'health',
  'errorCode',
  'waitReason',
] as const;
/** A report's fields a receipt binds (apiClient's InstallReport has them all). */
type BoundReport = Pick<ReceiptClaims, 'deviceId' | 'outcome' | 'version'> &
  Partial<Pick<ReceiptClaims, 'reportId' | 'targetName' | 'health' | 'errorCode' | 'waitReason'>>;

export const RECEIPT_TYPE = 'enigm-ota/receipt/v1';

/** A receipt's body is a few hundred bytes; its signature one RSA-4096 block at most. */
export const MAX_RECEIPT_BODY_BYTES = 2048;
const MAX_SIGNATURE_BYTES = 512;

export type ReceiptErrorCode =
  'RECEIPT_MISSING' | 'RECEIPT_MALFORMED' | 'RECEIPT_SIGNATURE_INVALID' | 'RECEIPT_MISMATCH';

/** A receipt that is absent, malformed, not signed by the key it must be, or not the report's. */
export class ReceiptError extends OtaError {
  declare readonly code: ReceiptErrorCode;
  constructor(code: ReceiptErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * The device's signature over a report: its claims in a fixed key order, signed with `key`
 * (SHA-256) at `context.at` (now when absent).
 */
export function signReceipt(
  report: BoundReport & { reportId: string },
  context: ReceiptContext & { at?: Date },
  key: KeyObject | string,
): Receipt {
  const claims: Record<string, unknown> = { type: RECEIPT_TYPE };
  for (const field of BOUND) if (report[field] !== undefined) claims[field] = report[field];
  for (const field of ['sha256', 'timestampVersion', 'slot', 'bootTime'] as const) {
    if (context[field] !== undefined) claims[field] = context[field];
  }
  claims['signedAt'] = (context.at ?? new Date()).toISOString();
  const body = Buffer.from(JSON.stringify(claims));
  return { body: body.toString('base64'), signature: sign('sha256', body, key).toString('base64') };
}

/** The receipt co-signed by the attestation key (RSASSA-PKCS1-v1_5, SHA-256, over the same body). */
export function attestReceipt(receipt: Receipt, key: AttestationKey): Receipt {
  const signature = sign('sha256', Buffer.from(receipt.body, 'base64'), {
    key: key.privateKeyPem,
    padding: constants.RSA_PKCS1_PADDING,
  });
  return { ...receipt, attestation: { signature: signature.toString('base64'), certChain: [...key.certChain] } };
}

/**
 * Checks a receipt fails closed: present, within its size limits, signed by `key` (the
 * certificate's key the device presented), well-formed claims, and the same report as
 * `report` field by field. Returns the claims it signed.
 */
export function openReceipt(receipt: unknown, key: KeyObject, report?: BoundReport): ReceiptClaims {
  if (receipt === undefined || receipt === null)
    throw new ReceiptError('RECEIPT_MISSING', 'the report carries no receipt');
  const { body, signature } = receipt as Partial<Receipt>;
  if (typeof body !== 'string' || typeof signature !== 'string') {
    throw new ReceiptError('RECEIPT_MALFORMED', 'a receipt is {body, signature} in base64');
  }
  const bytes = base64(body, MAX_RECEIPT_BODY_BYTES, 'body');
  const sig = base64(signature, MAX_SIGNATURE_BYTES, 'signature');
  if (!verify('sha256', bytes, key, sig)) {
    throw new ReceiptError(
      'RECEIPT_SIGNATURE_INVALID',
      'the receipt is not signed by the key of the certificate it came with',
    );
  }
  const claims = parseClaims(bytes);
  if (report) {
    for (const field of BOUND) {
      if (claims[field] !== report[field]) {
        throw new ReceiptError('RECEIPT_MISMATCH', `the receipt's ${field} is not the report's`);
      }
    }
  }
  return claims;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64(text: string, maxBytes: number, what: string): Buffer {
  if (text.length > Math.ceil(maxBytes / 3) * 4 || text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new ReceiptError('RECEIPT_MALFORMED', `the receipt's ${what} is not base64 of at most ${maxBytes} bytes`);
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length > maxBytes)
    throw new ReceiptError('RECEIPT_MALFORMED', `the receipt's ${what} is over ${maxBytes} bytes`);
  return bytes;
}

/** Each claim's type and bound; an unknown claim is refused, not ignored (fail closed). */
const CLAIMS: Record<string, (v: unknown) => boolean> = {
  type: (v) => v === RECEIPT_TYPE,
  deviceId: (v) => text(v, 128),
  reportId: (v) => typeof v === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(v),
  outcome: (v) => v === 'installed' || v === 'refused' || v === 'failed' || v === 'waiting',
  version: (v) => text(v, 64),
  targetName: (v) => text(v, 512),
  health: (v) => v === 'healthy' || v === 'reverted',
  errorCode: (v) => typeof v === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(v),
  waitReason: (v) => v === 'window' || v === 'not-ready' || v === 'metered',
  sha256: (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v),
  timestampVersion: (v) => Number.isSafeInteger(v) && (v as number) >= 1,
  slot: (v) => text(v, 64),
  bootTime: (v) => isoTime(v),
  signedAt: (v) => isoTime(v),
};
const REQUIRED = ['type', 'deviceId', 'reportId', 'outcome', 'version', 'signedAt'];

function parseClaims(bytes: Buffer): ReceiptClaims {
  let claims: unknown;
  try {
    claims = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ReceiptError('RECEIPT_MALFORMED', 'the receipt body is not JSON');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new ReceiptError('RECEIPT_MALFORMED', 'the receipt body is not an object');
  }
  const missing = REQUIRED.find((k) => !(k in claims));
  if (missing) throw new ReceiptError('RECEIPT_MALFORMED', `the receipt has no ${missing}`);
  for (const [k, v] of Object.entries(claims)) {
    const check = Object.hasOwn(CLAIMS, k) ? CLAIMS[k] : undefined;
    if (!check) throw new ReceiptError('RECEIPT_MALFORMED', `the receipt claims an unknown ${k.slice(0, 40)}`);
    if (!check(v)) throw new ReceiptError('RECEIPT_MALFORMED', `the receipt's ${k} is malformed`);
  }
  return claims as ReceiptClaims;
}

function text(v: unknown, max: number): boolean {
  return typeof v === 'string' && v.length >= 1 && v.length <= max;
}

function isoTime(v: unknown): boolean {
  return typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(v) && !isNaN(Date.parse(v));
}
