import { DELTA_FIELD, DELTA_FORMAT } from '@enigm-ota/client-sdk';
import { TargetFile } from '@tufjs/models';
import { expect } from 'chai';

import { deltaBaseCandidates } from '../../../activities/deltaBases';

const sha = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const NEW = sha(0xff);

interface Release {
  version: string;
  image: number;
  channel?: string;
  hardwareIds?: string[];
  rollout?: object | null;
}

/** A release as both repositories sign it: its release entry, and its rollout entry (null: none). */
function signed(r: Release): { released: TargetFile; offered?: TargetFile } {
  const fields = {
    version: r.version,
    channel: r.channel ?? 'stable',
    hardwareIds: r.hardwareIds ?? ['devkit-a'],
    rollbackIndex: 1,
  };
  const file = (custom: object) =>
    new TargetFile({
      path: `${fields.channel}/${r.version}/fw.bin`,
      length: 1000,
      hashes: { sha256: sha(r.image) },
      unrecognizedFields: { custom: custom as never },
    });
  const rollout = { percent: 100, salt: `s-${r.version}`, paused: false, withdrawn: false, ...r.rollout };
  return { released: file(fields), ...(r.rollout !== null && { offered: file({ ...fields, rollout }) }) };
}

function basesFor(releases: Release[], extra: { released?: TargetFile[]; offered?: TargetFile[] } = {}) {
  const entries = releases.map(signed);
  return deltaBaseCandidates({
    spec: { channel: 'stable', hardwareIds: ['devkit-a'], version: '5.0.0' },
    newSha256: NEW,
    released: [...entries.map((e) => e.released), ...(extra.released ?? [])],
    offered: [...entries.flatMap((e) => (e.offered ? [e.offered] : [])), ...(extra.offered ?? [])],
  }).map((b) => b.version);
}

describe('deltaBaseCandidates (which earlier releases a delta may start from)', () => {
  it('takes older releases of the channel sharing a hardware id, newest first, one per image', () => {
    expect(
      basesFor([
        { version: '3.0.0', image: 3 },
        { version: '4.1.0', image: 4, hardwareIds: ['devkit-b', 'devkit-a'] },
        { version: '2.0.0', image: 3 },
        { version: '3.5.0', image: 5, channel: 'beta' },
        { version: '3.6.0', image: 6, hardwareIds: ['devkit-b'] },
        { version: '5.0.0', image: 7 },
        { version: '6.0.0', image: 8 },
        { version: '4.9.0', image: 0xff },
      ]),
    ).to.deep.equal(['4.1.0', '3.0.0']);
  });

  it("never takes a protected release's image: the delta and the new image would give it back to devices outside its audience", () => {
    expect(
      basesFor([
        { version: '4.0.0', image: 4, rollout: { protected: true, groups: ['lab'] } },
        { version: '3.0.0', image: 3 },
      ]),
    ).to.deep.equal(['3.0.0']);
  });

  it('never takes an image that any listed release carries as protected, under another name too', () => {
    const sameImageProtected = signed({ version: '3.9.0', image: 3, rollout: { protected: true } });
    expect(basesFor([{ version: '3.0.0', image: 3 }], { offered: [sameImageProtected.offered!] })).to.deep.equal([]);
  });

  it('takes no image whose audience cannot be told: no rollout entry, or one a device could not read', () => {
    expect(basesFor([{ version: '4.0.0', image: 4, rollout: null }])).to.deep.equal([]);
    expect(basesFor([{ version: '4.0.0', image: 4, rollout: { percent: 'all' } }])).to.deep.equal([]);
  });

  it('takes no delta entry and no entry a device would refuse', () => {
    const delta = new TargetFile({
      path: 'stable/4.0.0/fw.bin.from-0303030303030303.delta',
      length: 10,
      hashes: { sha256: sha(9) },
      unrecognizedFields: {
        custom: {
          [DELTA_FIELD]: {
            format: DELTA_FORMAT,
            base: { sha256: sha(3), length: 1000 },
            target: { name: 'stable/4.0.0/fw.bin', sha256: sha(4), length: 1000 },
          },
        } as never,
      },
    });
    const malformed = new TargetFile({
      path: 'stable/4.5.0/fw.bin',
      length: 1000,
      hashes: { sha256: sha(10) },
      unrecognizedFields: { custom: { version: '4.5.0', channel: 'stable' } as never },
    });
    expect(basesFor([], { released: [delta, malformed], offered: [delta, malformed] })).to.deep.equal([]);
  });
});
