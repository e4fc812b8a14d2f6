import {
  announcesPartitions,
  checkPartitionFile,
  checkSignedRecently,
  LAYOUT_FIELD,
  PARTITION_FIELD,
  PARTITIONED_LAYOUT,
  partitionFolder,
  partitionOf,
  SIGNED_AT_FIELD,
  VerificationError,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { refusal } from '../../rejection';

const bytes = (json: unknown) => new TextEncoder().encode(typeof json === 'string' ? json : JSON.stringify(json));
const file = (partition: unknown) => ({
  signed: { _type: 'targets', version: 3, ...(partition === undefined ? {} : { [PARTITION_FIELD]: partition }) },
  signatures: [],
});

describe('repository layout (device side)', () => {
  it('names a partition by channel and hardware id, and its folder in the repository', () => {
    expect(partitionOf('stable', 'board-a')).to.equal('stable/board-a');
    expect(partitionFolder('release', partitionOf('stable', 'board-a'))).to.equal('release/p/stable/board-a');
  });

  it('reads partitions only from a root that announces this layout', () => {
    expect(announcesPartitions({ signed: { [LAYOUT_FIELD]: PARTITIONED_LAYOUT } })).to.equal(true);
    expect(announcesPartitions({ signed: { [LAYOUT_FIELD]: 'channel-hardware/v2' } })).to.equal(false);
    expect(announcesPartitions({ signed: {} })).to.equal(false);
    expect(announcesPartitions({ signed: 'x' })).to.equal(false);
    expect(announcesPartitions(null)).to.equal(false);
  });

  it("accepts a partition file that names the device's partition, and roots that name none", () => {
    expect(() => checkPartitionFile('3.targets.json', bytes(file('stable/board-a')), 'stable/board-a')).not.to.throw();
    expect(() => checkPartitionFile('timestamp.json', bytes(file('stable/board-a')), 'stable/board-a')).not.to.throw();
    expect(() => checkPartitionFile('4.root.json', bytes({ signed: {} }), 'stable/board-a')).not.to.throw();
  });

  it("refuses another partition's file, and one that names none", () => {
    expect(() => checkPartitionFile('3.targets.json', bytes(file('beta/board-a')), 'stable/board-a')).to.throw(
      /names partition "beta\/board-a", not stable\/board-a/,
    );
    expect(() => checkPartitionFile('2.snapshot.json', bytes(file(undefined)), 'stable/board-a')).to.throw(
      /names partition null, not stable\/board-a/,
    );
    expect(() => checkPartitionFile('timestamp.json', bytes({ signed: null }), 'stable/board-a')).to.throw(
      /names partition/,
    );
  });

  it("in a flat repository, accepts files that name no partition and refuses a partition's", () => {
    expect(() => checkPartitionFile('3.targets.json', bytes(file(undefined)), undefined)).not.to.throw();
    expect(() => checkPartitionFile('timestamp.json', bytes(file('stable/board-a')), undefined)).to.throw(
      /names partition "stable\/board-a", not none \(flat\)/,
    );
  });

  it('leaves a body that is not JSON to tuf-js, which refuses it', () => {
    expect(() => checkPartitionFile('timestamp.json', bytes('{not json'), 'stable/board-a')).not.to.throw();
  });

  describe('D-18: a partition timestamp the device does not hold yet', () => {
    const HOUR = 3_600_000;
    const now = new Date('2030-06-01T12:00:00Z');
    const bound = { now, maxAgeMs: 6 * HOUR };
    const timestamp = (signedAt: unknown) =>
      bytes({ signed: { _type: 'timestamp', version: 9, [SIGNED_AT_FIELD]: signedAt }, signatures: [] });
    const at = (hoursBefore: number) => new Date(now.getTime() - hoursBefore * HOUR).toISOString();
    const refused = (file: Uint8Array, given = bound) => refusal(() => checkSignedRecently(file, given));

    it('is accepted when signed within the bound, at its edge, or ahead of a slow device clock', () => {
      for (const signed of [at(1), at(6), at(-2), '2030-06-01T11:59:59Z'])
        expect(() => checkSignedRecently(timestamp(signed), bound), signed).not.to.throw();
    });

    it('is refused when signed longer ago: a state recorded before a pause or a withdrawal (METADATA_STALE)', () => {
      const err = refused(timestamp(at(6.001)));
      expect(err).to.be.instanceOf(VerificationError).and.have.property('code', 'METADATA_STALE');
      expect(err.message).to.contain(at(6.001));
      expect(refused(timestamp(at(7 * 24)))).to.have.property('code', 'METADATA_STALE');
    });

    it('is refused without a signing time that reads as a date, or when it is not JSON', () => {
      for (const file of [timestamp(undefined), timestamp('yesterday'), timestamp(Date.now()), bytes('{not json')])
        expect(refused(file)).to.be.instanceOf(VerificationError).and.have.property('code', 'METADATA_STALE');
      expect(refused(timestamp(undefined)).message).to.contain('signed at null');
    });

    it('is refused when the clock or the bound is not a number (fails closed)', () => {
      expect(refused(timestamp(at(1)), { now: new Date(NaN), maxAgeMs: 6 * HOUR })).to.have.property(
        'code',
        'METADATA_STALE',
      );
      expect(refused(timestamp(at(1)), { now, maxAgeMs: NaN })).to.have.property('code', 'METADATA_STALE');
    });
  });
});
