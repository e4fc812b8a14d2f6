import { parseDuration } from '../../common/validation';
import type { Config } from '../../infra/config';
import { describeTally, simulateFleet } from '../../simulator/fleet';
import { required } from '../args';
import type { Output } from '../output';

export interface SimulateFlags {
  devices?: string;
  hardware?: string;
  channel?: string;
  from?: string;
  until?: string;
  timeout?: string;
  interval?: string;
  'fail-rate'?: string;
}

/** `ota fleet simulate`: simulated devices on this host, each verifying as a real one would. */
export async function simulate(config: Config, flags: SimulateFlags, out: Output): Promise<number> {
  const tally = await simulateFleet(
    config,
    {
      devices: Number(required(flags.devices, '--devices')),
      hardwareId: flags.hardware ?? 'devkit-a',
      channel: flags.channel ?? 'stable',
      fromVersion: flags.from ?? '0.0.0',
      untilVersion: flags.until,
      timeoutMs: parseDuration(flags.timeout ?? '5m'),
      intervalMs: parseDuration(flags.interval ?? '1s'),
      idPrefix: 'sim-',
      failRate: flags['fail-rate'] === undefined ? undefined : Number(flags['fail-rate']),
    },
    (t) => out.progress(describeTally(t)),
  );
  out.result(tally, () => `summary: ${describeTally(tally)}`);
  return flags.until && !tally.done ? 1 : 0;
}
