import { expect } from 'chai';

import { parseWindowText } from '../../../common/installWindowText';
import { checkPolicy, DEFAULT_POLICY, planWindows } from '../../../common/rolloutPolicy';

describe('install windows as operators write them', () => {
  it('reads days, ranges, start, duration, zone and groups', () => {
    expect(parseWindowText('mon-fri 22:00 6h Europe/Berlin')).to.deep.equal({
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      start: '22:00',
      minutes: 360,
      timeZone: 'Europe/Berlin',
    });
    expect(parseWindowText(' sat,sun  02:00 90m UTC group=factory,lab ')).to.deep.equal({
      days: ['sat', 'sun'],
      start: '02:00',
      minutes: 90,
      timeZone: 'UTC',
      groups: ['factory', 'lab'],
    });
  });

  it('wraps a range over the end of the week', () => {
    expect(parseWindowText('fri-mon 01:00 1h UTC').days).to.deep.equal(['fri', 'sat', 'sun', 'mon']);
  });

  it('refuses what a device could not read, as INVALID_INPUT', () => {
    for (const text of [
      'mon 02:00 2h Mars/Olympus',
      'mon 24:00 2h UTC',
      'monday 02:00 2h UTC',
      'mon 02:00 30s UTC',
      'mon 02:00 8d UTC',
      'mon 02:00 2h',
      'mon 02:00 2h UTC groups=a',
      'mon 02:00 2h UTC group=bad/name',
      'mon 02:00 2h UTC group=a extra',
    ])
      expect(() => parseWindowText(text), text)
        .to.throw()
        .with.property('code', 'INVALID_INPUT');
  });
});

describe('install windows in a policy file', () => {
  const window = { days: ['sat' as const], start: '02:00', minutes: 120, timeZone: 'Europe/Berlin' };
  it("are a plan's releases' windows", () => {
    const policy = {
      ...DEFAULT_POLICY,
      plans: {
        ...DEFAULT_POLICY.plans,
        nightly: {
          steps: [{ percent: 100, bakeTime: '0s', minDevices: 0, maxFailureRate: 1, gate: 'auto' as const }],
          windows: [window],
        },
      },
    };
    expect(planWindows(checkPolicy(policy), 'nightly')).to.deep.equal([window]);
    expect(planWindows(policy, 'default')).to.equal(undefined);
  });
  it('refuse the whole file at start-up when one is malformed', () => {
    const policy = {
      ...DEFAULT_POLICY,
      plans: {
        ...DEFAULT_POLICY.plans,
        nightly: {
          steps: [{ percent: 100, bakeTime: '0s', minDevices: 0, maxFailureRate: 1, gate: 'auto' as const }],
          windows: [{ ...window, timeZone: 'Nowhere/Here' }],
        },
      },
    };
    expect(() => checkPolicy(policy))
      .to.throw(/time zone/)
      .with.property('code', 'INVALID_INPUT');
  });
});
