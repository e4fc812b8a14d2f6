import type { DeliverySummary, ReleaseListItem, TargetStats } from '../common/adminApi';
import type { ReleaseStatus } from '../common/release';
import { lifecycleOf } from '../common/release';
import { describeGate, describePublished, describeWaiting, describeWindow } from '../common/statusWords';

/** Human text for release answers; --json prints the API's answer as it is. */
export function describeList(items: ReleaseListItem[]): string {
  if (items.length === 0) return 'no releases';
  return items
    .map(
      (r) =>
        `${r.channel.padEnd(12)} ${r.version.padEnd(12)} ${r.stage.padEnd(12)} ${String(r.percent).padStart(5)}%${r.awaitingApproval ? '  awaiting approval' : ''}`,
    )
    .join('\n');
}

export function describeStatus(s: ReleaseStatus, devices?: TargetStats, delivery?: DeliverySummary): string {
  const lines = [
    `release ${s.version} on ${s.channel} (${s.releaseId}), plan ${s.plan}, created by ${s.createdBy}`,
    `  stage:     ${s.stage} (${s.lifecycle ?? lifecycleOf(s.stage, s.percent)})${s.paused ? ' (paused)' : ''}${s.withdrawn ? ' (withdrawn)' : ''}`,
    `  rollout:   ${s.percent}% of steps ${s.steps.map((x) => `${x.percent}%`).join(' → ')}`,
    `  published: ${describePublished(s)}`,
    `  waiting:   ${s.waitingFor}`,
    `  hardware:  ${s.hardwareIds.join(', ')}`,
  ];
  if (s.target) lines.push(`  target:    ${s.target.name} (${s.target.length} bytes, sha256 ${s.target.sha256})`);
  for (const d of s.target?.deltas ?? [])
    lines.push(`  delta:     from ${d.base.version}: ${d.length} bytes (${d.name})`);
  lines.push(
    `  approvals: ${s.approvals.filter((a) => a.round === 'release' && a.decision === 'approve').length}/${s.approvalsRequired}`,
  );
  for (const a of s.approvals)
    lines.push(
      `  ${a.decision === 'approve' ? 'approved' : 'rejected'}:  ${a.approver} (${a.round}) at ${a.at}${a.comment ? `: ${a.comment}` : ''}`,
    );
  if (devices) {
    lines.push(
      `  devices:   ${devices.healthy} healthy, ${devices.reverted} reverted, ${devices.failed} failed, ${devices.refused} refused`,
    );
    const waiting = describeWaiting(devices);
    if (waiting) lines.push(`  later:     ${waiting}`);
  }
  for (const w of s.target?.windows ?? []) lines.push(`  window:    ${describeWindow(w)}`);
  if (delivery && delivery.delta.installs + delivery.full.installs > 0) {
    const refused = delivery.deltaRefused > 0 ? `, ${delivery.deltaRefused} after a refused delta` : '';
    lines.push(
      `  delivery:  ${delivery.delta.installs} as deltas (${delivery.delta.bytes} bytes), ${delivery.full.installs} full images (${delivery.full.bytes} bytes${refused}); saved ${delivery.savedBytes} bytes (${delivery.savedPercent}%)`,
    );
  }
  lines.push(`  gate:      ${describeGate({ ...s, lifecycle: s.lifecycle ?? lifecycleOf(s.stage, s.percent) })}`);
  if (s.error) lines.push(`  error:     ${s.error.code}: ${s.error.message}`);
  for (const h of s.history.slice(-10))
    lines.push(`  ${h.at}  ${h.action}${h.actor ? ` by ${h.actor}` : ''}${h.detail ? `: ${h.detail}` : ''}`);
  return lines.join('\n');
}
