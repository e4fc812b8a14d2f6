import type { ComponentMatch, DeviceRecord, FleetBreakdown } from '../../common/adminApi';
import { h, link, replace, table, when } from '../dom';
import { get } from '../http';
import { href, type Live, type Route } from '../router';

/** Each count, with the device filter a click on one of its rows applies (where the inventory has one). */
const DIMENSIONS: Array<[keyof Omit<FleetBreakdown, 'total'>, string, string | undefined]> = [
  ['versions', 'Version', undefined],
  ['channels', 'Channel', 'channel'],
  ['hardwareIds', 'Hardware', undefined],
  ['groups', 'Group', 'group'],
  ['statuses', 'Status', 'status'],
];

interface Filter {
  prefix: string;
  status: string;
  channel: string;
  group: string;
}

/** The fleet by version, channel, hardware, group and status, and a device search. */
export async function fleetPage(view: HTMLElement, route: Route, live: Live): Promise<void> {
  const filter: Filter = {
    prefix: route.query.get('prefix') ?? '',
    status: route.query.get('status') ?? '',
    channel: route.query.get('channel') ?? '',
    group: route.query.get('group') ?? '',
  };
  const form = searchForm(filter);
  const breakdown = h('div', { class: 'breakdown', 'data-testid': 'breakdown' });
  const results = h('div', { 'data-testid': 'devices' });
  replace(
    view,
    h('h1', {}, 'Fleet'),
    breakdown,
    h('h2', {}, 'Components'),
    componentSearch(route),
    h('h2', {}, 'Devices'),
    form,
    results,
  );

  const refreshBreakdown = async () => {
    const b = await get<FleetBreakdown>('/v1/fleet/breakdown');
    if (!live.active) return;
    replace(breakdown, ...breakdownOf(b, filter));
  };
  const q = new URLSearchParams(Object.entries({ ...filter, limit: '100' }).filter(([, v]) => v)).toString();
  const devices = await get<DeviceRecord[]>(`/v1/admin/devices?${q}`);
  replace(results, devicesTable(devices));
  await refreshBreakdown();
  live.every(5000, refreshBreakdown);
}

function searchForm(filter: Filter): HTMLFormElement {
  const search = h('input', {
    name: 'prefix',
    type: 'search',
    value: filter.prefix,
    placeholder: 'device id starts with',
    maxlength: 128,
  });
  return h(
    'form',
    {
      class: 'filters',
      role: 'search',
      onsubmit: (e: Event) => {
        e.preventDefault();
        location.hash = href('fleet', [], { ...filter, prefix: search.value.trim() });
      },
    },
    h('label', {}, 'Device ', search),
    h('button', { type: 'submit' }, 'Search'),
    ...Object.entries(filter)
      .filter(([k, v]) => k !== 'prefix' && v)
      .map(([k, v]) => h('a', { class: 'badge', href: href('fleet', [], { ...filter, [k]: '' }) }, `${k}: ${v} ✕`)),
  );
}

function breakdownOf(b: FleetBreakdown, filter: Filter): HTMLElement[] {
  return [
    h('p', {}, h('strong', { 'data-testid': 'total' }, String(b.total)), ' devices'),
    ...DIMENSIONS.map(([key, title, param]) =>
      h(
        'section',
        {},
        h('h2', {}, `By ${title.toLowerCase()}`),
        Object.keys(b[key]).length === 0
          ? h('p', { class: 'muted' }, 'None.')
          : table(
              [title, 'Devices'],
              Object.entries(b[key])
                .sort((x, y) => y[1] - x[1])
                .map(([name, n]) => [param ? link(href('fleet', [], { ...filter, [param]: name }), name) : name, n]),
              { 'data-testid': key },
            ),
      ),
    ),
  ];
}

function devicesTable(devices: DeviceRecord[]): HTMLElement {
  return devices.length
    ? table(
        ['Device', 'Status', 'Version', 'Channel', 'Hardware', 'Groups', 'Last report'],
        devices.map((d) => [
          link(href('devices', [d.deviceId]), d.deviceId),
          d.status,
          d.currentVersion,
          d.channel ?? '-',
          d.hardwareId ?? '-',
          d.groups.join(', '),
          when(d.lastReportAt),
        ]),
      )
    : h('p', {}, 'No devices match.');
}

/**
 * Which releases' SBOMs list a component (below a version, say a vulnerable one) and how many
 * devices run each: the same answer as `ota fleet components`.
 */
function componentSearch(route: Route): HTMLElement {
  const name = h('input', {
    name: 'component',
    value: route.query.get('component') ?? '',
    placeholder: 'openssl',
    maxlength: 128,
  });
  const below = h('input', {
    name: 'below',
    value: route.query.get('below') ?? '',
    placeholder: '3.0.14',
    maxlength: 128,
  });
  const results = h('div', { 'data-testid': 'components' });
  const search = () => showComponents(results, name.value.trim(), below.value.trim());
  void search();
  return h(
    'div',
    {},
    h(
      'form',
      {
        class: 'filters',
        onsubmit: (e: Event) => {
          e.preventDefault();
          location.hash = href('fleet', [], {
            ...Object.fromEntries(route.query),
            component: name.value.trim(),
            below: below.value.trim(),
          });
        },
      },
      h('label', {}, 'Component ', name),
      h('label', {}, 'Version below ', below),
      h('button', { type: 'submit' }, 'Find'),
    ),
    results,
  );
}

async function showComponents(results: HTMLElement, name: string, below: string): Promise<void> {
  if (!name) return replace(results);
  const q = new URLSearchParams({ name, ...(below ? { versionBelow: below } : {}) });
  const rows = await get<ComponentMatch[]>(`/v1/fleet/components?${q.toString()}`);
  const devices = rows.reduce((n, r) => n + r.devices, 0);
  replace(
    results,
    rows.length
      ? table(
          ['Release', 'Component', 'Version', 'Devices running it'],
          rows.map((r) => [
            link(href('releases', [r.channel, r.version]), `${r.channel} ${r.version}`),
            r.component.name,
            r.component.version,
            r.devices,
          ]),
          { 'aria-label': 'Releases with the component' },
        )
      : h('p', {}, "No release's SBOM lists it."),
    rows.length ? h('p', {}, `${rows.length} release(s), ${devices} device(s).`) : null,
  );
}
