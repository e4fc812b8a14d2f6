/**
 * Component versions as SBOMs give them (not all semver: "3.0.13", "1.1.1w", "2.36-9+deb12u4"):
 * compared piece by piece, digits as numbers and letters as text, so 3.0.9 < 3.0.13 and
 * 1.1.1v < 1.1.1w. Good enough to ask "below 3.0.14?"; a distribution's own ordering rules
 * (epochs, tildes) are not modelled.
 */
export function compareVersions(a: string, b: string): number {
  const pa = pieces(a);
  const pb = pieces(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x < y ? -1 : 1;
    } else if (typeof x === 'number' || typeof y === 'number') {
      return typeof x === 'number' ? 1 : -1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function pieces(v: string): Array<number | string> {
  return (v.match(/[0-9]+|[A-Za-z]+/g) ?? []).map((p) => (/^[0-9]/.test(p) ? Number(p) : p.toLowerCase()));
}
