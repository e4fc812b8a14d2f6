import {
  AttestationError,
  DeferredError,
  InstallError,
  OtaError,
  PolicyError,
  RollbackError,
  TransportError,
  VerificationError,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

describe('OtaError', () => {
  it('carries its code and cause, and is named after its class', () => {
    const cause = new Error('low level');
    const e = new RollbackError('ROLLBACK_INDEX_TOO_LOW', 'downgrade', { cause });
    expect(e).to.include({ code: 'ROLLBACK_INDEX_TOO_LOW', name: 'RollbackError', cause });
  });

  it('keeps the category tree callers branch on', () => {
    const cases = [
      [new VerificationError('TARGET_HASH_MISMATCH', 'm'), 'VerificationError', false],
      [new PolicyError('CHANNEL_MISMATCH', 'm'), 'PolicyError', true],
      [new RollbackError('ROLLBACK_INDEX_TOO_LOW', 'm'), 'RollbackError', true],
      [new TransportError('DOWNLOAD_FAILED', 'm'), 'TransportError', false],
      [new InstallError('INSTALL_FAILED', 'm'), 'InstallError', false],
      [new AttestationError('ATTESTATION_KEY_INVALID', 'm'), 'AttestationError', false],
    ] as const;
    for (const [e, name, isPolicy] of cases) {
      expect(e, name).to.be.instanceOf(OtaError).and.instanceOf(Error).and.have.property('name', name);
      expect(e instanceof PolicyError, `${name} is a policy refusal`).to.equal(isPolicy);
    }
  });

  it('says why a device waits, and is no refusal: not a policy error', () => {
    const e = new DeferredError('INSTALL_WINDOW_CLOSED', { reason: 'window', message: 'm', retryInMs: 60_000 });
    expect(e)
      .to.be.instanceOf(OtaError)
      .and.include({ code: 'INSTALL_WINDOW_CLOSED', reason: 'window', retryInMs: 60_000 });
    expect(e).to.not.be.instanceOf(PolicyError);
    expect(new DeferredError('NETWORK_METERED', { reason: 'metered', message: 'm' }).retryInMs).to.equal(undefined);
  });
});
