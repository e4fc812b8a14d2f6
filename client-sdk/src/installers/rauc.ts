import { InstallError } from '../errors';
import type { Installer, RecoverContext, Recovery } from '../installer';
import type { VerifiedTarget } from '../metadata';
import { type CommandSpec, runCommand } from './command';
import { decideRecovery, type RaucStep, type RecoveryPlan } from './raucRecovery';
import { RaucStateFiles } from './raucState';
import { MAX_RAUC_STATUS_BYTES, parseRaucStatus, type RaucStatus } from './raucStatus';

/** The health checks a new image must pass after its first boot, beside the agent's own check-in. */
export interface HealthChecks {
  /** Programs run in order (no shell); each must exit 0 within its deadline. */
  commands: CommandSpec[];
  /** How long the agent's check-in with the API may take. */
  checkInTimeoutMs: number;
}

export interface RaucOptions {
  /** The folder for the installer's trial marker and slot records (the agent's state folder). */
  stateDir: string;
  /** The `rauc` program (default: `rauc` on PATH). */
  binary?: string;
  /** RAUC's system configuration, passed as --conf (default: RAUC's own, /etc/rauc/system.conf). */
  systemConfig?: string;
  health?: Partial<HealthChecks>;
  /** Asks the system to reboot (default: `systemctl reboot`); the reboot then ends the agent. */
  reboot?: () => Promise<void>;
  /** Deadlines of RAUC's own commands. */
  timeouts?: Partial<RaucTimeouts>;
}

export interface RaucTimeouts {
  installMs: number;
  commandMs: number;
}

const DEFAULT_TIMEOUTS: RaucTimeouts = { installMs: 3_600_000, commandMs: 60_000 };
const DEFAULT_HEALTH: HealthChecks = { commands: [], checkInTimeoutMs: 60_000 };
/** `rauc install` prints progress lines; what is kept of its output is only for the error message. */
const MAX_COMMAND_OUTPUT = 1024 * 1024;

/**
 * An installer for RAUC systems (A/B slots switched by the bootloader). The agent hands it a
 * bundle both repositories verified; RAUC checks the bundle's own signature against its
 * keyring and writes the other slot. The trial boot is a reboot: `confirm` answers
 * `'rebooting'`, and `recover` at the next start runs the health checks on the booted trial
 * and marks it good, or marks it bad and reboots so the bootloader falls back; a trial that
 * never gets that far is skipped by the bootloader's try counter (raucRecovery.ts).
 */
export class RaucInstaller implements Installer {
  private readonly files: RaucStateFiles;
  private readonly timeouts: RaucTimeouts;
  private readonly health: HealthChecks;

  constructor(private readonly options: RaucOptions) {
    this.files = new RaucStateFiles(options.stateDir);
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.health = { ...DEFAULT_HEALTH, ...options.health };
  }

  /** RAUC's view of the slots, checked (raucStatus.ts). */
  async status(): Promise<RaucStatus> {
    const { stdout } = await runCommand(
      { argv: this.rauc('status', '--detailed', '--output-format=json'), timeoutMs: this.timeouts.commandMs },
      { maxOutputBytes: MAX_RAUC_STATUS_BYTES },
    );
    return parseRaucStatus(stdout);
  }

  async recover(context: RecoverContext): Promise<Recovery> {
    const status = await this.status();
    let marker = await this.files.marker();
    if (marker?.phase === 'activating' && status.booted.name === marker.to) {
      // The switch took effect (the trial slot runs): from here on it is a trial, also for the
      // start after a fallback, which must count it as a failed boot.
      marker = { ...marker, phase: 'booting' };
      await this.files.writeMarker(marker);
    }
    const files = { marker, slots: await this.files.slots() };
    const decision = decideRecovery(status, files);
    const plan = 'checkHealth' in decision ? await this.afterHealthChecks(decision.checkHealth, context) : decision;
    // The marker goes last, once the agent has stored the outcome: until then a restart must
    // find it and tell the same outcome again.
    const clears = plan.steps.some((step) => step.do === 'clear-marker');
    for (const step of plan.steps) if (step.do !== 'clear-marker') await this.run(step);
    return {
      trialDropped: plan.trialDropped,
      rebooting: plan.rebooting,
      ...(clears ? { afterRecorded: () => this.files.clearMarker() } : {}),
    };
  }

  async install(verifiedFile: string, target: VerifiedTarget): Promise<void> {
    const status = await this.status();
    const from = status.booted;
    if (from.bootStatus !== 'good') {
      throw new InstallError('RAUC_SLOT_UNCONFIRMED', `the booted slot ${from.name} is not marked good`);
    }
    const to = installSlot(status);
    // The slot's old record would be a lie once RAUC starts writing it.
    await this.files.setSlot(to, undefined);
    const marker = { version: target.fields.version, sha256: target.sha256, from: from.name, to };
    await this.files.writeMarker({ phase: 'installing', ...marker });
    await this.rauc1(['install', verifiedFile], this.timeouts.installMs);
    const written = (await this.status()).slots.find((s) => s.name === to);
    await this.files.setSlot(to, {
      version: marker.version,
      sha256: marker.sha256,
      ...(written?.installedAt ? { installedAt: written.installedAt } : {}),
    });
  }

  async confirm(target: VerifiedTarget): Promise<'rebooting'> {
    const marker = await this.files.marker();
    if (marker?.version !== target.fields.version || marker.sha256 !== target.sha256) {
      throw new InstallError('INSTALL_FAILED', `${target.name} is not the install this installer wrote`);
    }
    // With activate-installed=false RAUC left the boot order alone; either way the trial boots
    // next. Until the switch is done a cut is an interrupted install, from then on a trial.
    await this.files.writeMarker({ ...marker, phase: 'activating' });
    await this.rauc1(['status', 'mark-active', marker.to], this.timeouts.commandMs);
    await this.files.writeMarker({ ...marker, phase: 'booting' });
    await this.reboot();
    return 'rebooting';
  }

  async revert(): Promise<void> {
    const marker = await this.files.marker();
    if (!marker) return;
    await this.rauc1(['status', 'mark-bad', marker.to], this.timeouts.commandMs);
    await this.files.clearMarker();
  }

  /**
   * The version the agent wrote into the booted slot, once the slot is marked good. A slot
   * RAUC rewrote since (someone ran `rauc install` by hand) or the factory image has no
   * version the agent verified: undefined, so the agent's stored version stands.
   */
  async running(): Promise<{ version: string | undefined; slot: string }> {
    const { booted } = await this.status();
    if (booted.bootStatus !== 'good') {
      throw new InstallError('RAUC_SLOT_UNCONFIRMED', `the booted slot ${booted.name} is not marked good`);
    }
    const record = (await this.files.slots())[booted.name];
    if (!record || (record.installedAt !== undefined && record.installedAt !== booted.installedAt)) {
      return { version: undefined, slot: booted.name };
    }
    return { version: record.version, slot: booted.name };
  }

  private async afterHealthChecks(
    plans: { healthy: RecoveryPlan; unhealthy: RecoveryPlan },
    context: RecoverContext,
  ): Promise<RecoveryPlan> {
    try {
      for (const check of this.health.commands) await runCommand(check, { maxOutputBytes: MAX_COMMAND_OUTPUT });
      await withDeadline(context.checkIn(), this.health.checkInTimeoutMs);
      return plans.healthy;
    } catch {
      return plans.unhealthy;
    }
  }

  private async run(step: Exclude<RaucStep, { do: 'clear-marker' }>): Promise<void> {
    if (step.do === 'reboot') return this.reboot();
    await this.rauc1(['status', step.do, step.slot], this.timeouts.commandMs);
  }

  private async reboot(): Promise<void> {
    if (this.options.reboot) return this.options.reboot();
    await runCommand(
      { argv: ['systemctl', 'reboot'], timeoutMs: this.timeouts.commandMs },
      { maxOutputBytes: 64 * 1024 },
    );
  }

  private async rauc1(args: string[], timeoutMs: number): Promise<void> {
    await runCommand({ argv: this.rauc(...args), timeoutMs }, { maxOutputBytes: MAX_COMMAND_OUTPUT });
  }

  private rauc(...args: string[]): string[] {
    const conf = this.options.systemConfig ? [`--conf=${this.options.systemConfig}`] : [];
    return [this.options.binary ?? 'rauc', ...conf, ...args];
  }
}

/** The one other slot of the booted slot's class that the bootloader can boot: where RAUC writes. */
function installSlot(status: RaucStatus): string {
  const { booted } = status;
  const others = status.slots.filter((s) => s.class === booted.class && s.name !== booted.name && s.bootname);
  const only = others[0];
  if (others.length !== 1 || only === undefined) {
    throw new InstallError(
      'RAUC_STATUS_INVALID',
      `${others.length} slots to install into beside ${booted.name}, not one`,
    );
  }
  return only.name;
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InstallError('HEALTH_CHECK_FAILED', `no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
