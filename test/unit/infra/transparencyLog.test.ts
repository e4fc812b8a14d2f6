import { expect } from 'chai';

import { entryBundlePath, parseBundle } from '../../../infra/transparencyLog';

/** An entry bundle as the log writes one: each entry's 2-byte length, then its bytes. */
const bundle = (...entries: string[]) =>
  Buffer.concat(
    entries.flatMap((e) => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(Buffer.byteLength(e));
      return [length, Buffer.from(e)];
    }),
  );

describe('transparency log client: tile paths and entry bundles (infra/transparencyLog.ts)', () => {
  it('names entry bundles as C2SP tlog-tiles does: x-prefixed groups of three digits, .p/ for partial', () => {
    expect(entryBundlePath(0, 256)).to.equal('tile/entries/000');
    expect(entryBundlePath(0, 5)).to.equal('tile/entries/000.p/5');
    expect(entryBundlePath(1234067, 256)).to.equal('tile/entries/x001/x234/067');
    expect(entryBundlePath(1000, 17)).to.equal('tile/entries/x001/000.p/17');
  });

  it('reads the entries of a bundle, and refuses a truncated or short one', () => {
    const three = bundle('a', '', 'ccc');
    expect(parseBundle(three, 3).map(String)).to.deep.equal(['a', '', 'ccc']);
    // A wider bundle than the size asked for (the log grew): only the first entries count.
    expect(parseBundle(three, 2).map(String)).to.deep.equal(['a', '']);
    expect(() => parseBundle(three.subarray(0, three.length - 1), 3)).to.throw(/malformed/);
    expect(() => parseBundle(bundle('a'), 2)).to.throw(/malformed/);
  });
});
