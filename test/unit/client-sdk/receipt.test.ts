import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';

import {
  attestReceipt,
  type InstallReport,
  MAX_RECEIPT_BODY_BYTES,
  openReceipt,
  ReceiptError,
  signReceipt,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const device = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const report = {
  deviceId: 'rc-1',
  reportId: 'report-0001',
  version: '1.4.0',
  targetName: 'stable/1.4.0/fw.bin',
  outcome: 'installed',
  health: 'healthy',
} satisfies InstallReport;

const context = {
  sha256: 'a'.repeat(64),
  timestampVersion: 42,
  slot: 'B',
  bootTime: '2026-12-07T20:00:00.000Z',
  at: new Date('2026-12-07T20:01:02.345Z'),
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ReceiptError);
    return (err as ReceiptError).code;
  }
  throw new Error('accepted');
}

/** A receipt whose body is `claims` exactly, signed by the device's key. */
function signedBody(claims: unknown, key = device.privateKey): { body: string; signature: string } {
  const bytes = Buffer.from(typeof claims === 'string' ? claims : JSON.stringify(claims));
  return { body: bytes.toString('base64'), signature: sign('sha256', bytes, key).toString('base64') };
}

const valid = {
  type: 'enigm-ota/receipt/v1',
  deviceId: 'rc-1',
  reportId: 'report-0001',
  outcome: 'installed',
  version: '1.4.0',
  signedAt: '2026-12-07T20:01:02.345Z',
};

describe('install receipts', () => {
  it('sign the report and what the device acted on, and open to exactly those claims', () => {
    const receipt = signReceipt(report, context, device.privateKey);
    expect(Buffer.from(receipt.body, 'base64').toString('utf8')).to.equal(
      '{"type":"enigm-ota/receipt/v1","deviceId":"rc-1","reportId":"report-0001","outcome":"installed","version":"1.4.0",' +
        '"targetName":"stable/1.4.0/fw.bin","health":"healthy","sha256":"' +
        'a'.repeat(64) +
        '","timestampVersion":42,"slot":"B","bootTime":"2026-12-07T20:00:00.000Z","signedAt":"2026-12-07T20:01:02.345Z"}',
    );
    expect(openReceipt(receipt, device.publicKey, report)).to.include({
      slot: 'B',
      timestampVersion: 42,
      health: 'healthy',
    });
  });

  it('sign with an EC key too, and stamp the time of signing when none is given', () => {
    const before = Date.now();
    const receipt = signReceipt({ ...report, health: undefined }, {}, other.privateKey);
    const claims = openReceipt(receipt, other.publicKey, { ...report, health: undefined });
    expect(Date.parse(claims.signedAt)).to.be.within(before, Date.now());
    expect(claims).not.to.have.property('health');
  });

  it('are co-signed by an attestation key over the same body, where the device has one', () => {
    const receipt = signReceipt(report, context, device.privateKey);
    const attestation = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const certChain = ['-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n'];
    const privateKeyPem = attestation.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const attested = attestReceipt(receipt, { privateKeyPem, certChain });
    expect(attested).to.include({ body: receipt.body, signature: receipt.signature });
    expect(attested.attestation!.certChain).to.deep.equal(certChain);
    expect(attested.attestation!.certChain, 'a copy').to.not.equal(certChain);
    const signature = Buffer.from(attested.attestation!.signature, 'base64');
    expect(verify('sha256', Buffer.from(receipt.body, 'base64'), attestation.publicKey, signature)).to.equal(true);
    // The identity signature still decides what the receipt says.
    expect(openReceipt(attested, device.publicKey, report).reportId).to.equal('report-0001');
  });

  it('are refused when missing, not {body, signature}, or not base64 within their limits', () => {
    expect(codeOf(() => openReceipt(undefined, device.publicKey))).to.equal('RECEIPT_MISSING');
    expect(codeOf(() => openReceipt(null, device.publicKey))).to.equal('RECEIPT_MISSING');
    expect(codeOf(() => openReceipt({ body: 'e30=' }, device.publicKey))).to.equal('RECEIPT_MALFORMED');
    expect(codeOf(() => openReceipt({ body: 1, signature: 'AA==' }, device.publicKey))).to.equal('RECEIPT_MALFORMED');
    const good = signReceipt(report, context, device.privateKey);
    expect(codeOf(() => openReceipt({ ...good, body: 'not base64!' }, device.publicKey))).to.equal('RECEIPT_MALFORMED');
    expect(codeOf(() => openReceipt({ ...good, body: 'abc' }, device.publicKey))).to.equal('RECEIPT_MALFORMED');
    const huge = Buffer.alloc(MAX_RECEIPT_BODY_BYTES + 1).toString('base64');
    expect(codeOf(() => openReceipt({ ...good, body: huge }, device.publicKey))).to.equal('RECEIPT_MALFORMED');
    expect(codeOf(() => openReceipt({ ...good, signature: 'A'.repeat(1024) }, device.publicKey))).to.equal(
      'RECEIPT_MALFORMED',
    );
  });

  it('are refused when another key signed them, or a byte of the body changed', () => {
    const good = signReceipt(report, context, device.privateKey);
    expect(codeOf(() => openReceipt(good, createPublicKey(other.privateKey)))).to.equal('RECEIPT_SIGNATURE_INVALID');
    const body = Buffer.from(good.body, 'base64');
    body.writeUInt8(body.at(-3)! ^ 1, body.length - 3);
    expect(codeOf(() => openReceipt({ ...good, body: body.toString('base64') }, device.publicKey))).to.equal(
      'RECEIPT_SIGNATURE_INVALID',
    );
  });

  it('are refused when the report says something the receipt does not', () => {
    const good = signReceipt(report, context, device.privateKey);
    for (const change of [
      { deviceId: 'rc-2' },
      { reportId: 'report-0002' },
      { health: 'reverted' as const },
      { outcome: 'failed' as const },
      { version: '1.4.1' },
      { targetName: 'stable/1.4.1/fw.bin' },
      { errorCode: 'INSTALL_FAILED' },
      { waitReason: 'window' as const },
    ]) {
      expect(
        codeOf(() => openReceipt(good, device.publicKey, { ...report, ...change })),
        JSON.stringify(change),
      ).to.equal('RECEIPT_MISMATCH');
    }
    // What the receipt does not bind (the free-text message, the delivery) may differ.
    expect(openReceipt(good, device.publicKey, { ...report, message: 'anything' } as InstallReport).reportId).to.equal(
      'report-0001',
    );
  });

  it('refuse signed claims that are not JSON objects, lack one, carry an unknown one, or a malformed one', () => {
    const refused = (claims: unknown) => codeOf(() => openReceipt(signedBody(claims), device.publicKey));
    expect(openReceipt(signedBody(valid), device.publicKey)).to.deep.equal(valid);
    expect(refused('{')).to.equal('RECEIPT_MALFORMED');
    expect(refused([valid])).to.equal('RECEIPT_MALFORMED');
    expect(refused(null)).to.equal('RECEIPT_MALFORMED');
    expect(refused({ ...valid, signedAt: undefined })).to.equal('RECEIPT_MALFORMED');
    expect(refused({ ...valid, extra: 1 })).to.equal('RECEIPT_MALFORMED');
    expect(refused(`{"__proto__":1,${JSON.stringify(valid).slice(1)}`)).to.equal('RECEIPT_MALFORMED');
    for (const [field, bad] of [
      ['type', 'enigm-ota/receipt/v0'],
      ['deviceId', ''],
      ['deviceId', 'x'.repeat(129)],
      ['reportId', 'short'],
      ['outcome', 'bricked'],
      ['version', 7],
      ['targetName', 'x'.repeat(513)],
      ['health', 'fine'],
      ['errorCode', 'lower_case'],
      ['waitReason', 'later'],
      ['sha256', 'A'.repeat(64)],
      ['timestampVersion', 0],
      ['timestampVersion', 1.5],
      ['slot', ''],
      ['bootTime', 'yesterday'],
      ['signedAt', '2026-13-45T99:99:99Z'],
    ] as const) {
      expect(refused({ ...valid, [field]: bad }), `${field}: ${String(bad)}`).to.equal('RECEIPT_MALFORMED');
    }
  });
});
