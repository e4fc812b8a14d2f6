import { exitCodeOf, parseCli, USAGE, UsageError } from './cli';
import { ConfigError, readAgentConfig } from './config';
import { AlreadyRunning, checkNow, runService } from './service';
import { agentStatus, describeStatus } from './status';
import { AGENT_VERSION } from './version';

/** `enigm-ota-agent`: exit 2 for bad usage or configuration (nothing started), 1 for other failures. */
async function main(args: string[]): Promise<number> {
  const command = parseCli(args);
  if (command.name === 'version') return print(`${AGENT_VERSION}\n`);
  if (command.name === 'help') return print(USAGE);
  const config = await readAgentConfig(command.config);
  if (command.name === 'run') return runService(config);
  if (command.name === 'status') {
    const status = await agentStatus(config);
    return print(command.json ? `${JSON.stringify(status, null, 2)}\n` : describeStatus(status));
  }
  const record = await checkNow(config, { timeoutSec: command.timeoutSec });
  const line = `${record.status}${record.version ? ` ${record.version}` : ''}${record.code ? ` ${record.code}` : ''}${record.message ? `: ${record.message}` : ''}\n`;
  print(command.json ? `${JSON.stringify(record)}\n` : line);
  return exitCodeOf(record.status);
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

function failure(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`enigm-ota-agent: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`enigm-ota-agent: configuration refused:\n${err.problems.map((p) => `  ${p}\n`).join('')}`);
    return 2;
  }
  const message = err instanceof AlreadyRunning ? err.message : String((err as Error).stack ?? err);
  process.stderr.write(`enigm-ota-agent: ${message}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = failure(err);
  },
);
