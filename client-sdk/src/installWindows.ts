/**
 * Install windows: when a device may install a release, signed into its rollout entry by the
 * rollout key and judged on the device by its own clock (D-19). Free of Node APIs (only the
 * `Intl` every JavaScript engine has), so the server's workflow-safe validation (common/)
 * refuses a release spec with exactly the rules a device applies when it reads the signed
 * entry: a window the CLI accepts is never one a device cannot read.
 */

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * A recurring window: on each of `days`, from `start` (local wall-clock time in `timeZone`)
 * for `minutes` of local wall-clock time. A window may run past midnight and into the next
 * week. On a day a daylight-saving change skips or repeats an hour, the window follows the
 * wall clock: it is open while the local time reads inside it, so it is an hour shorter or
 * longer in real time, and a window wholly inside a skipped hour does not open that day.
 */
export interface InstallWindow {
  days: Weekday[];
  /** `HH:MM`, 24-hour. */
  start: string;
  /** 1 to 10,080 (a week). */
  minutes: number;
  /** `UTC` or an IANA zone name (`Europe/Berlin`) the device's `Intl` knows. */
  timeZone: string;
  /** Only for devices in one of these groups (1..32 names); absent: every device. */
  groups?: string[];
}

export const installWindowLimits = {
  maxWindows: 16,
  maxMinutes: 7 * 24 * 60,
  maxZoneLength: 64,
  maxGroups: 32,
} as const;

const START = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;
const ZONE = /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/;
const GROUP = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const MINUTES_PER_WEEK = 7 * 24 * 60;

/** Why `value` is not a list of install windows, or undefined when it is one. */
export function installWindowsProblem(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > installWindowLimits.maxWindows)
    return `give 1 to ${installWindowLimits.maxWindows} install windows`;
  for (const [i, w] of value.entries()) {
    const problem = windowProblem(w);
    if (problem) return `install window ${i + 1}: ${problem}`;
  }
  return undefined;
}

function windowProblem(w: unknown): string | undefined {
  if (typeof w !== 'object' || w === null || Array.isArray(w)) return 'must be an object';
  const keys = Object.keys(w);
  const known = ['days', 'start', 'minutes', 'timeZone', 'groups'];
  const extra = keys.find((k) => !known.includes(k));
  if (extra !== undefined) return `unknown field ${JSON.stringify(extra.slice(0, 40))}`;
  const { days, start, minutes, timeZone, groups } = w as Record<string, unknown>;
  if (
    !Array.isArray(days) ||
    days.length === 0 ||
    !days.every((d) => WEEKDAYS.includes(d as Weekday)) ||
    new Set(days).size !== days.length
  )
    return `days: 1 to 7 distinct of ${WEEKDAYS.join(', ')}`;
  if (typeof start !== 'string' || !START.test(start)) return 'start: a time HH:MM (00:00 to 23:59)';
  if (!Number.isSafeInteger(minutes) || (minutes as number) < 1 || (minutes as number) > installWindowLimits.maxMinutes)
    return `minutes: a whole number 1..${installWindowLimits.maxMinutes}`;
  if (!isTimeZone(timeZone))
    return `timeZone: ${JSON.stringify(String(timeZone).slice(0, 64))} is not a known time zone`;
  if (
    groups !== undefined &&
    !(
      Array.isArray(groups) &&
      groups.length > 0 &&
      groups.length <= installWindowLimits.maxGroups &&
      groups.every((g) => typeof g === 'string' && GROUP.test(g)) &&
      new Set(groups).size === groups.length
    )
  )
    return `groups: 1 to ${installWindowLimits.maxGroups} distinct group names`;
  return undefined;
}

/** `UTC` or a zone name this engine's time zone data knows (unknown ones throw RangeError in Intl). */
export function isTimeZone(value: unknown): value is string {
  if (typeof value !== 'string' || !ZONE.test(value)) return false;
  try {
    formatterFor(value);
    return true;
  } catch {
    return false;
  }
}

/** Whether the windows let a device install now, and when the next one opens if not. */
export type WindowVerdict = { open: true } | { open: false; opensInMs: number };

/**
 * The windows that apply to a device (those without groups, and those naming one of its
 * groups) decide; when none applies the release has no window for this device. A clock the
 * engine cannot read (an invalid Date) keeps every window closed.
 */
export function windowVerdict(
  windows: readonly InstallWindow[] | undefined,
  device: { now: Date; groups?: readonly string[] },
): WindowVerdict {
  const applying = (windows ?? []).filter((w) => !w.groups || w.groups.some((g) => device.groups?.includes(g)));
  if (applying.length === 0) return { open: true };
  const t = device.now.getTime();
  if (!Number.isFinite(t)) return { open: false, opensInMs: 60_000 };
  let untilNext = Infinity;
  for (const w of applying) {
    const now = localMinuteOfWeek(device.now, w.timeZone);
    for (const day of w.days) {
      const startsAt = WEEKDAYS.indexOf(day) * 1440 + startMinute(w.start);
      const sinceStart = mod(now - startsAt, MINUTES_PER_WEEK);
      if (sinceStart < w.minutes) return { open: true };
      untilNext = Math.min(untilNext, MINUTES_PER_WEEK - sinceStart);
    }
  }
  // Wall-clock minutes: a daylight-saving change in between moves the real opening by up to
  // an hour, so this is a hint for when to look again, never the decision.
  const seconds = device.now.getUTCSeconds() * 1000 + device.now.getUTCMilliseconds();
  return { open: false, opensInMs: Math.max(1000, untilNext * 60_000 - seconds) };
}

/** `HH:MM` (checked by its pattern) in minutes since midnight. */
function startMinute(start: string): number {
  return Number(start.slice(0, 2)) * 60 + Number(start.slice(3, 5));
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/**
 * Minutes since Monday 00:00 on the local wall clock of `timeZone`; NaN if the engine's answer
 * lacks a part, so every comparison with it refuses (the window stays closed).
 */
function localMinuteOfWeek(now: Date, timeZone: string): number {
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timeZone).formatToParts(now)) parts[part.type] = part.value;
  const weekday = Number(WEEKDAY_INDEX[parts['weekday'] as keyof typeof WEEKDAY_INDEX]);
  return weekday * 1440 + (Number(parts['hour']) % 24) * 60 + Number(parts['minute']);
}

const WEEKDAY_INDEX = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 } as const;
/**
 * One formatter per zone name (creating one is costly). Names are checked before they get
 * here, but `Intl` takes any letter case, so the cache is emptied past 256 names.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    if (formatters.size >= 256) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}
