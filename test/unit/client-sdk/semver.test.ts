import { compareSemver, isSemver } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

describe('semver', () => {
  describe('compareSemver', () => {
    // SemVer 2.0 section 11's example chain, plus minor and major steps.
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.10.0',
      '2.0.0',
    ];

    it('orders versions by SemVer 2.0 precedence, in both directions', () => {
      for (let i = 1; i < ordered.length; i++) {
        const [lower, higher] = [ordered[i - 1]!, ordered[i]!];
        expect(compareSemver(lower, higher), `${lower} < ${higher}`).to.equal(-1);
        expect(compareSemver(higher, lower), `${higher} > ${lower}`).to.equal(1);
      }
    });

    it('ranks a higher major above a higher minor, and a higher minor above a higher patch', () => {
      expect(compareSemver('2.0.0', '1.99.99')).to.equal(1);
      expect(compareSemver('1.2.0', '1.1.99')).to.equal(1);
      expect(compareSemver('1.1.2', '1.1.10')).to.equal(-1);
    });

    it('finds a version equal to itself and ignores build metadata, with or without a pre-release', () => {
      for (const v of ordered) expect(compareSemver(v, v), v).to.equal(0);
      expect(compareSemver('1.0.0+build.1', '1.0.0+build.2')).to.equal(0);
      expect(compareSemver('1.0.0-rc.1+build.1', '1.0.0-rc.1+build.2')).to.equal(0);
    });

    it('throws on anything that is not a version, on either side', () => {
      expect(() => compareSemver('x', '1.0.0')).to.throw(TypeError);
      expect(() => compareSemver('1.0.0', 'v1.0.0')).to.throw(TypeError);
    });
  });

  describe('isSemver', () => {
    it('accepts strict versions with pre-release and build parts', () => {
      for (const v of [
        '0.0.0',
        '1.2.3',
        '1.0.0-alpha.1',
        '1.0.0-0.3.7',
        '1.0.0-x-y-z.--',
        '1.0.0-rc.1+build.5',
        '1.0.0+20130313144700',
      ]) {
        expect(isSemver(v), v).to.equal(true);
      }
    });

    it('rejects what is not a version', () => {
      for (const v of ['v1.0.0', '1.0', '01.0.0', '1.0.0-', '1.0.0-01', '1.0.0+', '', '1.0.0 '])
        expect(isSemver(v), v).to.equal(false);
    });

    it('rejects a valid version longer than 64 characters', () => {
      const at64 = `1.0.0-${'a'.repeat(58)}`;
      expect(at64).to.have.length(64);
      expect(isSemver(at64)).to.equal(true);
      expect(isSemver(`${at64}a`)).to.equal(false);
    });
  });
});
