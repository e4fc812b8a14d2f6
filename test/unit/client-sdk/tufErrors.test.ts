import {
  OtaError,
  PolicyError,
  toOtaError,
  TransportError,
  tufJsErrors as tuf,
  VerificationError,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

/**
 * The errors tuf-js 6 raises, with its own classes and message texts (store.js, updater.js,
 * fetcher.js). Snapshot and targets failures reach the SDK wrapped in a RuntimeError that
 * keeps only the inner error's text, so the mapping has to read messages too.
 */
const wrapped = (role: 'snapshot' | 'targets', inner: string) =>
  new tuf.RuntimeError(`Unable to load ${role === 'snapshot' ? 'snapshot metadata' : 'targets'} error Error: ${inner}`);

function mapped(err: unknown) {
  const e = toOtaError('rollout', err);
  expect(e.cause, 'keeps the original error as the cause').to.equal(err);
  return e;
}

describe('toOtaError', () => {
  it('passes an SDK error through unchanged', () => {
    const original = new PolicyError('NOT_IN_ROLLOUT', 'not offered');
    expect(toOtaError('release', original)).to.equal(original);
  });

  describe('D-1: freeze (METADATA_EXPIRED)', () => {
    it('maps expired timestamp and targets metadata', () => {
      expect(mapped(new tuf.ExpiredMetadataError('Final timestamp.json is expired')))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_EXPIRED');
      expect(mapped(new tuf.ExpiredMetadataError('targets.json is expired'))).to.have.property(
        'code',
        'METADATA_EXPIRED',
      );
    });

    it('maps an expired snapshot reported inside a wrapper', () => {
      expect(mapped(wrapped('snapshot', 'snapshot.json is expired'))).to.have.property('code', 'METADATA_EXPIRED');
    });
  });

  describe('D-1: mix-and-match (METADATA_INCONSISTENT)', () => {
    it('maps a targets file whose version is not the one the snapshot names, wrapped or not', () => {
      const text = 'Version 1 of targets does not match snapshot version 2';
      expect(mapped(wrapped('targets', text)))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_INCONSISTENT');
      // A BadVersionError, but not a rollback: the file is not the one the snapshot names.
      expect(mapped(new tuf.BadVersionError(text))).to.have.property('code', 'METADATA_INCONSISTENT');
    });

    it("maps another partition's file served in place of the device's own, wrapped or not", () => {
      const text = '3.targets.json names partition "beta/board-b", not stable/board-a';
      expect(mapped(new Error(text))).to.have.property('code', 'METADATA_INCONSISTENT');
      expect(mapped(wrapped('targets', text))).to.have.property('code', 'METADATA_INCONSISTENT');
    });

    it('maps a snapshot whose bytes or version differ from what the timestamp signs', () => {
      for (const inner of [
        'Expected hash 9f2c but got 41aa',
        'Expected length 812 but got 790',
        "Snapshot version doesn't match timestamp",
      ]) {
        expect(mapped(wrapped('snapshot', inner)), inner)
          .to.be.instanceOf(VerificationError)
          .and.have.property('code', 'METADATA_INCONSISTENT');
      }
    });
  });

  describe('D-1: version rollback (METADATA_ROLLBACK)', () => {
    it('maps an older timestamp or root', () => {
      expect(mapped(new tuf.BadVersionError('New timestamp version 4 is less than current version 5')))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_ROLLBACK');
      expect(mapped(new tuf.BadVersionError('Expected version 3, got 2'))).to.have.property(
        'code',
        'METADATA_ROLLBACK',
      );
    });

    it('maps an older targets version in a new snapshot, reported inside a wrapper', () => {
      expect(
        mapped(wrapped('snapshot', 'New version 1 of targets.json is less than current version 2')),
      ).to.have.property('code', 'METADATA_ROLLBACK');
    });

    it('does not take every message about a version for a rollback', () => {
      expect(mapped(wrapped('snapshot', 'Unsupported specVersion'))).to.have.property('code', 'METADATA_INVALID');
    });
  });

  describe('D-1: signatures below the threshold (METADATA_UNTRUSTED)', () => {
    it('maps unsigned metadata, wrapped or not', () => {
      expect(mapped(new tuf.UnsignedMetadataError('timestamp was signed by 0/1 keys')))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_UNTRUSTED');
      expect(mapped(wrapped('targets', 'targets was signed by 1/2 keys'))).to.have.property(
        'code',
        'METADATA_UNTRUSTED',
      );
    });
  });

  describe('D-2: length caps (METADATA_INVALID)', () => {
    it('maps a download cut at its length cap to a verification failure, not a transport one', () => {
      const e = mapped(new tuf.DownloadLengthMismatchError('Max length reached'));
      expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'METADATA_INVALID');
      expect(e).not.to.be.instanceOf(TransportError);
    });
  });

  describe('transport failures (METADATA_UNAVAILABLE)', () => {
    it('maps HTTP errors and unreachable servers to transport errors', () => {
      expect(mapped(new tuf.DownloadHTTPError('Failed to download', 503)))
        .to.be.instanceOf(TransportError)
        .and.have.property('code', 'METADATA_UNAVAILABLE');
      expect(mapped(new TypeError('fetch failed')))
        .to.be.instanceOf(TransportError)
        .and.have.property('code', 'METADATA_UNAVAILABLE');
    });

    it('does not take any TypeError for a network failure', () => {
      const e = mapped(new TypeError('version must be a number'));
      expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'METADATA_INVALID');
    });
  });

  describe('anything else fails closed (METADATA_INVALID)', () => {
    it('maps unknown tuf-js errors', () => {
      expect(mapped(new tuf.RepositoryError("Expected 'snapshot', got timestamp")))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_INVALID');
      expect(mapped(new SyntaxError('Unexpected token < in JSON at position 0'))).to.have.property(
        'code',
        'METADATA_INVALID',
      );
    });

    it('maps thrown values that are not errors', () => {
      for (const value of ['boom', null, undefined, Symbol('odd')]) {
        const e = mapped(value);
        expect(e, String(value)).to.be.instanceOf(OtaError).and.have.property('code', 'METADATA_INVALID');
      }
    });
  });
});
