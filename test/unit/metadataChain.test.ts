import { expect } from 'chai';

import { chainProblems, type MetadataFile, type MetadataFiles } from '../metadataChain';

/** A repository in memory: targets versions with the given targets, snapshots naming a targets version. */
function repo(o: { targets: string[]; snapshots: number[]; timestampCovers: number; roots?: number[] }): MetadataFiles {
  const files = new Map<string, MetadataFile>();
  for (const v of o.roots ?? [1]) files.set(`${v}.root.json`, { signed: {} });
  o.targets.forEach((t, i) => files.set(`${i + 1}.targets.json`, { signed: { targets: { [t]: {} } } }));
  o.snapshots.forEach((tv, i) =>
    files.set(`${i + 1}.snapshot.json`, { signed: { meta: { 'targets.json': { version: tv } } } }),
  );
  files.set('timestamp.json', { signed: { meta: { 'snapshot.json': { version: o.timestampCovers } } } });
  return { names: [...files.keys()], read: (name) => Promise.resolve(files.get(name)!) };
}

describe("the fault suite's metadata chain check", () => {
  it('passes a chain with every version once and the newest published', async () => {
    expect(
      await chainProblems(repo({ targets: ['a', 'b', 'c'], snapshots: [1, 2, 3], timestampCovers: 3 })),
    ).to.deep.equal([]);
  });

  it("names a gap in a role's versions", async () => {
    const files = repo({ targets: ['a', 'b', 'c'], snapshots: [1, 3], timestampCovers: 2 });
    files.names = files.names.filter((n) => n !== '2.targets.json');
    expect(await chainProblems(files)).to.include('targets versions 1,3 are not 1..2');
  });

  it('names a step published twice (two consecutive targets alike)', async () => {
    expect(
      await chainProblems(repo({ targets: ['a', 'b', 'b'], snapshots: [1, 2, 3], timestampCovers: 3 })),
    ).to.deep.equal(['targets 3 repeats targets 2 (published twice)']);
    // A repeat from before the fault (a freshness re-signing) is not the fault's.
    expect(
      await chainProblems(repo({ targets: ['a', 'a', 'b'], snapshots: [1, 2, 3], timestampCovers: 3 }), 2),
    ).to.deep.equal([]);
    expect(
      await chainProblems(repo({ targets: ['a', 'b', 'b'], snapshots: [1, 2, 3], timestampCovers: 3 }), 2),
    ).to.have.length(1);
  });

  it('names a claimed version left unpublished', async () => {
    expect(
      await chainProblems(repo({ targets: ['a', 'b', 'c'], snapshots: [1, 2], timestampCovers: 2 })),
    ).to.deep.equal(['snapshot 2 covers targets 2, the newest is 3']);
    expect(await chainProblems(repo({ targets: ['a', 'b'], snapshots: [1, 2], timestampCovers: 1 }))).to.deep.equal([
      'timestamp covers snapshot 1, the newest is 2',
    ]);
  });
});
