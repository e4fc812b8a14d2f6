import { type InstallWindow, type Weekday, WEEKDAYS } from '@enigm-ota/client-sdk/installWindows';

import { InputError } from './errors';
import { checkInstallWindows, parseDuration } from './validation';

/**
 * An install window as an operator types it (`ota release create --window`):
 * `DAYS HH:MM DURATION ZONE [group=G1,G2]`, e.g. `mon-fri 22:00 6h Europe/Berlin` or
 * `sat,sun 02:00 90m UTC group=factory`. DAYS is a list of days and ranges (`mon-fri`,
 * `fri-mon` wraps the week); DURATION whole minutes or more (`90m`, `2h`, `1d`).
 */
export function parseWindowText(text: string): InstallWindow {
  const words = text.trim().split(/\s+/);
  if (words.length < 4 || words.length > 5)
    throw new InputError(
      `install window ${JSON.stringify(text.slice(0, 80))}: write DAYS HH:MM DURATION ZONE [group=G,...] (like "mon-fri 22:00 6h Europe/Berlin")`,
    );
  const [days = '', start = '', duration = '', timeZone = '', group] = words;
  const ms = parseDuration(duration);
  if (ms % 60_000 !== 0) throw new InputError(`install window duration ${duration}: whole minutes`);
  let groups: string[] | undefined;
  if (group !== undefined) {
    if (!group.startsWith('group=')) throw new InputError(`install window: the fifth word is group=G,... (${group})`);
    groups = group.slice('group='.length).split(',');
  }
  const window: InstallWindow = {
    days: parseDays(days),
    start,
    minutes: ms / 60_000,
    timeZone,
    ...(groups && { groups }),
  };
  return checkInstallWindows([window])[0]!;
}

function parseDays(text: string): Weekday[] {
  const days: Weekday[] = [];
  for (const part of text.toLowerCase().split(',')) {
    const [from, to = from] = part.split('-');
    const a = WEEKDAYS.indexOf(from as Weekday);
    const b = WEEKDAYS.indexOf(to as Weekday);
    if (a < 0 || b < 0)
      throw new InputError(
        `install window days ${JSON.stringify(text)}: use ${WEEKDAYS.join(', ')} and ranges like mon-fri`,
      );
    for (let i = a; ; i = (i + 1) % 7) {
      if (!days.includes(WEEKDAYS[i]!)) days.push(WEEKDAYS[i]!);
      if (i === b) break;
    }
  }
  return days;
}
