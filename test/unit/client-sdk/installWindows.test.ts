import { type InstallWindow, installWindowsProblem, readRolloutState, windowVerdict } from '@enigm-ota/client-sdk';
import { TargetFile } from '@tufjs/models';
import { expect } from 'chai';

const at = (iso: string) => ({ now: new Date(iso) });
const open = (windows: InstallWindow[], iso: string, groups?: string[]) =>
  windowVerdict(windows, { ...at(iso), ...(groups ? { groups } : {}) }).open;
/** Every minute from `fromIso` (inclusive) to `toIso` (exclusive) at which the windows are open. */
function openMinutes(windows: InstallWindow[], fromIso: string, toIso: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(fromIso); t < Date.parse(toIso); t += 60_000)
    if (windowVerdict(windows, { now: new Date(t) }).open) out.push(new Date(t).toISOString().slice(11, 16));
  return out;
}

describe('install windows', () => {
  describe('a window in UTC', () => {
    const w: InstallWindow[] = [{ days: ['mon'], start: '02:00', minutes: 120, timeZone: 'UTC' }];
    // 2027-03-01 is a Monday.
    it('is open from its start, for its minutes, and closed either side', () => {
      expect(open(w, '2027-03-01T01:59:59Z')).to.equal(false);
      expect(open(w, '2027-03-01T02:00:00Z')).to.equal(true);
      expect(open(w, '2027-03-01T03:59:59Z')).to.equal(true);
      expect(open(w, '2027-03-01T04:00:00Z')).to.equal(false);
      expect(open(w, '2027-03-02T02:30:00Z'), 'a Tuesday').to.equal(false);
    });
    it('says when it opens next (exactly, without a daylight-saving change)', () => {
      expect(windowVerdict(w, at('2027-03-01T04:00:00Z'))).to.deep.equal({
        open: false,
        opensInMs: (7 * 24 - 2) * 3_600_000,
      });
      expect(windowVerdict(w, at('2027-02-28T23:30:00Z'))).to.deep.equal({ open: false, opensInMs: 150 * 60_000 });
    });
  });

  describe('a window that crosses midnight', () => {
    const w: InstallWindow[] = [{ days: ['fri'], start: '22:00', minutes: 240, timeZone: 'UTC' }];
    it('stays open into the next day and closes there', () => {
      // 2027-03-05 is a Friday.
      expect(open(w, '2027-03-05T21:59:00Z')).to.equal(false);
      expect(open(w, '2027-03-05T23:59:00Z')).to.equal(true);
      expect(open(w, '2027-03-06T01:59:00Z')).to.equal(true);
      expect(open(w, '2027-03-06T02:00:00Z')).to.equal(false);
    });
  });

  describe('a window that crosses the end of the week', () => {
    const w: InstallWindow[] = [{ days: ['sun'], start: '23:00', minutes: 120, timeZone: 'UTC' }];
    it('is open on Monday morning and was not open a week earlier on Monday', () => {
      expect(open(w, '2027-03-08T00:30:00Z'), 'Monday 00:30').to.equal(true);
      expect(open(w, '2027-03-08T01:00:00Z')).to.equal(false);
      expect(open(w, '2027-03-07T22:59:00Z'), 'Sunday 22:59').to.equal(false);
    });
  });

  describe('a window in a named zone', () => {
    it('follows that zone, whatever day it is in UTC', () => {
      const w: InstallWindow[] = [{ days: ['mon'], start: '20:00', minutes: 60, timeZone: 'America/New_York' }];
      // Tuesday 01:30 UTC is Monday 20:30 in New York (EST, UTC-5).
      expect(open(w, '2027-01-05T01:30:00Z')).to.equal(true);
      expect(open(w, '2027-01-04T20:30:00Z'), 'Monday 20:30 UTC is 15:30 there').to.equal(false);
    });

    describe('on the day the clocks go forward (Europe/Berlin, 2027-03-28, 02:00 -> 03:00)', () => {
      it('opens once the wall clock reads inside it: 02:00-03:30 is open 03:00-03:30 local, half an hour', () => {
        const w: InstallWindow[] = [{ days: ['sun'], start: '02:00', minutes: 90, timeZone: 'Europe/Berlin' }];
        // 01:00Z is 03:00 CEST; 01:30Z is 03:30 CEST.
        expect(openMinutes(w, '2027-03-27T22:00:00Z', '2027-03-28T04:00:00Z')).to.deep.equal(
          Array.from({ length: 30 }, (_, i) => `01:${String(i).padStart(2, '0')}`),
        );
      });
      it('does not open at all that day when it lies wholly in the skipped hour', () => {
        const w: InstallWindow[] = [{ days: ['sun'], start: '02:15', minutes: 30, timeZone: 'Europe/Berlin' }];
        expect(openMinutes(w, '2027-03-27T22:00:00Z', '2027-03-28T22:00:00Z')).to.deep.equal([]);
        expect(open(w, '2027-04-04T00:20:00Z'), 'a week later, 02:20 CEST').to.equal(true);
      });
    });

    describe('on the day the clocks go back (Europe/Berlin, 2027-10-31, 03:00 -> 02:00)', () => {
      it('is open through both passes of the repeated hour: two real hours', () => {
        const w: InstallWindow[] = [{ days: ['sun'], start: '02:00', minutes: 60, timeZone: 'Europe/Berlin' }];
        const minutes = openMinutes(w, '2027-10-30T22:00:00Z', '2027-10-31T04:00:00Z');
        // 00:00Z-00:59Z is 02:xx CEST, 01:00Z-01:59Z is 02:xx CET.
        expect(minutes).to.have.length(120);
        expect([minutes[0], minutes[119]]).to.deep.equal(['00:00', '01:59']);
      });
    });
  });

  describe('windows for target groups', () => {
    const w: InstallWindow[] = [{ days: ['sat'], start: '00:00', minutes: 60, timeZone: 'UTC', groups: ['factory'] }];
    it('bind only the devices in one of their groups', () => {
      expect(open(w, '2027-03-01T12:00:00Z', ['factory', 'berlin'])).to.equal(false);
      expect(open(w, '2027-03-06T00:30:00Z', ['factory'])).to.equal(true);
      expect(open(w, '2027-03-01T12:00:00Z', ['lab']), 'no window applies: no restriction').to.equal(true);
      expect(open(w, '2027-03-01T12:00:00Z'), 'a device without groups').to.equal(true);
    });
    it('open when any window that applies is open', () => {
      const both: InstallWindow[] = [...w, { days: ['mon'], start: '12:00', minutes: 60, timeZone: 'UTC' }];
      expect(open(both, '2027-03-01T12:30:00Z', ['factory'])).to.equal(true);
      expect(open(both, '2027-03-01T13:30:00Z', ['factory'])).to.equal(false);
    });
  });

  it('lets a device install at any time when a release has no windows', () => {
    expect(windowVerdict(undefined, at('2027-03-01T12:00:00Z'))).to.deep.equal({ open: true });
  });

  it('judges every zone the engine knows, past the formatter cache', () => {
    const zones = Intl.supportedValuesOf('timeZone');
    expect(zones.length).to.be.greaterThan(256);
    for (const timeZone of zones) {
      const w: InstallWindow[] = [{ days: ['mon'], start: '00:00', minutes: 10_080, timeZone }];
      expect(open(w, '2027-03-01T12:00:00Z'), timeZone).to.equal(true);
    }
  });

  it('keeps every window closed for a clock that cannot be read', () => {
    const w: InstallWindow[] = [
      {
        days: [...(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const)],
        start: '00:00',
        minutes: 10_080,
        timeZone: 'UTC',
      },
    ];
    expect(open(w, 'not a date')).to.equal(false);
    expect(open(w, '2027-03-01T12:00:00Z'), 'a week-long window on every day').to.equal(true);
  });

  describe('their shape', () => {
    const good: InstallWindow = { days: ['mon', 'sun'], start: '23:30', minutes: 90, timeZone: 'Asia/Kolkata' };
    const problem = (change: Record<string, unknown>) => installWindowsProblem([{ ...good, ...change }]);
    it('accepts UTC and IANA zones', () => {
      expect(installWindowsProblem([good, { ...good, timeZone: 'UTC', groups: ['a', 'b'] }])).to.equal(undefined);
    });
    it('refuses unknown zones, malformed times, days, lengths and groups', () => {
      expect(problem({ timeZone: 'Mars/Olympus_Mons' })).to.match(/not a known time zone/);
      expect(problem({ timeZone: '+01:00' })).to.match(/not a known time zone/);
      expect(problem({ timeZone: 'x'.repeat(65) })).to.match(/not a known time zone/);
      for (const start of ['24:00', '2:00', '02:60', '0200', ' 02:00'])
        expect(problem({ start }), start).to.match(/start/);
      for (const minutes of [0, 10_081, 1.5, '60']) expect(problem({ minutes }), String(minutes)).to.match(/minutes/);
      for (const days of [[], ['monday'], ['mon', 'mon'], 'mon']) expect(problem({ days })).to.match(/days/);
      for (const groups of [[], ['bad name'], ['a', 'a']]) expect(problem({ groups })).to.match(/groups/);
      expect(problem({ end: '04:00' })).to.match(/unknown field/);
      for (const w of [null, [], 'mon 02:00'])
        expect(installWindowsProblem([w]), JSON.stringify(w)).to.match(/must be an object/);
    });
    it('refuses more than 16 windows, and none', () => {
      expect(installWindowsProblem(Array.from({ length: 17 }, () => good))).to.match(/1 to 16/);
      expect(installWindowsProblem(Array.from({ length: 16 }, () => good))).to.equal(undefined);
      expect(installWindowsProblem([])).to.match(/1 to 16/);
    });
    it('a signed rollout entry with malformed windows is METADATA_INVALID on the device', () => {
      const entry = (windows: unknown) =>
        new TargetFile({
          path: 'c/1.0.0/fw.bin',
          length: 1,
          hashes: { sha256: 'a'.repeat(64) },
          unrecognizedFields: {
            custom: { rollout: { percent: 100, salt: 's', paused: false, withdrawn: false, windows } } as never,
          },
        });
      expect(readRolloutState(entry([good])).windows).to.deep.equal([good]);
      expect(() => readRolloutState(entry([{ ...good, timeZone: 'Nowhere/City' }])))
        .to.throw()
        .with.property('code', 'METADATA_INVALID');
    });
  });
});
