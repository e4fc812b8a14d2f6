import { join } from 'node:path';

import {
  type AgentStep,
  cycleDelayMs,
  DeviceAgent,
  type DeviceConfig,
  type InstallProgress,
  readDeviceState,
  type RetryPolicy,
  retryPolicy,
  type UpdateResult,
} from '@enigm-ota/client-sdk';

import { runCommand } from './commands';
import type { AgentConfig } from './config';
import { writeAtomically } from './files';
import { type BootCheck, installerFor } from './installers';
import type { AgentLog } from './log';
import type { Provisioned } from './provisioning';
import { waitPolicies } from './waitPolicies';

/** What one cycle ended with, as `status` and `check-now` show it (`<stateDir>/last-cycle.json`). */
export interface CycleRecord {
  startedAt: string;
  endedAt: string;
  status: UpdateResult['status'] | 'error';
  version?: string;
  target?: string;
  code?: string;
  message?: string;
}

export const LAST_CYCLE_FILE = 'last-cycle.json';

/** Settings only a simulator or a test gives; a device takes everything from its configuration file. */
export interface ProgramOverrides {
  boot?: BootCheck;
  now?: DeviceConfig['now'];
  attestation?: DeviceConfig['attestation'];
  retry?: DeviceConfig['retry'];
  limits?: DeviceConfig['limits'];
}

/**
 * Where the program is in a cycle. `installing` runs from the verified artifact (or a
 * pending install found at the start) to the end of the cycle: the image is being written,
 * booted, recorded and reported, and a stop request waits for it.
 */
type Phase = 'idle' | 'cycle' | 'installing';

/** Which quarter of which phase of which target the last progress line was at. */
interface ProgressMark {
  target: string;
  phase: InstallProgress['phase'];
  quarter: number;
}

/**
 * Whether a progress event gets a line, and the mark it leaves: a download's or a delta
 * rebuild's start, each quarter it crosses and its end; an install's start and end (it is
 * called only for those). Another phase, or a lower quarter than the last line's (a retry, or
 * a delta's own bytes), starts over.
 */
export function progressMark(last: ProgressMark | undefined, p: InstallProgress): ProgressMark | undefined {
  if (p.phase === 'install') return { target: p.target, phase: p.phase, quarter: -1 };
  const quarter = p.totalBytes > 0 ? Math.min(4, Math.floor((4 * p.doneBytes) / p.totalBytes)) : 4;
  if (last?.target === p.target && last.phase === p.phase && last.quarter === quarter) return undefined;
  return { target: p.target, phase: p.phase, quarter };
}

/**
 * The `enigm-ota-agent` program around the SDK's DeviceAgent: the configuration mapped onto
 * it, one cycle with its log line, record and hook, and the service's schedule. The
 * simulator drives devices through this same class.
 */
export class AgentProgram {
  readonly agent: DeviceAgent;
  private readonly retry: RetryPolicy;
  private phase: Phase = 'idle';
  private readonly stopping = new AbortController();
  private wakeUp: (() => void) | undefined;
  private cycleRequested = false;

  constructor(
    private readonly config: AgentConfig,
    private readonly options: { provisioned: Provisioned; log: AgentLog; overrides?: ProgramOverrides },
  ) {
    const o = options.overrides ?? {};
    this.retry = retryPolicy({
      pollIntervalMs: config.poll.intervalSec * 1000,
      pollJitter: config.poll.jitter,
      ...o.retry,
    });
    this.agent = new DeviceAgent({
      apiUrl: config.apiUrl,
      deviceId: config.deviceId,
      hardwareId: config.hardwareId,
      channel: config.channel,
      stateDir: config.stateDir,
      trustedRoots: options.provisioned.trustedRoots,
      fleetCaPem: options.provisioned.fleetCaPem,
      enrollmentToken: options.provisioned.enrollmentToken,
      ...(options.provisioned.transparencyLog && { transparencyLog: options.provisioned.transparencyLog }),
      installer: installerFor(config, { log: options.log, boot: o.boot }),
      initialState: { currentVersion: config.factory.version, rollbackIndex: config.factory.rollbackIndex },
      limits: {
        maxArtifactBytes: config.limits.maxArtifactBytes,
        maxApiResponseBytes: config.limits.maxApiResponseBytes,
        fetchTimeoutMs: config.limits.fetchTimeoutSec * 1000,
        healthWindowMs: config.health.deadlineSec * 1000,
        ...o.limits,
      },
      retry: this.retry,
      now: o.now,
      attestation: o.attestation,
      ...waitPolicies(config),
      step: (name) => this.onStep(name),
      progress: (p) => this.onProgress(p),
    });
  }

  /** One cycle: settle, poll, verify, install, report; then its log line, its record and its hook. Never throws. */
  async cycle(): Promise<CycleRecord & { error?: unknown; nextInMs?: number }> {
    const startedAt = new Date().toISOString();
    let record: CycleRecord & { error?: unknown; nextInMs?: number };
    this.phase = 'cycle';
    try {
      // A pending install is finished (recorded, reported) by this cycle's settle: no stop in between.
      if ((await readDeviceState(this.config.stateDir, { currentVersion: '0.0.0', rollbackIndex: 0 })).pending)
        this.phase = 'installing';
      const r = await this.agent.checkForUpdate();
      record = {
        startedAt,
        endedAt: new Date().toISOString(),
        ...resultFields(r),
        nextInMs: this.agent.nextPollInMs(r),
      };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      record = {
        startedAt,
        endedAt: new Date().toISOString(),
        status: 'error',
        code: typeof code === 'string' ? code : 'AGENT_ERROR',
        message: String((error as Error).message ?? error).slice(0, 500),
        error,
      };
    } finally {
      this.phase = 'idle';
    }
    await this.recordCycle(record);
    await this.runHook(record);
    return record;
  }

  /** The service's schedule until stopped: a cycle, then the jittered interval (or the backoff after failures). */
  async run(): Promise<void> {
    let failed = 0;
    while (!this.stopping.signal.aborted) {
      const r = await this.cycle();
      // The installer asked for a reboot: nothing more to do until it stops this process.
      if (r.status === 'rebooting') return this.options.log.info('awaiting-reboot', { version: r.version });
      // After an answer, the agent's own wait (sooner while not ready); after an error, the growing backoff.
      let nextInMs = r.nextInMs ?? cycleDelayMs({ policy: this.retry }, { error: r.error, failedBefore: failed++ });
      if (!r.error) failed = 0;
      if (this.cycleRequested) nextInMs = 0;
      this.cycleRequested = false;
      this.options.log.debug('next-cycle', { inSec: Math.round(nextInMs / 1000) });
      this.agent.rest();
      await this.sleep(nextInMs);
    }
  }

  /** `check-now` asked the service for a cycle: at once when it waits, right after the one under way otherwise. */
  requestCycle(): void {
    this.cycleRequested = true;
    this.wakeUp?.();
  }

  /**
   * A stop request (SIGTERM). `now`: nothing durable is under way, the process may exit at
   * once (a download resumes at the next start). `after-install`: an install is between its
   * verified artifact and its record; `run()` returns once the cycle has finished.
   */
  stop(): 'now' | 'after-install' {
    this.stopping.abort();
    this.wakeUp?.();
    return this.phase === 'installing' ? 'after-install' : 'now';
  }

  /** The last progress line written: a line per quarter of a download, not one per chunk. */
  private lastProgress: ProgressMark | undefined;

  private onProgress(p: InstallProgress): void {
    const mark = progressMark(this.lastProgress, p);
    if (!mark) return;
    this.lastProgress = mark;
    this.options.log.info('progress', {
      phase: p.phase,
      target: p.target,
      doneBytes: p.doneBytes,
      totalBytes: p.totalBytes,
    });
  }

  private onStep(name: AgentStep): void {
    if (name === 'artifact-verified') this.phase = 'installing';
    this.options.log.debug('step', { step: name });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping.signal.aborted || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => {
      this.wakeUp = undefined;
    });
  }

  private async recordCycle(record: CycleRecord & { error?: unknown; nextInMs?: number }): Promise<void> {
    const { error: _error, nextInMs: _next, ...fields } = record;
    const log = this.options.log;
    if (record.status === 'error') log.warn('cycle-failed', fields);
    else log.info('cycle', fields);
    try {
      await writeAtomically(join(this.config.stateDir, LAST_CYCLE_FILE), `${JSON.stringify(fields)}\n`);
    } catch (err) {
      log.warn('record-failed', { file: LAST_CYCLE_FILE, message: String(err) });
    }
  }

  /** The configured hook for this outcome, if any; what it does changes nothing here. */
  private async runHook(record: CycleRecord): Promise<void> {
    const { afterInstall, afterRefusal, timeoutSec } = this.config.hooks;
    const [hook, argv] =
      record.status === 'installed'
        ? ['afterInstall', afterInstall]
        : record.status === 'refused'
          ? ['afterRefusal', afterRefusal]
          : [undefined, undefined];
    if (!hook || !argv) return;
    const env: Record<string, string> = {
      ENIGM_OTA_VERSION: record.version ?? '',
      ENIGM_OTA_TARGET: record.target ?? '',
    };
    if (record.code) env['ENIGM_OTA_CODE'] = record.code;
    const r = await runCommand(argv, { timeoutMs: timeoutSec * 1000, env });
    const ok = r.exitCode === 0 && !r.timedOut;
    this.options.log[ok ? 'info' : 'warn']('hook', {
      hook,
      exitCode: r.exitCode,
      timedOut: r.timedOut,
      output: ok ? undefined : r.output,
    });
  }
}

function resultFields(r: UpdateResult): Omit<CycleRecord, 'startedAt' | 'endedAt'> {
  switch (r.status) {
    case 'up-to-date':
      return { status: r.status, version: r.version };
    case 'installed':
      return { status: r.status, version: r.version, target: r.target };
    case 'rebooting':
      return { status: r.status, version: r.version, target: r.target };
    case 'refused':
    case 'waiting':
      return { status: r.status, version: r.version, target: r.target, code: r.code, message: r.message.slice(0, 500) };
  }
}
