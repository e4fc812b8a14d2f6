import type { ReleaseStatus } from './release';

const pct = (x: number) => `${(x * 100).toFixed(1).replace(/\.0$/, '')}%`;

/**
 * What the health gate decides now, in one sentence: `ota release status` and the dashboard
 * both show it, so people read the same words wherever they look.
 */
export function describeGate(s: Pick<ReleaseStatus, 'gate' | 'steps' | 'lifecycle' | 'stage' | 'waitingFor'>): string {
  const g = s.gate;
  if (s.lifecycle === 'draft' || s.lifecycle === 'validation') return `No gate yet: the release is in ${s.stage}${s.waitingFor ? ` (${s.waitingFor})` : ''}.`;
  if (!g) return 'No step has been judged yet.';
  const where = `Step ${g.step + 1} of ${s.steps.length} (${g.percent}%)`;
  const numbers = `${g.failures} of ${g.reports} reporting devices failed (${pct(g.failureRate)}; at most ${pct(g.maxFailureRate)} allowed)`;
  if (g.result === 'tripped') return `${where} tripped the gate: ${numbers}. The rollout stopped.`;
  if (g.result === 'passed') return `${where} passed: ${numbers}${g.minDevices > 0 ? `, with the ${g.minDevices} devices it needs` : ''}.`;
  return `${where} is waiting: ${g.reports} of the ${g.minDevices} devices it needs have reported; ${numbers}.`;
}
