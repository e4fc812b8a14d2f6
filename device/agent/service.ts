import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { readCappedIfPresent } from '@enigm-ota/client-sdk';

import type { AgentConfig } from './config';
import { acquireLock, lockHolder } from './lock';
import { type AgentLog, createLog } from './log';
import { AgentProgram, type CycleRecord, LAST_CYCLE_FILE } from './program';
import { loadProvisioning } from './provisioning';
import { AGENT_VERSION } from './version';

/** An agent process holds the state directory already (exit code 1, nothing done). */
export class AlreadyRunning extends Error {}

/** `check-now` asks the running service for a cycle with this signal (SIGUSR1 is Node's debugger switch). */
const CYCLE_SIGNAL = 'SIGUSR2';

async function startProgram(config: AgentConfig, write: (line: string) => void, command: string) {
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const provisioned = await loadProvisioning(config);
  const log = createLog({
    level: config.log.level,
    write,
    secrets: provisioned.enrollmentToken ? [provisioned.enrollmentToken] : [],
  });
  const program = new AgentProgram(config, { provisioned, log });
  const lock = await acquireLock(config.stateDir, command);
  if ('heldBy' in lock)
    throw new AlreadyRunning(`${lock.heldBy.command} runs on ${config.stateDir} already (pid ${lock.heldBy.pid})`);
  return { program, log, lock };
}

/**
 * The service: cycles until SIGTERM (or SIGINT). A stop with no install under way exits at
 * once; during an install the cycle ends first, so the process never stops between the
 * new version running and it being recorded (systemd's TimeoutStopSec bounds the wait).
 */
export async function runService(config: AgentConfig): Promise<number> {
  const { program, log, lock } = await startProgram(config, (l) => process.stdout.write(l), 'run');
  const stopped = async () => {
    await lock.release();
    log.info('stopped');
  };
  const onStop = (signal: string) => {
    const when = program.stop();
    log.info('stopping', { signal, when });
    if (when === 'now') void stopped().finally(() => process.exit(0));
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on(CYCLE_SIGNAL, () => {
    log.info('cycle-requested');
    program.requestCycle();
  });
  logStart(log, config);
  await program.run();
  await stopped();
  return 0;
}

function logStart(log: AgentLog, config: AgentConfig): void {
  log.info('started', {
    version: AGENT_VERSION,
    deviceId: config.deviceId,
    hardwareId: config.hardwareId,
    channel: config.channel,
    installer: config.installer.backend,
    stateDir: config.stateDir,
    pollIntervalSec: config.poll.intervalSec,
    pid: process.pid,
  });
}

/**
 * One cycle now. With the service running, it is asked for the cycle (one process acts on
 * the state directory) and its record is awaited; otherwise this process runs it, logging on stderr.
 */
export async function checkNow(config: AgentConfig, { timeoutSec }: { timeoutSec: number }): Promise<CycleRecord> {
  const holder = await lockHolder(config.stateDir);
  if (holder?.command === 'run') {
    const asked = Date.now();
    process.kill(holder.pid, CYCLE_SIGNAL);
    return awaitCycle(config.stateDir, { after: asked, timeoutMs: timeoutSec * 1000 });
  }
  const { program, lock } = await startProgram(config, (l) => process.stderr.write(l), 'check-now');
  try {
    const { error: _error, ...record } = await program.cycle();
    return record;
  } finally {
    await lock.release();
  }
}

/** The service's record of the first cycle that started after `after` (the request). */
async function awaitCycle(stateDir: string, { after, timeoutMs }: { after: number; timeoutMs: number }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await readRecord(stateDir);
    if (record && Date.parse(record.startedAt) >= after) return record;
    if (Date.now() > deadline)
      throw new Error(`the running service did not finish a cycle within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function readRecord(stateDir: string): Promise<CycleRecord | undefined> {
  try {
    const text = await readCappedIfPresent(join(stateDir, LAST_CYCLE_FILE), 64 * 1024);
    return text ? (JSON.parse(text.toString('utf8')) as CycleRecord) : undefined;
  } catch {
    return undefined;
  }
}
