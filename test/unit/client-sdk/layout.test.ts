import {
  announcesPartitions,
  checkPartitionFile,
  LAYOUT_FIELD,
  PARTITION_FIELD,
  PARTITIONED_LAYOUT,
  partitionOf,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const bytes = (json: unknown) => new TextEncoder().encode(typeof json === 'string' ? json : JSON.stringify(json));
const file = (partition: unknown) => ({
  signed: { _type: 'targets', version: 3, ...(partition === undefined ? {} : { [PARTITION_FIELD]: partition }) },
  signatures: [],
});

describe('repository layout (device side)', () => {
  it('names a partition by channel and hardware id', () => {
    expect(partitionOf('stable', 'board-a')).to.equal('stable/board-a');
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
});
