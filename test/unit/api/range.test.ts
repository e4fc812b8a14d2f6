import { expect } from 'chai';

import { parseRange } from '../../../api/artifacts';

describe('parseRange', () => {
  it('reads closed, open and suffix ranges', () => {
    expect(parseRange('bytes=0-9', 100)).to.deep.equal({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).to.deep.equal({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).to.deep.equal({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).to.deep.equal({ start: 50, end: 99 });
  });

  it('marks ranges outside the object unsatisfiable and ignores what it cannot read', () => {
    expect(parseRange('bytes=100-', 100)).to.equal('unsatisfiable');
    expect(parseRange('bytes=9-3', 100)).to.equal('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).to.equal(undefined);
    expect(parseRange(undefined, 100)).to.equal(undefined);
  });
});
