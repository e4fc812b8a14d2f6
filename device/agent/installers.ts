import { join } from 'node:path';

import { AbSlotInstaller, type Installer, RaucInstaller, type VerifiedTarget } from '@enigm-ota/client-sdk';

import { runCommand } from './commands';
import type { AgentConfig } from './config';
import type { HealthCommand } from './configSchema';
import type { AgentLog } from './log';

/** How a new version's boot is judged by the reference backend (a simulator answers itself). */
export type BootCheck = (target: VerifiedTarget) => boolean | Promise<boolean>;

/** The installer of `installer.backend`. */
export function installerFor(config: AgentConfig, options: { log: AgentLog; boot?: BootCheck }): Installer {
  switch (config.installer.backend) {
    case 'reference': {
      const dir = config.installer.referenceDir ?? join(config.stateDir, 'system');
      const boot =
        options.boot ?? ((target: VerifiedTarget) => passesHealth(config.health, { log: options.log, target }));
      return new AbSlotInstaller(dir, { boot: (_slot, target) => Promise.resolve(boot(target)) });
    }
    case 'rauc':
      // The trial boot is a reboot: the health checks run at the next start, in recover().
      return new RaucInstaller({
        stateDir: config.stateDir,
        binary: config.installer.raucBinary,
        systemConfig: config.installer.raucSystemConfig,
        health: { commands: config.health.commands.map((c) => ({ argv: c.argv, timeoutMs: c.timeoutSec * 1000 })) },
      });
  }
}

/** Every health command in order, each within its own timeout and all within the deadline. */
async function passesHealth(
  health: { commands: HealthCommand[]; deadlineSec: number },
  { log, target }: { log: AgentLog; target: VerifiedTarget },
): Promise<boolean> {
  const deadline = Date.now() + health.deadlineSec * 1000;
  for (const command of health.commands) {
    const left = deadline - Date.now();
    const started = Date.now();
    const r = await runCommand(command.argv, {
      timeoutMs: Math.max(0, Math.min(command.timeoutSec * 1000, left)),
      env: { ENIGM_OTA_VERSION: target.fields.version, ENIGM_OTA_TARGET: target.name },
    });
    const passed = r.exitCode === 0 && !r.timedOut;
    log[passed ? 'info' : 'warn']('health-command', {
      command: command.argv[0],
      exitCode: r.exitCode,
      timedOut: r.timedOut,
      durationMs: Date.now() - started,
      output: passed ? undefined : r.output,
    });
    if (!passed) return false;
  }
  return true;
}
