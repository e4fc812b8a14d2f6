import type { ReleaseStatus } from '../common/release';

/** The Markdown the Temporal UI shows as the workflow's current details. */
export function renderDetails(s: ReleaseStatus): string {
  const lines = [
    `**${s.channel} ${s.version}**: stage **${s.stage}**${s.paused ? ' (paused)' : ''}${s.withdrawn ? ' (withdrawn)' : ''}`,
    '',
    `Waiting for: ${s.waitingFor}`,
    '',
    `Rollout: ${s.percent}% (steps ${s.steps.map((x) => `${x.percent}%`).join(' → ')})`,
  ];
  if (s.target) lines.push('', `Target: \`${s.target.name}\` sha256 \`${s.target.sha256.slice(0, 16)}…\``);
  if (s.approvals.length) lines.push('', `Approved by: ${s.approvals.map((a) => a.approver).join(', ')}`);
  if (s.error) lines.push('', `Error: ${s.error.code}: ${s.error.message}`);
  return lines.join('\n');
}
