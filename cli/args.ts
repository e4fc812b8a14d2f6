import { InputError } from '../common/errors';
import type { AdminApiClient } from '../infra/adminApiClient';
import type { Output } from './output';

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

/** One `ota` command line, parsed: its subcommand, positional arguments and flags, and where it answers. */
export interface Invocation<F> {
  command: string | undefined;
  args: string[];
  flags: F;
  out: Output;
}

/** A numeric flag (digits, an optional fraction), `fallback` when absent; INVALID_INPUT when `ok` refuses it. */
export function numberFlag(
  text: string | undefined,
  rule: { name: string; fallback: number; ok: (n: number) => boolean },
): number {
  if (text === undefined) return rule.fallback;
  const n = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!rule.ok(n)) throw new InputError(`${rule.name} ${JSON.stringify(text.slice(0, 20))} is out of range`);
  return n;
}

/** The flags given, as a query string (absent ones left out). */
export function queryString(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return q.toString();
}

/** One `ota` command group that talks to the admin API. */
export type ApiCommand<F> = (api: AdminApiClient, call: Invocation<F>) => Promise<number>;

/**
 * The group `group` as one command that runs the subcommand `table` names. Only the table's own
 * names count: `ota device toString` is an unknown command, not a method every object has.
 */
export function subcommands<F>(group: string, table: Record<string, ApiCommand<F>>): ApiCommand<F> {
  return (api, call) => {
    const { command } = call;
    const run = command !== undefined && Object.hasOwn(table, command) ? table[command] : undefined;
    if (!run) return Promise.reject(new InputError(`unknown ${group} command: ${command ?? ''} (ota --help)`));
    return run(api, call);
  };
}
