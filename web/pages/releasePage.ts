import type { DeliverySummary, OpsAction, ReleaseInsights, TargetStats } from '../../common/adminApi';
import { OPS_RULES, TERMINAL_STAGES } from '../../common/opsRules';
import { type ReleaseStatus, STAGES } from '../../common/release';
import { DOCUMENT_KINDS } from '../../common/releaseDocuments';
import { describeGate, describePublished, describeWaiting, describeWindow } from '../../common/statusWords';
import { urlPath } from '../../common/urlPath';
import { confirmAction, post } from '../actions';
import { adoptionChart, healthChart } from '../charts';
import { fact, h, replace, table, when } from '../dom';
import { can, get } from '../http';
import type { Live, Route } from '../router';

type Status = ReleaseStatus & { devices?: TargetStats; delivery?: DeliverySummary };

interface ActionDef {
  name: string;
  label: string;
  permission: 'release.decide' | 'release.operate';
  show: (s: Status) => boolean;
  danger?: boolean;
}

// Approvals when the release waits for one; operations as the workflow's own rules allow
// them (common/opsRules.ts), so no button offers what the server would refuse for its stage.
const closed = (s: Status) => TERMINAL_STAGES.includes(s.stage);
const operate = (name: OpsAction, label: string, danger = false): ActionDef => ({
  name,
  label,
  permission: 'release.operate',
  show: (s) => !closed(s) && OPS_RULES[name].allowed(s),
  danger,
});
const ACTIONS: ActionDef[] = [
  { name: 'approve', label: 'Approve', permission: 'release.decide', show: (s) => s.awaitingApproval },
  { name: 'reject', label: 'Reject', permission: 'release.decide', show: (s) => s.awaitingApproval, danger: true },
  operate('pause', 'Pause'),
  operate('resume', 'Resume'),
  operate('promote', 'Promote'),
  operate('rollback', 'Roll back', true),
  operate('abort', 'Abort', true),
];

interface Release {
  channel: string;
  version: string;
  base: string;
}

/** One release: state, the gate in words, actions the role allows, timeline, charts. */
export async function releasePage(view: HTMLElement, route: Route, live: Live): Promise<void> {
  const [channel = '', version = ''] = route.args;
  const release: Release = { channel, version, base: urlPath`/v1/admin/releases/${channel}/${version}` };
  const parts = releaseParts();
  replace(view, ...releaseLayout(parts, release));

  const showActions = actionButtons(parts.actions, release, () => refreshStatus());
  const refreshStatus = async () => {
    const s = await get<Status>(release.base);
    if (!live.active) return;
    showStatus(parts, s, showActions);
  };
  const refreshInsights = async () => {
    const i = await get<ReleaseInsights>(`${release.base}/insights`);
    if (!live.active) return;
    parts.adoption.show(i.adoption);
    parts.health.show(i.steps);
  };
  await Promise.all([refreshStatus(), refreshInsights()]);
  live.every(1000, refreshStatus);
  live.every(2000, refreshInsights);
}

/** Made once and filled in place by each refresh, so what the operator opened (a chart's numbers) stays open. */
function releaseParts() {
  return {
    stages: h('ol', { class: 'stages', 'aria-label': 'Stages', 'data-testid': 'stages' }),
    summary: h('section', { class: 'summary', 'data-testid': 'summary' }),
    gate: h('p', { class: 'gate', 'data-testid': 'gate' }),
    actions: h('div', { class: 'actions', 'data-testid': 'actions' }),
    timeline: h('ol', { class: 'timeline', 'data-testid': 'timeline' }),
    devices: h('div', { 'data-testid': 'devices' }),
    delivery: h('div', { 'data-testid': 'delivery' }),
    adoption: adoptionChart(),
    health: healthChart(),
  };
}

type Parts = ReturnType<typeof releaseParts>;

function releaseLayout(p: Parts, { channel, version }: Release): HTMLElement[] {
  return [
    h('h1', {}, `Release ${version} `, h('span', { class: 'muted' }, `on ${channel}`)),
    p.stages,
    p.summary,
    h('h2', {}, 'Health gate'),
    p.gate,
    p.actions,
    h('div', { class: 'charts' }, p.adoption.root, p.health.root),
    h(
      'div',
      { class: 'columns' },
      h('section', {}, h('h2', {}, 'Devices on this release'), p.devices, h('h2', {}, 'Delivery'), p.delivery),
      h('section', {}, h('h2', {}, 'Timeline'), p.timeline),
    ),
  ];
}

function showStatus(p: Parts, s: Status, showActions: (s: Status) => void): void {
  replace(p.summary, ...summaryFacts(s));
  replace(
    p.stages,
    ...stagesOf(s).map(([name, state]) =>
      h('li', { class: state, 'aria-current': state === 'current' ? 'step' : undefined }, name),
    ),
  );
  p.gate.textContent = describeGate(s);
  showActions(s);
  replace(p.timeline, ...timelineItems(s));
  replace(p.devices, devicesOf(s));
  replace(p.delivery, ...deliveryOf(s), documentsOf(s), evidenceOf(s));
}

function summaryFacts(s: Status): Array<HTMLElement | null> {
  return [
    fact('Stage', h('span', { class: `stage stage-${s.stage}`, 'data-testid': 'stage' }, s.stage)),
    fact('Lifecycle', s.lifecycle),
    fact('Step', h('span', { 'data-testid': 'percent' }, `${s.percent}%`)),
    fact('Devices are offered', h('span', { 'data-testid': 'published' }, describePublished(s))),
    fact('Paused', h('span', { 'data-testid': 'paused' }, s.paused ? 'yes' : 'no')),
    fact(
      'Approval',
      s.awaitingApproval
        ? `awaiting (${s.approvals.length}/${s.approvalsRequired})`
        : `${s.approvals.filter((a) => a.decision === 'approve').length} given`,
    ),
    fact('Plan', `${s.plan}: ${s.steps.map((x) => `${x.percent}%`).join(' → ')}`),
    fact('Created by', s.createdBy),
    fact('Hardware', s.hardwareIds.join(', ')),
    s.error ? fact('Error', `${s.error.code}: ${s.error.message}`) : null,
  ];
}

/** `refresh` runs after a confirmed action, so its effect shows without waiting for the next tick. */
function actionButtons(root: HTMLElement, release: Release, refresh: () => Promise<void>): (s: Status) => void {
  const { channel, version, base } = release;
  const act = async (a: ActionDef) => {
    const decision = a.permission === 'release.decide';
    const done = await confirmAction({
      title: `${a.label} release ${version} on ${channel}?`,
      explain: decision
        ? `You decide as ${channel} release owner; the workflow refuses the creator's own approval.`
        : `This ${a.name}s the rollout for every device on ${channel}.`,
      confirm: a.label,
      danger: a.danger,
      send: (reason) => post(`${base}/${a.name}`, decision ? { comment: reason } : { reason }),
    });
    if (done) await refresh();
  };
  let shown = '';
  return (s) => {
    // Rebuild the buttons only when the set changes, so a click is never lost to a refresh.
    const allowed = ACTIONS.filter((a) => can(a.permission) && a.show(s));
    const key = allowed.map((a) => a.name).join(',');
    if (key === shown) return;
    shown = key;
    replace(
      root,
      ...allowed.map((a) =>
        h('button', { type: 'button', class: a.danger ? 'danger' : 'primary', onclick: () => void act(a) }, a.label),
      ),
    );
  };
}

function timelineItems(s: Status): HTMLElement[] {
  return s.history.map((r) =>
    h(
      'li',
      {},
      h('time', { datetime: r.at }, when(r.at)),
      ' ',
      h('strong', {}, r.action),
      r.actor ? ` by ${r.actor}` : '',
      r.detail ? `: ${r.detail}` : '',
    ),
  );
}

function devicesOf(s: Status): HTMLElement {
  const d = s.devices;
  if (!d) return h('p', {}, 'Not registered yet.');
  const w = d.waiting ?? { window: 0, notReady: 0, metered: 0 };
  const waiting = describeWaiting(d);
  const windows = s.target?.windows ?? [];
  return h(
    'div',
    {},
    table(
      ['devices', 'healthy', 'reverted', 'failed', 'refused', 'wait for a window', 'not ready', 'metered'],
      [[d.devices, d.healthy, d.reverted, d.failed, d.refused, w.window, w.notReady, w.metered]],
    ),
    waiting ? h('p', { 'data-testid': 'waiting' }, `Waiting: ${waiting}.`) : '',
    windows.length
      ? h(
          'p',
          {},
          `Install windows (signed; devices check them by their own clocks): ${windows.map(describeWindow).join('; ')}.`,
        )
      : '',
  );
}

/** The SBOM and provenance signed into the release (their digests), each downloadable as uploaded. */
function documentsOf(s: Status): HTMLElement {
  const docs = s.target?.custom.documents ?? {};
  const links = DOCUMENT_KINDS.filter((k) => docs[k]).map((k) =>
    h(
      'a',
      { href: `/v1/admin/documents/${docs[k]!.sha256}`, download: `${k}.json`, 'data-testid': `document-${k}` },
      `${k === 'sbom' ? 'SBOM' : 'Provenance'} (${docs[k]!.format})`,
    ),
  );
  return h(
    'p',
    {},
    ...(links.length
      ? ['Signed documents: ', ...links.flatMap((l, i) => (i ? [', ', l] : [l]))]
      : ['No SBOM or provenance came with this release.']),
  );
}

/** The auditor's evidence file (ADR 0080): checked offline with `ota evidence verify`. */
function evidenceOf(s: Status): HTMLElement {
  if (!s.target) return h('p', {}, 'Evidence: once the release has a signed target.');
  const href = `${urlPath`/v1/admin/releases/${s.channel}/${s.version}`}/evidence`;
  const file = `evidence-${s.channel}-${s.version}.tar`;
  return h(
    'p',
    {},
    'Evidence for auditors: ',
    h('a', { href, download: file, 'data-testid': 'evidence' }, file),
    ' (signed metadata, decisions and device receipts with their log proofs; check it with ota evidence verify).',
  );
}

/** How installs came: delta updates against full images, and what that saved. */
function deliveryOf(s: Status): HTMLElement[] {
  const v = s.delivery;
  const deltas = s.target?.deltas?.length ?? 0;
  return [
    h(
      'p',
      {},
      deltas
        ? `${deltas} delta update(s): from ${s.target!.deltas!.map((x) => x.base.version).join(', ')}`
        : 'No delta updates for this release.',
    ),
    v && v.delta.installs + v.full.installs > 0
      ? table(
          ['as', 'installs', 'bytes'],
          [
            ['delta', v.delta.installs, v.delta.bytes],
            ['full image', v.full.installs, v.full.bytes],
            ['saved', '', `${v.savedBytes} (${v.savedPercent}%)`],
          ],
        )
      : h('p', {}, 'No installs reported yet.'),
  ];
}

/** The release path as a row of stages: done, the current one, still to come (an ended release shows how it ended). */
function stagesOf(s: Status): Array<[string, 'done' | 'current' | 'todo' | 'ended']> {
  const path = STAGES.slice(0, STAGES.indexOf('stable') + 1);
  const at = path.indexOf(s.stage);
  if (at >= 0)
    return path.map((name, i) => [name, i < at || s.stage === 'stable' ? 'done' : i === at ? 'current' : 'todo']);
  // Rolled back, rejected, aborted or failed: the path up to where it stopped, then the end.
  const reached = s.history.some((r) => r.action === 'step')
    ? path.indexOf('rollout')
    : s.target
      ? path.indexOf('validation')
      : 0;
  return [...path.slice(0, reached + 1).map((name): [string, 'done'] => [name, 'done']), [s.stage, 'ended']];
}
