import { DEFAULT_CONFIG_FILE } from './config';

export type AgentCommand =
  | { name: 'run' | 'status' | 'check-now'; config: string; json: boolean; timeoutSec: number }
  | { name: 'version' }
  | { name: 'help' };

/** A command line the agent does not understand (exit code 2, like a bad configuration). */
export class UsageError extends Error {}

/** How long `check-now` waits for the running service's cycle by default (a whole install may take this long). */
const DEFAULT_WAIT_SEC = 1800;

export const USAGE = `Usage: enigm-ota-agent [command] [options]

Commands:
  run          the update service (default): a cycle every poll interval until SIGTERM
  status       what runs, the stored state, a pending install and the last cycle
  check-now    one cycle now (through the running service if there is one), then exit

Options:
  --config FILE    the configuration file (default ${DEFAULT_CONFIG_FILE})
  --json           status, check-now: one JSON document on stdout
  --timeout SEC    check-now: how long to wait for the running service's cycle (default ${DEFAULT_WAIT_SEC})
  --version        print the agent's version
  --help           print this help

Exit codes of check-now: 0 up to date, 3 installed, 4 refused, 5 waiting (window, readiness, network), 6 installed and rebooting into it, 1 error; 2 (any command): bad usage or configuration.
`;

const COMMANDS = ['run', 'status', 'check-now'] as const;

/** The command line (without node and the script): at most one command, options anywhere. */
export function parseCli(args: readonly string[]): AgentCommand {
  let name: (typeof COMMANDS)[number] | undefined;
  let config = DEFAULT_CONFIG_FILE;
  let json = false;
  let timeoutSec = DEFAULT_WAIT_SEC;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--version' || arg === '-V') return { name: 'version' };
    if (arg === '--help' || arg === '-h') return { name: 'help' };
    if (arg === '--json') json = true;
    else if (arg === '--config' || arg === '--timeout') {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      if (arg === '--config') config = value;
      else timeoutSec = seconds(value);
    } else if ((COMMANDS as readonly string[]).includes(arg) && !name) name = arg as (typeof COMMANDS)[number];
    else throw new UsageError(arg.startsWith('-') ? `unknown option ${arg}` : `unknown command ${arg}`);
  }
  return { name: name ?? 'run', config, json, timeoutSec };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d{1,6}$/.test(value) || n < 1)
    throw new UsageError('--timeout must be a whole number of seconds (1..999999)');
  return n;
}

/** check-now's exit code for a cycle's status. */
export function exitCodeOf(status: string): number {
  return { 'up-to-date': 0, installed: 3, refused: 4, waiting: 5, rebooting: 6 }[status] ?? 1;
}
