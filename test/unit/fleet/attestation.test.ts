import { constants, sign } from 'node:crypto';

import {
  type AttestationEvidence,
  type AttestationMeasurements,
  attestationPayload,
  createEvidence,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { EvidenceError, ServerError } from '../../../common/errors';
import {
  attestationLimits,
  type AttestationPolicy,
  checkAttestationPolicy,
  defaultAttestationPolicy,
  nonceIsFresh,
  verifyEvidence,
  type VerifyEvidenceOptions,
} from '../../../fleet/attestation';
import {
  type AttestationIdentity,
  createManufacturer,
  type Manufacturer,
  TEST_ATTESTATION_EKU,
} from '../../fixtures/manufacturer';
import { refusal } from '../../rejection';

const now = new Date('2026-11-26T12:00:00Z');
const YEAR = 365 * 24 * 60 * 60 * 1000;
const NONCE = 'bm9uY2UtZm9yLWRldi0xLWF0dGVzdGF0aW9uLTAwMQ';
const EARLIER_NONCE = 'ZWFybGllci1ub25jZS1mb3ItZGV2LTEtMDAwMDAwMDA';
const good: AttestationMeasurements = {
  bootState: 'verified',
  osVersion: '5.1.0',
  integrity: { 'dm-verity': true, selinux: true, debuggable: false },
};
const policy: AttestationPolicy = {
  ...defaultAttestationPolicy,
  minOsVersion: '5.0.0',
  requiredIntegrity: ['dm-verity', 'selinux'],
  extKeyUsage: TEST_ATTESTATION_EKU,
};

describe('verifyEvidence', function () {
  this.timeout(60_000);
  let maker: Manufacturer;
  let dev1: AttestationIdentity;
  let dev2: AttestationIdentity;
  let options: VerifyEvidenceOptions;
  const evidence = (
    identity: AttestationIdentity = dev1,
    measurements: AttestationMeasurements = good,
    nonce = NONCE,
    deviceId = identity.deviceId,
  ) => createEvidence(identity, { deviceId, nonce, measurements });
  const refusedWith = (e: unknown, code: string, o: Partial<VerifyEvidenceOptions> = {}) => {
    const err = refusal(() => verifyEvidence(e, { ...options, ...o }));
    expect(err).to.be.instanceOf(EvidenceError).and.have.property('code', code);
    return err;
  };

  before(() => {
    maker = createManufacturer('Enigm Test Manufacturer', { now });
    dev1 = maker.issueDevice('dev-1');
    dev2 = maker.issueDevice('dev-2');
    options = { manufacturerRoots: maker.roots, expectedNonce: NONCE, deviceId: 'dev-1', now, policy };
  });

  it('passes fresh, authentic evidence whose measurements meet the policy', () => {
    const result = verifyEvidence(evidence(), options);
    expect(result).to.include({ passed: true });
    expect(result.measurements).to.deep.equal(good);
  });

  it('verifies with node-forge what the SDK signed with node:crypto, from a JSON round trip as an API receives it', () => {
    const received: unknown = JSON.parse(JSON.stringify(evidence()));
    expect(verifyEvidence(received, options).passed).to.equal(true);
  });

  it('accepts a chain that ends with the root itself, and a key certified by the root directly', () => {
    const e = evidence();
    expect(verifyEvidence({ ...e, certChain: [...e.certChain, maker.root.certPem] }, options).passed).to.equal(true);
    expect(verifyEvidence(evidence(maker.issueDevice('dev-1', { issuer: 'root' })), options).passed).to.equal(true);
  });

  describe('S-13: the nonce issued for this attestation', () => {
    it('refuses replayed evidence that answers an earlier nonce', () => {
      refusedWith(evidence(dev1, good, EARLIER_NONCE), 'ATTESTATION_NONCE_INVALID');
    });

    it('refuses a replay whose nonce was rewritten to the fresh one: the signature no longer matches', () => {
      refusedWith({ ...evidence(dev1, good, EARLIER_NONCE), nonce: NONCE }, 'ATTESTATION_SIGNATURE_INVALID');
    });

    it('refuses a nonce that differs only in length', () => {
      refusedWith(evidence(dev1, good, `${NONCE}A`), 'ATTESTATION_NONCE_INVALID');
    });
  });

  describe('S-13: about the authenticated device', () => {
    it('refuses evidence another device produced for itself', () => {
      refusedWith(evidence(dev2), 'ATTESTATION_DEVICE_MISMATCH');
    });

    it('refuses evidence that claims this device but carries a key certified for another one', () => {
      refusedWith(evidence(dev2, good, NONCE, 'dev-1'), 'ATTESTATION_DEVICE_MISMATCH');
    });

    it("refuses evidence signed by this device's key that names another device", () => {
      const bySerial = maker.issueDevice('dev-1', { commonName: 'SN-0042' });
      refusedWith(evidence(bySerial, good, NONCE, 'dev-2'), 'ATTESTATION_DEVICE_MISMATCH', {
        certifiedSubject: 'SN-0042',
      });
    });

    it('binds to the subject the manufacturer certified when enrollment recorded one (a hardware serial)', () => {
      const bySerial = maker.issueDevice('dev-1', { commonName: 'SN-0042' });
      expect(verifyEvidence(evidence(bySerial), { ...options, certifiedSubject: 'SN-0042' }).passed).to.equal(true);
      refusedWith(evidence(bySerial), 'ATTESTATION_DEVICE_MISMATCH');
    });
  });

  describe('S-13: a chain to a manufacturer root', () => {
    it('refuses a device certificate from another manufacturer', () => {
      const other = createManufacturer('Other Manufacturer', { now });
      refusedWith(evidence(other.issueDevice('dev-1')), 'ATTESTATION_CHAIN_INVALID');
    });

    it("refuses a chain through an impostor CA that copies the manufacturer's names", () => {
      const impostor = createManufacturer('Enigm Test Manufacturer', { now });
      refusedWith(evidence(impostor.issueDevice('dev-1')), 'ATTESTATION_CHAIN_INVALID');
      const e = evidence(impostor.issueDevice('dev-1'));
      refusedWith({ ...e, certChain: [e.certChain[0]!, maker.intermediate.certPem] }, 'ATTESTATION_CHAIN_INVALID');
    });

    it('refuses a chain without its intermediate, or in the wrong order', () => {
      const e = evidence();
      refusedWith({ ...e, certChain: [e.certChain[0]!] }, 'ATTESTATION_CHAIN_INVALID');
      refusedWith({ ...e, certChain: [...e.certChain].reverse() }, 'ATTESTATION_CHAIN_INVALID');
    });

    it("refuses a key that another device's attestation key certified", () => {
      const forged = maker.issueDevice('dev-9', { issuer: dev2.issued });
      expect(forged.certChain).to.have.length(3);
      refusedWith(evidence(forged), 'ATTESTATION_CHAIN_INVALID', { deviceId: 'dev-9' });
    });

    it('refuses a certificate it cannot read', () => {
      const e = evidence();
      refusedWith(
        {
          ...e,
          certChain: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', ...e.certChain.slice(1)],
        },
        'ATTESTATION_CHAIN_INVALID',
      );
    });

    it('fails as misconfigured without manufacturer roots, or with one it cannot read', () => {
      for (const manufacturerRoots of [[], ['not a certificate']]) {
        const err = refusal(() => verifyEvidence(evidence(), { ...options, manufacturerRoots }));
        expect(err).to.be.instanceOf(ServerError).and.have.property('code', 'CONFIG_INVALID');
        expect(err).not.to.be.instanceOf(EvidenceError);
      }
    });
  });

  describe('S-13: certificates valid now', () => {
    it('refuses an expired attestation certificate', () => {
      const expired = maker.issueDevice('dev-1', {
        notBefore: new Date(now.getTime() - 2 * YEAR),
        notAfter: new Date(now.getTime() - 1000),
      });
      refusedWith(evidence(expired), 'ATTESTATION_CERT_EXPIRED');
    });

    it('refuses an attestation certificate that is not valid yet', () => {
      const early = maker.issueDevice('dev-1', { notBefore: new Date(now.getTime() + 60_000) });
      refusedWith(evidence(early), 'ATTESTATION_CERT_EXPIRED');
      expect(verifyEvidence(evidence(early), { ...options, now: new Date(now.getTime() + 60_000) }).passed).to.equal(
        true,
      );
    });

    it('does not check validity against a broken clock', () => {
      const expired = maker.issueDevice('dev-1', { notAfter: new Date(now.getTime() - 1000) });
      const err = refusal(() => verifyEvidence(evidence(expired), { ...options, now: new Date(Number.NaN) }));
      expect(err).to.be.instanceOf(ServerError).and.have.property('code', 'CONFIG_INVALID');
    });

    it('refuses a chain whose intermediate has expired', () => {
      const longLived = maker.issueDevice('dev-1', { notAfter: new Date(now.getTime() + 20 * YEAR) });
      refusedWith(evidence(longLived), 'ATTESTATION_CERT_EXPIRED', { now: new Date(now.getTime() + 11 * YEAR) });
    });
  });

  describe('S-13: an attestation key', () => {
    it('refuses a CA certificate as the attestation key', () => {
      refusedWith(evidence(maker.issueDevice('dev-1', { ca: true })), 'ATTESTATION_KEY_INVALID');
    });

    it('refuses a key not certified for digital signatures', () => {
      refusedWith(evidence(maker.issueDevice('dev-1', { keyUsage: null })), 'ATTESTATION_KEY_INVALID');
      refusedWith(evidence(maker.issueDevice('dev-1', { keyUsage: { keyCertSign: true } })), 'ATTESTATION_KEY_INVALID');
    });

    it("refuses a key without the manufacturer's attestation usage when the policy names one", () => {
      const noUsage = maker.issueDevice('dev-1', { extKeyUsage: null });
      const serverAuth = maker.issueDevice('dev-1', { extKeyUsage: ['1.3.6.1.5.5.7.3.1'] });
      refusedWith(evidence(noUsage), 'ATTESTATION_KEY_INVALID');
      refusedWith(evidence(serverAuth), 'ATTESTATION_KEY_INVALID');
      const { extKeyUsage: _none, ...anyUsage } = policy;
      expect(verifyEvidence(evidence(noUsage), { ...options, policy: anyUsage }).passed).to.equal(true);
      expect(
        verifyEvidence(evidence(serverAuth), { ...options, policy: { ...policy, extKeyUsage: '1.3.6.1.5.5.7.3.1' } })
          .passed,
      ).to.equal(true);
    });

    it("refuses a key below the policy's size", () => {
      const small = maker.issueDevice('dev-1', { bits: 1024 });
      refusedWith(evidence(small), 'ATTESTATION_KEY_INVALID');
      expect(verifyEvidence(evidence(small), { ...options, policy: { ...policy, minKeyBits: 1024 } }).passed).to.equal(
        true,
      );
    });
  });

  describe('S-13: signed by the attestation key', () => {
    const tampered: Array<[string, (m: AttestationMeasurements) => AttestationMeasurements]> = [
      ['boot state', (m) => ({ ...m, bootState: 'verified' })],
      ['OS version', (m) => ({ ...m, osVersion: '5.1.0' })],
      ['integrity flag', (m) => ({ ...m, integrity: { ...m.integrity, selinux: true } })],
    ];
    const bad: AttestationMeasurements = {
      bootState: 'unverified',
      osVersion: '4.0.0',
      integrity: { 'dm-verity': true, selinux: false },
    };
    for (const [what, change] of tampered) {
      it(`refuses evidence whose ${what} was changed after signing`, () => {
        const e = evidence(dev1, bad);
        refusedWith({ ...e, measurements: change(e.measurements) }, 'ATTESTATION_SIGNATURE_INVALID');
      });
    }

    it('refuses a signature by a key other than the certified one', () => {
      refusedWith(
        { ...evidence(dev2, good, NONCE, 'dev-1'), certChain: dev1.certChain },
        'ATTESTATION_SIGNATURE_INVALID',
      );
    });

    it('refuses a truncated signature, and a signature with another padding scheme (PSS)', () => {
      const e = evidence();
      refusedWith({ ...e, signature: e.signature.slice(0, 340) }, 'ATTESTATION_SIGNATURE_INVALID');
      const pss = sign('sha256', attestationPayload(e), {
        key: dev1.privateKeyPem,
        padding: constants.RSA_PKCS1_PSS_PADDING,
      });
      refusedWith({ ...e, signature: pss.toString('base64') }, 'ATTESTATION_SIGNATURE_INVALID');
    });
  });

  describe('S-13: measurements against the policy', () => {
    const failing: Array<[string, AttestationMeasurements, string]> = [
      ['an unverified boot', { ...good, bootState: 'unverified' }, 'boot state unverified'],
      ['an OS older than the minimum', { ...good, osVersion: '4.9.9' }, 'OS 4.9.9, below 5.0.0'],
      [
        'a required integrity flag that is false',
        { ...good, integrity: { 'dm-verity': true, selinux: false } },
        'integrity flag selinux failing',
      ],
      [
        'a required integrity flag that is missing',
        { ...good, integrity: { selinux: true } },
        'integrity flag dm-verity not reported',
      ],
    ];
    for (const [what, measurements, failure] of failing) {
      it(`does not pass ${what}, and says why`, () => {
        const result = verifyEvidence(evidence(dev1, measurements), options);
        expect(result).to.include({ passed: false, code: 'ATTESTATION_MEASUREMENTS_FAILED' });
        expect(result.passed === false && result.failures).to.have.length(1);
        expect(result.reason).to.contain(failure);
        expect(result.measurements).to.deep.equal(measurements);
      });
    }

    it('lists every failing measurement', () => {
      const result = verifyEvidence(
        evidence(dev1, { bootState: 'failed', osVersion: '1.0.0', integrity: {} }),
        options,
      );
      expect(result.passed === false && result.failures).to.have.length(4);
    });

    it('passes the boot states and OS versions the policy allows', () => {
      const lenient = {
        ...options,
        policy: {
          ...defaultAttestationPolicy,
          bootStates: ['verified', 'self-signed'] as AttestationPolicy['bootStates'],
        },
      };
      expect(
        verifyEvidence(evidence(dev1, { bootState: 'self-signed', osVersion: '0.1.0', integrity: {} }), lenient).passed,
      ).to.equal(true);
      expect(verifyEvidence(evidence(dev1, { ...good, osVersion: '5.0.0' }), options).passed).to.equal(true);
    });
  });

  describe('S-13: malformed or oversized evidence', () => {
    const pem = (chars: number) => `-----BEGIN CERTIFICATE-----\n${'A'.repeat(chars)}\n-----END CERTIFICATE-----\n`;
    let e: AttestationEvidence;
    before(() => {
      e = evidence();
    });

    it(`refuses evidence over ${attestationLimits.maxEvidenceBytes} bytes, although each field is within its own limit`, () => {
      const big = { ...e, certChain: [e.certChain[0]!, pem(4800), pem(4800), pem(4800)] };
      const err = refusedWith(big, 'ATTESTATION_MALFORMED');
      expect(err.message).to.contain('bytes');
    });

    const cases: Array<[string, () => unknown]> = [
      ['no object', () => 'evidence'],
      ['a list', () => [e]],
      ['null', () => null],
      ['nothing', () => undefined],
      ['an unknown field', () => ({ ...e, extra: 1 })],
      ['no device id', () => ({ ...e, deviceId: undefined })],
      ['a malformed device id', () => ({ ...e, deviceId: '../dev-1' })],
      ['a nonce shorter than 16 bytes', () => ({ ...e, nonce: 'A'.repeat(21) })],
      ['a nonce over 128 characters', () => ({ ...e, nonce: 'A'.repeat(129) })],
      ['a nonce that is not base64url', () => ({ ...e, nonce: `${NONCE.slice(1)}+` })],
      ['no measurements', () => ({ ...e, measurements: undefined })],
      ['an unknown measurement', () => ({ ...e, measurements: { ...e.measurements, debug: true } })],
      ['an unknown boot state', () => ({ ...e, measurements: { ...e.measurements, bootState: 'green' } })],
      ['an OS version that is not semantic', () => ({ ...e, measurements: { ...e.measurements, osVersion: 'v5' } })],
      [
        'integrity that is not an object',
        () => ({ ...e, measurements: { ...e.measurements, integrity: ['dm-verity'] } }),
      ],
      [
        'an integrity flag that is not a boolean',
        () => ({ ...e, measurements: { ...e.measurements, integrity: { selinux: 'yes' } } }),
      ],
      [
        'a malformed integrity flag name',
        () => ({ ...e, measurements: { ...e.measurements, integrity: { 'se linux': true } } }),
      ],
      [
        '33 integrity flags',
        () => ({
          ...e,
          measurements: {
            ...e.measurements,
            integrity: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`f${i}`, true])),
          },
        }),
      ],
      ['a signature that is not base64', () => ({ ...e, signature: `${e.signature.slice(4)}!!!!` })],
      ['a signature of odd length', () => ({ ...e, signature: e.signature.slice(1) })],
      ['a signature over 1024 bytes', () => ({ ...e, signature: 'A'.repeat(attestationLimits.maxSignatureChars + 4) })],
      ['a numeric signature', () => ({ ...e, signature: 7 })],
      ['an empty chain', () => ({ ...e, certChain: [] })],
      [
        'a chain of five certificates',
        () => ({ ...e, certChain: [...e.certChain, ...e.certChain, ...e.certChain.slice(0, 1)] }),
      ],
      ['a chain that is not a list', () => ({ ...e, certChain: e.certChain[0] })],
      ['a chain entry that is not a string', () => ({ ...e, certChain: [e.certChain[0], 7] })],
      ['two certificates in one entry', () => ({ ...e, certChain: [e.certChain.join('')] })],
      [
        'a chain entry over the certificate limit',
        () => ({ ...e, certChain: [pem(attestationLimits.maxCertificateChars)] }),
      ],
      ['a chain entry that is no PEM certificate', () => ({ ...e, certChain: ['MIIB...'] })],
      ['a value JSON cannot hold', () => ({ ...e, deviceId: 1n })],
    ];
    for (const [what, make] of cases) {
      it(`refuses ${what}`, () => {
        refusedWith(make(), 'ATTESTATION_MALFORMED');
      });
    }

    it('refuses a circular structure without looping', () => {
      const circular: Record<string, unknown> = { ...e };
      circular['self'] = circular;
      refusedWith(circular, 'ATTESTATION_MALFORMED');
    });
  });
});

describe('nonceIsFresh', () => {
  const issued = new Date('2026-11-26T12:00:00Z');
  const at = (ms: number) => new Date(issued.getTime() + ms);

  it('is fresh from the moment of issue up to and including the maximum age', () => {
    expect(nonceIsFresh(issued, at(0), 60_000)).to.equal(true);
    expect(nonceIsFresh(issued, at(60_000), 60_000)).to.equal(true);
    expect(nonceIsFresh(issued.toISOString(), at(30_000), 60_000)).to.equal(true);
  });

  it('is stale one millisecond later', () => {
    expect(nonceIsFresh(issued, at(60_001), 60_000)).to.equal(false);
    expect(nonceIsFresh(issued.toISOString(), at(60_001), 60_000)).to.equal(false);
  });

  it('refuses a nonce issued after now, and an unreadable issue time', () => {
    expect(nonceIsFresh(issued, at(-1), 60_000)).to.equal(false);
    expect(nonceIsFresh('yesterday', at(0), 60_000)).to.equal(false);
    expect(nonceIsFresh(new Date(Number.NaN), at(0), 60_000)).to.equal(false);
  });
});

describe('checkAttestationPolicy', () => {
  it('accepts the default and a complete policy, keeping only known settings', () => {
    expect(checkAttestationPolicy(defaultAttestationPolicy)).to.deep.equal(defaultAttestationPolicy);
    expect(checkAttestationPolicy(policy)).to.deep.equal(policy);
  });

  const bad: Array<[string, unknown]> = [
    ['a list', []],
    ['a misspelt setting', { ...policy, minOSVersion: '5.0.0' }],
    ['no boot states', { ...policy, bootStates: [] }],
    ['an unknown boot state', { ...policy, bootStates: ['green'] }],
    ['a minimum OS version that is not semantic', { ...policy, minOsVersion: '5' }],
    ['integrity flags that are not a list', { ...policy, requiredIntegrity: 'selinux' }],
    ['a malformed integrity flag', { ...policy, requiredIntegrity: ['se linux'] }],
    ['a key usage that is not an OID', { ...policy, extKeyUsage: 'attestation' }],
    ['keys below 2048 bits', { ...policy, minKeyBits: 1024 }],
    ['no key size', { ...policy, minKeyBits: undefined }],
  ];
  for (const [what, value] of bad) {
    it(`refuses ${what} as invalid configuration`, () => {
      expect(refusal(() => checkAttestationPolicy(value)))
        .to.be.instanceOf(ServerError)
        .and.have.property('code', 'CONFIG_INVALID');
    });
  }
});
