import type { InstallWindow } from '@enigm-ota/client-sdk/installWindows';

import { InputError } from './errors';
import type { ChannelPolicy, RolloutStep } from './release';
import { checkChannelPolicy, checkDeltaBases, checkInstallWindows, checkSteps, parseDuration } from './validation';

/** A plan step as written in a policy file: bake time as a duration ("30m"). */
interface PlanStepText extends Omit<RolloutStep, 'bakeTimeMs'> {
  bakeTime: string;
}

/**
 * A plan: its steps, or its steps and how many earlier releases of the channel and hardware
 * the worker builds delta updates from (`deltaBases`, default DEFAULT_DELTA_BASES; 0: none),
 * and the install windows its releases carry (`windows`, signed; absent: any time).
 */
type PlanText = PlanStepText[] | { steps: PlanStepText[]; deltaBases?: number; windows?: InstallWindow[] };

/** Rollout plans and per-channel approval rules, as data (OTA_POLICY_FILE overrides). */
export interface PolicyFile {
  channels: Record<string, ChannelPolicy>;
  plans: Record<string, PlanText>;
}

export const DEFAULT_DELTA_BASES = 2;

/** A plan's steps, each `[percent, bake time, reports its gate needs, gate]`, all held to one failure rate. */
const plan = (maxFailureRate: number, steps: Array<[number, string, number, ('auto' | 'approval')?]>): PlanStepText[] =>
  steps.map(([percent, bakeTime, minDevices, gate = 'auto']) => ({
    percent,
    bakeTime,
    minDevices,
    maxFailureRate,
    gate,
  }));

export const DEFAULT_POLICY: PolicyFile = {
  // '*' applies to every channel without its own entry.
  channels: { '*': { approvals: 1, owners: ['*'], plan: 'default', onBreach: 'pause' } },
  plans: {
    default: plan(0.05, [
      [10, '30m', 5],
      [50, '2h', 20],
      [100, '0s', 0],
    ]),
    cautious: plan(0.02, [
      [1, '2h', 3],
      [10, '12h', 10, 'approval'],
      [50, '1d', 50, 'approval'],
      [100, '0s', 0],
    ]),
    // Expedited: fewer, shorter steps; still approved, still health-gated.
    security: plan(0.1, [
      [25, '10m', 3],
      [100, '0s', 0],
    ]),
  },
};

export function channelPolicy(policy: PolicyFile, channel: string): ChannelPolicy {
  const found = policy.channels[channel] ?? policy.channels['*'];
  if (!found) throw new InputError(`no approval policy for channel ${channel} and no '*' default`);
  return found;
}

export function planSteps(policy: PolicyFile, name: string): RolloutStep[] {
  const plan = planNamed(policy, name);
  const steps = Array.isArray(plan) ? plan : plan.steps;
  if (!Array.isArray(steps)) throw new InputError(`plan ${name}: "steps" must be a list`);
  return steps.map(({ bakeTime, ...rest }) => ({ ...rest, bakeTimeMs: parseDuration(bakeTime) }));
}

/** How many earlier releases a plan's releases get deltas from. */
export function planDeltaBases(policy: PolicyFile, name: string): number {
  const plan = planNamed(policy, name);
  return checkDeltaBases(Array.isArray(plan) ? undefined : plan.deltaBases) ?? DEFAULT_DELTA_BASES;
}

/** The install windows a plan's releases carry, or undefined (no window: any time). */
export function planWindows(policy: PolicyFile, name: string): InstallWindow[] | undefined {
  const plan = planNamed(policy, name);
  return Array.isArray(plan) ? undefined : checkInstallWindows(plan.windows);
}

function planNamed(policy: PolicyFile, name: string): PlanText {
  const plan = Object.hasOwn(policy.plans, name) ? policy.plans[name] : undefined;
  if (!plan || typeof plan !== 'object')
    throw new InputError(
      `unknown rollout plan ${JSON.stringify(name)} (known: ${Object.keys(policy.plans).join(', ')})`,
    );
  return plan;
}

/** Validates a whole policy, so a bad file fails at start-up, not in the middle of a rollout. */
export function checkPolicy(policy: PolicyFile): PolicyFile {
  if (
    typeof policy !== 'object' ||
    policy === null ||
    typeof policy.channels !== 'object' ||
    typeof policy.plans !== 'object'
  ) {
    throw new InputError('a policy has "channels" and "plans"');
  }
  for (const name of Object.keys(policy.plans)) {
    checkSteps(planSteps(policy, name));
    planDeltaBases(policy, name);
    planWindows(policy, name);
  }
  for (const [channel, p] of Object.entries(policy.channels)) {
    checkChannelPolicy(p);
    if (!policy.plans[p.plan]) throw new InputError(`channel ${channel} names unknown plan ${p.plan}`);
  }
  return policy;
}
