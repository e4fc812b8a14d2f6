import type { ApproveInput } from '../common/messages';
import type { ChannelPolicy, GateState, ReleaseStatus, RolloutStep } from '../common/release';

/** Health after install for a release's target (latest report per device). */
export interface HealthSample {
  healthy: number;
  reverted: number;
  /** Devices that refused the release as one they cannot install (common/refusals.ts); absent in older histories. */
  blocked?: number;
}

/**
 * The health gate of a step judges what happened on the devices it was offered to: devices
 * that booted the release and confirmed healthy, reverted, or refused it as one they cannot
 * install (a rollback index or version below theirs: the fleet cannot take it). Other
 * refusals (outside the rollout, paused) and download failures say nothing about the
 * release, so they are not in the sample.
 * The gate passes with at least `minDevices` health reports and a failure rate of at
 * most `maxFailureRate`; it trips as soon as a sample of `minDevices` breaches, even mid-bake.
 */
export function evaluateGate(stepIndex: number, step: RolloutStep, sample: HealthSample): GateState {
  const blocked = sample.blocked ?? 0;
  const reports = sample.healthy + sample.reverted + blocked;
  const failures = sample.reverted + blocked;
  const failureRate = reports === 0 ? 0 : failures / reports;
  const enough = reports >= step.minDevices;
  const healthy = failureRate <= step.maxFailureRate;
  const result: GateState['result'] = !enough ? 'waiting' : healthy ? 'passed' : 'tripped';
  return {
    step: stepIndex,
    percent: step.percent,
    minDevices: step.minDevices,
    maxFailureRate: step.maxFailureRate,
    reports,
    failures,
    blocked,
    failureRate: Math.round(failureRate * 10_000) / 10_000,
    result,
  };
}

/**
 * Why an approval (or rejection) is refused, or undefined when it is valid: the release
 * must be waiting for one, the approver must be a release owner, never the creator, and
 * may not approve the same round twice.
 */
export function approvalRefusal(
  status: ReleaseStatus,
  { policy, round }: { policy: ChannelPolicy; round: string },
  input: ApproveInput,
): string | undefined {
  if (!status.awaitingApproval)
    return `release ${status.version} is not waiting for an approval (stage ${status.stage})`;
  if (input.approver === status.createdBy) return `${input.approver} created this release and cannot approve it`;
  if (!policy.owners.includes('*') && !policy.owners.includes(input.approver)) {
    return `${input.approver} is not a release owner of channel ${status.channel}`;
  }
  if (status.approvals.some((a) => a.approver === input.approver && a.round === round)) {
    return `${input.approver} already approved this`;
  }
  return undefined;
}
