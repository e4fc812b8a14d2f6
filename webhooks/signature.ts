import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signatures as the Standard Webhooks specification has them, so receivers can check them
 * with that project's libraries: HMAC-SHA256 with the secret's bytes over
 * `<webhook-id>.<webhook-timestamp>.<body>`, sent as `v1,<base64>`. The timestamp is signed,
 * so a receiver refuses a replay by refusing old timestamps and ids it has seen.
 */
export const SIGNATURE_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

const SECRET_PREFIX = 'whsec_';
/** How far a receiver's clock may be from the sender's: the specification's own suggestion. */
const DEFAULT_TOLERANCE_S = 300;

/** A new subscription's secret: 32 random bytes, shown to the admin once. */
export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

export function isSecret(s: string): boolean {
  return s.startsWith(SECRET_PREFIX) && keyOf(s).length >= 24;
}

function keyOf(secret: string): Buffer {
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** The signature header's value for one send. */
export function sign(secret: string, m: { id: string; timestamp: number; body: string }): string {
  const mac = createHmac('sha256', keyOf(secret)).update(`${m.id}.${m.timestamp}.${m.body}`).digest('base64');
  return `v1,${mac}`;
}

/**
 * What a receiver does: true when one of the header's signatures is the body's and the
 * timestamp is within `toleranceS` of `nowS`. Fails closed on anything malformed.
 */
export function verify(
  secret: string,
  m: { id: string; timestamp: string; body: string; signature: string },
  at: { nowS?: number; toleranceS?: number } = {},
): boolean {
  const { nowS = Math.floor(Date.now() / 1000), toleranceS = DEFAULT_TOLERANCE_S } = at;
  if (!/^\d{1,12}$/.test(m.timestamp) || Math.abs(nowS - Number(m.timestamp)) > toleranceS) return false;
  const expected = Buffer.from(sign(secret, { id: m.id, timestamp: Number(m.timestamp), body: m.body }));
  return m.signature
    .split(' ')
    .map((s) => Buffer.from(s))
    .some((s) => s.length === expected.length && timingSafeEqual(s, expected));
}
