import { InputError } from '../common/errors';

/** Command-line argument rules every `ota` command shares. */
export function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new InputError(`${name} is required (ota --help)`);
  return value;
}

/** `--tag key=value` (repeated) as a map. */
export function parseTags(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((p) => {
      const i = p.indexOf('=');
      if (i < 1) throw new InputError(`${p}: give key=value`);
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
}
