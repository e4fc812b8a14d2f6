import { expect } from 'chai';
import { compareSemver, isSemver } from '@enigm-ota/client-sdk';

describe('semver', () => {
  it('orders versions by SemVer 2.0 precedence', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.10.0', '2.0.0'];
    for (let i = 1; i < ordered.length; i++) expect(compareSemver(ordered[i - 1]!, ordered[i]!), `${ordered[i - 1]} < ${ordered[i]}`).to.equal(-1);
    expect(compareSemver('1.0.0+build.1', '1.0.0+build.2')).to.equal(0);
  });

  it('rejects what is not a version', () => {
    for (const v of ['v1.0.0', '1.0', '01.0.0', '1.0.0-', '', '1.0.0 ']) expect(isSemver(v), v).to.equal(false);
    expect(() => compareSemver('x', '1.0.0')).to.throw(TypeError);
  });
});
