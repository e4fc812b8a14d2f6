import { expect } from 'chai';

import { findUnstorable } from '../../../api/untrusted';
import { unstorableIn } from '../../../common/validation';

describe('unstorableIn (S-18)', () => {
  it('names NUL and lone surrogates; passes other text, control characters and whole pairs', () => {
    expect(unstorableIn('a\u0000b')).to.equal('U+0000 (NUL)');
    expect(unstorableIn('a\uD800b')).to.equal('a lone UTF-16 surrogate');
    expect(unstorableIn('a\uDC00')).to.equal('a lone UTF-16 surrogate');
    expect(unstorableIn('\uDC00\uD800')).to.equal('a lone UTF-16 surrogate');
    for (const fine of ['', 'plain', 'tab\tnew\nline\u001b', '\u{1F600} emoji', 'ünïcödé'])
      expect(unstorableIn(fine), fine).to.equal(undefined);
  });
});

describe('findUnstorable', () => {
  it('finds a bad string anywhere in a body and says where', () => {
    expect(findUnstorable({ a: 'ok', b: { c: ['x', 'y\u0000'] } }, 'body')).to.deep.equal({
      field: 'body.b.c[1]',
      what: 'U+0000 (NUL)',
    });
    expect(findUnstorable({ tags: { 'k\u0000': 'v' } }, 'body')).to.deep.equal({
      field: 'a key in body.tags',
      what: 'U+0000 (NUL)',
    });
    expect(findUnstorable('\uD800', 'path segment 4')).to.deep.equal({
      field: 'path segment 4',
      what: 'a lone UTF-16 surrogate',
    });
  });

  it('finds repeated query values (arrays) and passes numbers, booleans, null and undefined', () => {
    expect(findUnstorable({ prefix: ['a', 'b\u0000'] }, 'query')).to.deep.equal({
      field: 'query.prefix[1]',
      what: 'U+0000 (NUL)',
    });
    expect(findUnstorable({ n: 1, t: true, z: null, u: undefined, s: 'fine' }, 'body')).to.equal(undefined);
    expect(findUnstorable(undefined, 'body')).to.equal(undefined);
  });

  it('refuses nesting deeper than any request takes, without walking it', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(findUnstorable(deep, 'body')?.what).to.match(/^nesting deeper than/);
    expect(findUnstorable([[[['fine']]]], 'body')).to.equal(undefined);
  });
});
