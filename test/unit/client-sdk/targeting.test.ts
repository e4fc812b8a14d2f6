import { isGroupList, isTagMap, isTagValue, isTargetingName, targetingLimits } from '@enigm-ota/client-sdk/targeting';
import { expect } from 'chai';

describe("targeting rules (shared by the SDK readers and the server's spec validation)", () => {
  it('takes names of 1 to 64 letters, digits, dots, underscores, colons and dashes, starting with a letter or digit', () => {
    for (const name of ['a', 'Lab-2', 'site:berlin', 'x.y_z', 'n'.repeat(targetingLimits.maxNameLength)]) {
      expect(isTargetingName(name), name).to.equal(true);
    }
    for (const name of ['', '-lab', '_x', 'the lab', 'ä', 'n'.repeat(65), 7, null, undefined]) {
      expect(isTargetingName(name), String(name)).to.equal(false);
    }
  });

  it('takes tag values of up to 128 characters without control characters, the empty one included', () => {
    for (const value of ['', 'eu-west', 'Berlin Mitte', 'ü', 'v'.repeat(targetingLimits.maxTagValueLength)]) {
      expect(isTagValue(value), value).to.equal(true);
    }
    for (const value of ['v'.repeat(129), 'a\nb', 'a\u0000', 'a\u007f', 1, true, null]) {
      expect(isTagValue(value), String(value)).to.equal(false);
    }
  });

  it('takes 1 to 32 distinct group names and nothing else', () => {
    expect(isGroupList(['lab'])).to.equal(true);
    expect(isGroupList(Array.from({ length: 32 }, (_, i) => `g${i}`))).to.equal(true);
    for (const value of [
      [],
      Array.from({ length: 33 }, (_, i) => `g${i}`),
      ['lab', 'lab'],
      ['lab', ''],
      'lab',
      { 0: 'lab', length: 1 },
      null,
    ]) {
      expect(isGroupList(value), JSON.stringify(value)).to.equal(false);
    }
  });

  it('takes a plain object of at most 32 valid tags, the empty one included', () => {
    expect(isTagMap({})).to.equal(true);
    expect(isTagMap({ region: 'eu', tier: 'gold' })).to.equal(true);
    expect(isTagMap(Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v'])))).to.equal(true);
    for (const value of [
      Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])),
      { region: 1 },
      { 'bad key': 'v' },
      JSON.parse('{"__proto__":"v"}'),
      [['region', 'eu']],
      null,
      'region=eu',
    ]) {
      expect(isTagMap(value), JSON.stringify(value)).to.equal(false);
    }
  });
});
