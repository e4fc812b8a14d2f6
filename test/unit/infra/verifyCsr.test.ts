import { newKeyAndCsr } from '@enigm-ota/client-sdk';
import { expect } from 'chai';
import forge from 'node-forge';

import { ServerError } from '../../../common/errors';
import { MAX_CSR_BYTES, verifyCsr } from '../../../infra/fleetCa';
import { csrFor, rsaKey } from '../../csr';
import { refusal } from '../../rejection';

/** S-20: the fleet CA's proof-of-possession checklist, without a CA or a stack. */
describe('verifyCsr (fleet CA proof of possession)', () => {
  const refusedAs = (pem: string) => {
    const err = refusal(() => verifyCsr(pem));
    expect(err).to.be.instanceOf(ServerError);
    return err.code;
  };

  it('accepts the CSR the SDK makes and gives the key it carries', () => {
    const { keyPem, csrPem } = newKeyAndCsr('dev-1');
    const key = verifyCsr(csrPem);
    const own = forge.pki.privateKeyFromPem(keyPem);
    expect(key.n.equals(own.n)).to.equal(true);
  });

  describe('when the CSR proves nothing about its key', () => {
    it('refuses a request signed by another key than the one it carries (CSR_INVALID)', () => {
      const victim = rsaKey();
      const attacker = rsaKey();
      expect(refusedAs(csrFor(victim.publicPem, attacker.privatePem))).to.equal('CSR_INVALID');
    });

    it('refuses a request whose signature bytes were changed (CSR_INVALID)', () => {
      const k = rsaKey();
      const pem = csrFor(k.publicPem, k.privatePem);
      const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      der[der.length - 5]! ^= 0xff; // inside the signature, the last field
      const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      expect(refusedAs(tampered)).to.equal('CSR_INVALID');
    });
  });

  describe('when the key or the signature is weak', () => {
    it('refuses an RSA key below 2048 bits', () => {
      const k = rsaKey(1024);
      expect(refusedAs(csrFor(k.publicPem, k.privatePem))).to.equal('CSR_INVALID');
    });

    it('refuses an RSA key above 4096 bits (work for the CA, no use to the SDK)', () => {
      const k = rsaKey(4160);
      expect(refusedAs(csrFor(k.publicPem, k.privatePem))).to.equal('CSR_INVALID');
    });

    it('refuses a small public exponent', () => {
      const k = rsaKey(2048, 3);
      expect(refusedAs(csrFor(k.publicPem, k.privatePem))).to.equal('CSR_INVALID');
    });

    it('refuses SHA-1 and MD5 signatures', () => {
      const k = rsaKey();
      expect(refusedAs(csrFor(k.publicPem, k.privatePem, forge.md.sha1.create()))).to.equal('CSR_INVALID');
      expect(refusedAs(csrFor(k.publicPem, k.privatePem, forge.md.md5.create()))).to.equal('CSR_INVALID');
    });
  });

  describe('when the input is not a CSR', () => {
    it('refuses garbage, a certificate, and an empty string', () => {
      const k = rsaKey();
      for (const pem of [
        '',
        'garbage',
        '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
        k.publicPem,
        k.privatePem,
      ]) {
        expect(refusedAs(pem), pem.slice(0, 40)).to.equal('CSR_INVALID');
      }
    });

    it(`refuses more than ${MAX_CSR_BYTES} bytes before parsing`, () => {
      const k = rsaKey();
      const pem = csrFor(k.publicPem, k.privatePem);
      expect(refusedAs(pem + ' '.repeat(MAX_CSR_BYTES))).to.equal('CSR_INVALID');
    });
  });
});
