import { leafHash, rootOf, verifyConsistency, verifyInclusion } from '@enigm-ota/client-sdk/transparency';
import { expect } from 'chai';

import { mth, path, subproof } from './referenceLog';

/*
 * The iterative verifiers against RFC 6962 2.1's recursive definitions (referenceLog.ts):
 * every index, size and pair of sizes up to 33, and every proof with one hash changed, one
 * dropped or one added.
 */
const leaves = Array.from({ length: 33 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));

const tree = (n: number) => leaves.slice(0, n);

/** The proof with one hash changed, one dropped, one added: none may verify. */
function broken(proof: Buffer[]): Buffer[][] {
  const out: Buffer[][] = [[...proof, leaves[0]!]];
  proof.forEach((_, i) => {
    const changed = proof.map((h) => Buffer.from(h));
    changed[i]![0]! ^= 1;
    out.push(
      changed,
      proof.filter((__, j) => j !== i),
    );
  });
  return out;
}

describe('RFC 9162 Merkle proofs (client-sdk/transparency)', () => {
  it('the root of every size is the recursive MTH', () => {
    for (let n = 1; n <= leaves.length; n++) expect(rootOf(tree(n)).equals(mth(tree(n))), `size ${n}`).to.equal(true);
  });

  it('verifies every inclusion proof, and refuses it changed, at another index or size', () => {
    for (let n = 1; n <= leaves.length; n++) {
      const root = mth(tree(n));
      for (let m = 0; m < n; m++) {
        const proof = path(m, tree(n));
        expect(verifyInclusion({ index: m, size: n, hash: leaves[m]! }, proof, root), `${m} of ${n}`).to.equal(true);
        for (const bad of broken(proof))
          expect(verifyInclusion({ index: m, size: n, hash: leaves[m]! }, bad, root)).to.equal(false);
        if (n > 1) {
          expect(verifyInclusion({ index: (m + 1) % n, size: n, hash: leaves[m]! }, proof, root)).to.equal(false);
          expect(verifyInclusion({ index: m, size: n, hash: leaves[(m + 1) % n]! }, proof, root)).to.equal(false);
        }
      }
      expect(verifyInclusion({ index: n, size: n, hash: leaves[0]! }, [], root)).to.equal(false);
    }
  });

  it('verifies every consistency proof, and refuses it changed or between other trees', () => {
    for (let n = 1; n <= leaves.length; n++) {
      const second = { size: n, root: mth(tree(n)) };
      for (let m = 1; m <= n; m++) {
        const first = { size: m, root: mth(tree(m)) };
        const proof = m === n ? [] : subproof(m, tree(n), true);
        expect(verifyConsistency(first, second, proof), `${m} to ${n}`).to.equal(true);
        if (m < n) {
          for (const bad of broken(proof)) expect(verifyConsistency(first, second, bad)).to.equal(false);
          // A fork: the same sizes, but the first tree's last leaf differs.
          const forked = { size: m, root: mth([...tree(m - 1), leafHash(Buffer.from('forked'))]) };
          expect(verifyConsistency(forked, second, proof), `fork ${m} to ${n}`).to.equal(false);
          expect(verifyConsistency(second, first, proof)).to.equal(false);
        }
      }
    }
  });

  it('refuses sizes that are not whole positive numbers below 2^53', () => {
    const root = mth(tree(2));
    expect(verifyInclusion({ index: 0, size: 2 ** 53, hash: leaves[0]! }, [leaves[1]!], root)).to.equal(false);
    expect(verifyInclusion({ index: -1, size: 2, hash: leaves[0]! }, [leaves[1]!], root)).to.equal(false);
    expect(verifyConsistency({ size: 0, root }, { size: 2, root }, [])).to.equal(false);
    expect(verifyConsistency({ size: 1.5, root }, { size: 2, root }, [leaves[1]!])).to.equal(false);
  });
});
