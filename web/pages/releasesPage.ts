import type { ReleaseListItem } from '../../common/adminApi';
import { type ReleaseStatus, STAGES } from '../../common/release';
import { urlPath } from '../../common/urlPath';
import { h, link, replace, table, when } from '../dom';
import { get } from '../http';
import { href, type Live, type Route } from '../router';

/** Every channel's releases, filtered by channel and stage, refreshed every second. */
export async function releasesPage(view: HTMLElement, route: Route, live: Live): Promise<void> {
  const channel = route.query.get('channel') ?? '';
  const stage = route.query.get('stage') ?? '';
  const body = h('div', { 'aria-live': 'polite' });
  const updated = h('p', { class: 'muted' });
  replace(view, h('h1', {}, 'Releases'), filterForm(channel, stage), updated, body);

  const query = new URLSearchParams(Object.entries({ channel, stage }).filter(([, v]) => v)).toString();
  const refresh = async () => {
    const items = await get<ReleaseListItem[]>(`/v1/admin/releases${query ? `?${query}` : ''}`);
    const paused = await pausedOf(items);
    if (!live.active) return;
    replace(body, releasesTable(items, paused));
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  };
  await refresh();
  live.every(1000, refresh);
}

function filterForm(channel: string, stage: string): HTMLFormElement {
  const channelInput = h('input', { name: 'channel', value: channel, placeholder: 'any channel', maxlength: 64 });
  const stageSelect = h(
    'select',
    { name: 'stage' },
    h('option', { value: '' }, 'any stage'),
    ...STAGES.map((s) => h('option', { value: s, selected: s === stage }, s)),
  );
  return h(
    'form',
    {
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        location.hash = href('releases', [], { channel: channelInput.value.trim(), stage: stageSelect.value });
      },
    },
    h('label', {}, 'Channel ', channelInput),
    h('label', {}, 'Stage ', stageSelect),
    h('button', { type: 'submit' }, 'Filter'),
  );
}

/** Paused is not a search attribute: ask the running rollouts themselves (few at a time). */
async function pausedOf(items: ReleaseListItem[]): Promise<Map<string, boolean>> {
  const paused = new Map<string, boolean>();
  await Promise.all(
    items
      .filter((i) => i.status === 'RUNNING' && (i.stage === 'rollout' || i.stage === 'approval'))
      .map(async (i) => {
        const s = await get<ReleaseStatus>(urlPath`/v1/admin/releases/${i.channel}/${i.version}`).catch(
          () => undefined,
        );
        if (s) paused.set(i.releaseId, s.paused);
      }),
  );
  return paused;
}

function releasesTable(items: ReleaseListItem[], paused: Map<string, boolean>): HTMLElement {
  const rows = items.map((i) => [
    i.channel,
    link(href('releases', [i.channel, i.version]), i.version),
    h('span', { class: `stage stage-${i.stage}` }, i.stage),
    `${i.percent}%`,
    paused.get(i.releaseId) ? h('span', { class: 'badge warn' }, 'paused') : '',
    i.awaitingApproval ? h('span', { class: 'badge attention' }, 'awaiting approval') : '',
    when(i.startedAt),
  ]);
  return items.length
    ? table(['Channel', 'Version', 'Stage', 'Percent', 'Paused', 'Approval', 'Started'], rows, {
        'data-testid': 'releases',
      })
    : h('p', {}, 'No releases match.');
}
