import type { DeviceConfig } from '@enigm-ota/client-sdk';

import { runCommand } from './commands';
import type { AgentConfig } from './config';

/** How long a metered-network probe may take; no answer counts as metered (the cautious answer). */
const METERED_PROBE_MS = 10_000;

/** The configuration's readiness hook and metered-network policy, as the SDK takes them. */
export function waitPolicies(config: AgentConfig): Pick<DeviceConfig, 'groups' | 'readiness' | 'network'> {
  const { readiness, network } = config;
  const probe = network.meteredCommand;
  const metered = probe
    ? async () => {
        const { exitCode } = await runCommand(probe, { timeoutMs: METERED_PROBE_MS });
        return exitCode === undefined || exitCode === 0;
      }
    : network.metered;
  return {
    groups: config.groups,
    readiness: readiness.command ? { command: readiness.command, timeoutMs: readiness.timeoutSec * 1000 } : undefined,
    network:
      probe || network.metered
        ? { metered, deltasOnly: network.deltasOnly, dailyByteBudget: network.dailyByteBudget }
        : undefined,
  };
}
