import { generateKeyPairSync, type KeyObject, verify } from 'node:crypto';

import {
  type AttestationClaim,
  AttestationError,
  attestationPayload,
  createEvidence,
  OtaError,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { refusal } from '../../rejection';

const claim: AttestationClaim = {
  deviceId: 'd-1',
  nonce: 'bm9uY2Utbm9uY2Utbm9uY2U',
  measurements: { bootState: 'verified', osVersion: '5.1.0', integrity: { 'dm-verity': true, selinux: true } },
};

describe('attestationPayload', () => {
  it('is the canonical JSON of the claim and its type tag, byte for byte', () => {
    const small: AttestationClaim = {
      deviceId: 'd-1',
      nonce: 'n',
      measurements: { bootState: 'verified', osVersion: '1.0.0', integrity: { b: true, a: false } },
    };
    expect(attestationPayload(small).toString('utf8')).to.equal(
      '{"deviceId":"d-1","measurements":{"bootState":"verified","integrity":{"a":false,"b":true},"osVersion":"1.0.0"},"nonce":"n","type":"enigm-ota/attestation/v1"}',
    );
  });

  it('does not depend on the order the fields were written in', () => {
    const reordered = {
      nonce: claim.nonce,
      measurements: {
        integrity: { selinux: true, 'dm-verity': true },
        osVersion: '5.1.0',
        bootState: 'verified' as const,
      },
      deviceId: 'd-1',
    };
    expect(attestationPayload(reordered).equals(attestationPayload(claim))).to.equal(true);
  });

  it('covers only the known measurement fields', () => {
    const extra = {
      ...claim,
      measurements: { ...claim.measurements, debug: true } as AttestationClaim['measurements'],
    };
    expect(attestationPayload(extra).equals(attestationPayload(claim))).to.equal(true);
  });

  it('changes with every signed field', () => {
    const changed: AttestationClaim[] = [
      { ...claim, deviceId: 'd-2' },
      { ...claim, nonce: `${claim.nonce}x` },
      { ...claim, measurements: { ...claim.measurements, bootState: 'unverified' } },
      { ...claim, measurements: { ...claim.measurements, osVersion: '5.1.1' } },
      { ...claim, measurements: { ...claim.measurements, integrity: { 'dm-verity': true, selinux: false } } },
    ];
    for (const c of changed)
      expect(attestationPayload(c).equals(attestationPayload(claim)), JSON.stringify(c)).to.equal(false);
  });
});

describe('createEvidence', () => {
  let publicKey: KeyObject;
  let pkcs1: string;
  let pkcs8: string;
  before(() => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    publicKey = pair.publicKey;
    pkcs1 = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  });

  it('signs the payload with RSASSA-PKCS1-v1_5 and SHA-256, from a PKCS1 or PKCS8 key', () => {
    for (const privateKeyPem of [pkcs1, pkcs8]) {
      const evidence = createEvidence({ privateKeyPem, certChain: ['LEAF', 'INTERMEDIATE'] }, claim);
      expect(evidence).to.deep.include({
        deviceId: 'd-1',
        nonce: claim.nonce,
        measurements: claim.measurements,
        certChain: ['LEAF', 'INTERMEDIATE'],
      });
      const signature = Buffer.from(evidence.signature, 'base64');
      expect(signature.length).to.equal(256);
      expect(verify('sha256', attestationPayload(claim), publicKey, signature)).to.equal(true);
      expect(verify('sha256', attestationPayload({ ...claim, nonce: 'other' }), publicKey, signature)).to.equal(false);
    }
  });

  it('copies what it signs, so changing the inputs later does not change the evidence', () => {
    const integrity = { 'dm-verity': true };
    const certChain = ['LEAF'];
    const evidence = createEvidence(
      { privateKeyPem: pkcs1, certChain },
      { ...claim, measurements: { ...claim.measurements, integrity } },
    );
    integrity['dm-verity'] = false;
    certChain.push('ROGUE');
    expect(evidence.measurements.integrity).to.deep.equal({ 'dm-verity': true });
    expect(evidence.certChain).to.deep.equal(['LEAF']);
  });

  it('refuses a key it cannot read, and a key that is not RSA', () => {
    const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    for (const privateKeyPem of ['not a key', ed25519]) {
      const e = refusal(() => createEvidence({ privateKeyPem, certChain: [] }, claim));
      expect(e)
        .to.be.instanceOf(AttestationError)
        .and.instanceOf(OtaError)
        .and.have.property('code', 'ATTESTATION_KEY_INVALID');
    }
  });
});
