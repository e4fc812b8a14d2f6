/**
 * A device process for the power-cut tests: one poll cycle that stops dead (SIGKILL) right
 * after the named durable step. Killing the process, unlike throwing, leaves no catch
 * block or finally to write anything after the cut, as on a device losing power.
 * Usage: node powerCutDevice.js '{"url":…,"roots":…,"stateDir":…,"cut":"trial-set"}'
 */
import { loopbackDevice } from './loopbackOta';

interface Args {
  url: string;
  roots: { release: string; rollout: string };
  stateDir: string;
  cut: string;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const agent = loopbackDevice(args, args.stateDir, {
    cut: (step) => {
      if (step === args.cut) process.kill(process.pid, 'SIGKILL');
    },
  });
  await agent.checkForUpdate();
  // Reaching this line means the step never happened: the parent test fails on exit code 3.
  process.exit(3);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
