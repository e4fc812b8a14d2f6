import type { TargetStats } from './adminApi';
import type { ReleaseStatus } from './release';

const pct = (x: number) => `${(x * 100).toFixed(1).replace(/\.0$/, '')}%`;

/*
 * A release's state in words. `ota release status` and the dashboard both show these, so
 * people read the same sentences wherever they look.
 */

/** What the health gate decides now, in one sentence. */
export function describeGate(s: Pick<ReleaseStatus, 'gate' | 'steps' | 'lifecycle' | 'stage' | 'waitingFor'>): string {
  const g = s.gate;
  if (s.lifecycle === 'draft' || s.lifecycle === 'validation')
    return `No gate yet: the release is in ${s.stage}${s.waitingFor ? ` (${s.waitingFor})` : ''}.`;
  if (!g) return 'No step has been judged yet.';
  const where = `Step ${g.step + 1} of ${s.steps.length} (${g.percent}%)`;
  const refused = g.blocked ? `, ${g.blocked} of them by refusing it as one they cannot install` : '';
  const numbers = `${g.failures} of ${g.reports} reporting devices failed${refused} (${pct(g.failureRate)}; at most ${pct(g.maxFailureRate)} allowed)`;
  if (g.result === 'tripped') return `${where} tripped the gate: ${numbers}. The rollout stopped.`;
  if (g.result === 'passed')
    return `${where} passed: ${numbers}${g.minDevices > 0 ? `, with the ${g.minDevices} devices it needs` : ''}.`;
  return `${where} is waiting: ${g.reports} of the ${g.minDevices} devices it needs have reported; ${numbers}.`;
}

/**
 * Devices that verified the release and wait to install it (D-19), or undefined when none
 * does: why a step may be slow although nothing fails.
 */
export function describeWaiting(stats: Pick<TargetStats, 'waiting'> | undefined): string | undefined {
  const w = stats?.waiting;
  if (!w || w.window + w.notReady + w.metered === 0) return undefined;
  const parts = [
    w.window ? `${w.window} wait for an install window` : '',
    w.notReady ? `${w.notReady} not ready` : '',
    w.metered ? `${w.metered} on a metered network` : '',
  ].filter(Boolean);
  return `${parts.join(', ')} (not failures: the gate does not count them)`;
}

type InstallWindow = NonNullable<NonNullable<ReleaseStatus['target']>['windows']>[number];

/** A signed install window in words: `sat,sun 02:00 for 180 min (Europe/Berlin), groups factory`. */
export function describeWindow(w: InstallWindow): string {
  const groups = w.groups ? `, groups ${w.groups.join(', ')}` : '';
  return `${w.days.join(',')} ${w.start} for ${w.minutes} min (${w.timeZone})${groups}`;
}

/** What devices are offered (the signed rollout state in storage), and what is still to be published. */
export function describePublished(
  s: Pick<ReleaseStatus, 'published' | 'stage' | 'percent' | 'paused' | 'withdrawn'>,
): string {
  const p = s.published;
  if (!p)
    return s.stage === 'rollout'
      ? `nothing yet (${s.percent}% pending: the signed rollout state is not in storage yet)`
      : 'nothing';
  const state = `${p.percent}%${p.paused ? ', paused' : ''}${p.withdrawn ? ', withdrawn' : ''} (signed ${p.at})`;
  const pending = p.percent !== s.percent || p.paused !== s.paused || p.withdrawn !== s.withdrawn;
  return pending
    ? `${state}; pending: ${s.percent}%${s.paused ? ', paused' : ''}${s.withdrawn ? ', withdrawn' : ''} (not in storage yet)`
    : state;
}
