import type { MetadataStatus, RoleFreshness } from '../../common/adminApi';
import { h, replace, table, when } from '../dom';
import { get } from '../http';
import type { Live } from '../router';

/** Storage older than what the servers already saw (S-25) outranks a role about to expire. */
function badge(r: RoleFreshness): HTMLElement | string {
  if (r.highestSeen !== undefined && r.highestSeen > r.version)
    return h('span', { class: 'badge danger' }, 'storage rolled back');
  return r.expiresSoon ? h('span', { class: 'badge warn' }, 'not re-signed in time') : '';
}

/**
 * Metadata freshness: every role's version and expiry in both repositories, storage against the
 * highest versions seen, and the re-signing schedule.
 */
export async function metadataPage(view: HTMLElement, _route: unknown, live: Live): Promise<void> {
  const body = h('div', { 'data-testid': 'metadata' });
  replace(view, h('h1', {}, 'Metadata freshness'), body);
  const refresh = async () => {
    const m = await get<MetadataStatus>('/v1/admin/metadata');
    if (!live.active) return;
    const s = m.schedule;
    replace(
      body,
      h(
        'p',
        { class: m.healthy ? 'ok' : 'error' },
        m.healthy ? 'Healthy: every role is fresh and the schedule runs.' : 'Needs attention:',
      ),
      m.problems.length ? h('ul', {}, ...m.problems.map((p) => h('li', {}, p))) : null,
      ...Object.entries(m.repositories).map(([repo, roles]) =>
        h(
          'section',
          {},
          h('h2', {}, `${repo} repository`),
          table(
            ['Role', 'Version', 'Highest seen', 'Expires', 'Hours left', ''],
            roles.map((r) => [r.role, r.version, r.highestSeen ?? '', when(r.expires), r.hoursLeft, badge(r)]),
          ),
        ),
      ),
      h('h2', {}, 'Re-signing schedule'),
      s.exists
        ? table(
            ['State', 'Last run', 'Outcome', 'Next run'],
            [
              [
                s.paused ? `paused${s.note ? `: ${s.note}` : ''}` : 'active',
                when(s.lastRun?.startedAt),
                s.lastRun?.status ?? 'none yet',
                when(s.nextRunAt),
              ],
            ],
          )
        : h('p', { class: 'error' }, 'The freshness schedule is missing (start a worker).'),
    );
  };
  await refresh();
  live.every(10_000, refresh);
}
