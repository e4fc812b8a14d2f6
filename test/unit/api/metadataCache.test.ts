import { expect } from 'chai';

import { MetadataCache } from '../../../api/metadataCache';

/** The device metadata route's shared reads (api/metadataCache.ts), over a counting fake store. */
describe('MetadataCache', () => {
  function store(files: Record<string, string>) {
    const reads: string[] = [];
    const read = (key: string) => {
      reads.push(key);
      const found = files[key];
      return Promise.resolve(found === undefined ? undefined : Buffer.from(found));
    };
    return { reads, read };
  }
  const options = { hitMs: 60_000, missMs: 1_000, maxBytes: 8 * 1024 };

  it('reads a versioned file once for every device until it is hitMs old', async () => {
    const s = store({ 'p/a/7.targets.json': 'seven' });
    const cache = new MetadataCache(s.read, options);
    const asked = await Promise.all([1, 2, 3].map(() => cache.get('p/a/7.targets.json', 0)));
    expect(asked.map(String)).to.deep.equal(['seven', 'seven', 'seven']);
    expect(s.reads).to.have.length(1);
    await cache.get('p/a/7.targets.json', 59_999);
    expect(s.reads).to.have.length(1);
    await cache.get('p/a/7.targets.json', 60_000);
    expect(s.reads).to.have.length(2);
  });

  it('remembers an absent file only for missMs, so a new root is seen as soon as a rollout step is', async () => {
    const files: Record<string, string> = {};
    const s = store(files);
    const cache = new MetadataCache(s.read, options);
    expect(await cache.get('2.root.json', 0)).to.equal(undefined);
    files['2.root.json'] = 'root two';
    expect(await cache.get('2.root.json', 999)).to.equal(undefined);
    expect(String(await cache.get('2.root.json', 1_000))).to.equal('root two');
    expect(s.reads).to.have.length(2);
  });

  it('never keeps unversioned names or timestamp.json, nor anything when hitMs is 0', async () => {
    const s = store({ 'root.json': 'r', 'timestamp.json': 't', '1.snapshot.json': 's' });
    const cache = new MetadataCache(s.read, options);
    for (const key of ['root.json', 'root.json', 'timestamp.json', 'timestamp.json']) await cache.get(key, 0);
    expect(s.reads).to.have.length(4);
    const off = new MetadataCache(s.read, { ...options, hitMs: 0 });
    await off.get('1.snapshot.json', 0);
    await off.get('1.snapshot.json', 0);
    expect(s.reads).to.have.length(6);
  });

  it('holds at most maxBytes, dropping the oldest first, and never one file above an eighth of it', async () => {
    const files: Record<string, string> = { 'big/1.targets.json': 'x'.repeat(1025) };
    for (let v = 1; v <= 10; v++) files[`p/${v}.snapshot.json`] = 'y'.repeat(1000);
    const s = store(files);
    const cache = new MetadataCache(s.read, options);
    await cache.get('big/1.targets.json', 0);
    expect(cache.size.entries).to.equal(0);
    for (let v = 1; v <= 10; v++) await cache.get(`p/${v}.snapshot.json`, 0);
    expect(cache.size.bytes).to.be.at.most(8 * 1024);
    expect(cache.size.entries).to.equal(8);
    const before = s.reads.length;
    await cache.get('p/10.snapshot.json', 0);
    expect(s.reads.length).to.equal(before);
    await cache.get('p/1.snapshot.json', 0);
    expect(s.reads.length).to.equal(before + 1);
  });

  it('forgets a failed read, so the next device asks storage again', async () => {
    let fail = true;
    const cache = new MetadataCache(
      () => (fail ? Promise.reject(new Error('storage down')) : Promise.resolve(Buffer.from('ok'))),
      options,
    );
    await cache.get('3.root.json', 0).then(
      () => expect.fail('the failed read was served'),
      (err: Error) => expect(err.message).to.equal('storage down'),
    );
    fail = false;
    expect(String(await cache.get('3.root.json', 1))).to.equal('ok');
  });

  it('clear() makes every file read again', async () => {
    const s = store({ '4.root.json': 'four' });
    const cache = new MetadataCache(s.read, options);
    await cache.get('4.root.json', 0);
    cache.clear();
    await cache.get('4.root.json', 0);
    expect(s.reads).to.have.length(2);
    expect(cache.size.bytes).to.equal(4);
  });
});
