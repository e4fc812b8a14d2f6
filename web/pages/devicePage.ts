import type { DeviceDetail, Explanation } from '../../common/adminApi';
import { urlPath } from '../../common/urlPath';
import { fact, h, replace, table, when } from '../dom';
import { ApiError, get } from '../http';
import type { Route } from '../router';

/** One device: certificate, attestation, labels, report history, and why it gets a release or not. */
export async function devicePage(view: HTMLElement, route: Route): Promise<void> {
  const [id = ''] = route.args;
  const d = await get<DeviceDetail>(urlPath`/v1/admin/devices/${id}`);
  replace(
    view,
    h('h1', {}, `Device ${d.deviceId}`),
    deviceSummary(d),
    h('h2', {}, 'Certificate'),
    certificate(d),
    h('h2', {}, 'Attestation'),
    attestation(d),
    h('h2', {}, 'Eligibility'),
    ...eligibility(id),
    h('h2', {}, 'Reports'),
    reports(d),
  );
}

function deviceSummary(d: DeviceDetail): HTMLElement {
  return h(
    'section',
    { class: 'summary' },
    fact('Status', d.status),
    fact('Runs', d.currentVersion),
    fact('Channel', d.channel ?? '-'),
    fact('Hardware', d.hardwareId ?? '-'),
    fact('Groups', d.groups.join(', ') || '-'),
    fact(
      'Tags',
      Object.entries(d.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '-',
    ),
    fact('Last report', when(d.lastReportAt)),
  );
}

function certificate(d: DeviceDetail): HTMLElement {
  return table(
    ['Serial', 'Valid until', 'Enrolled', 'Revoked'],
    [[d.certSerial ?? '-', when(d.certNotAfter), when(d.enrolledAt), when(d.revokedAt)]],
  );
}

function attestation(d: DeviceDetail): HTMLElement {
  const a = d.attestation;
  return a
    ? table(['Verified', 'Passed', 'Reason'], [[when(a.verifiedAt), a.passed ? 'yes' : 'no', a.reason]])
    : h('p', {}, 'No evidence verified.');
}

function eligibility(id: string): [HTMLFormElement, HTMLElement] {
  const version = h('input', { name: 'version', placeholder: '1.2.3', maxlength: 64, required: true });
  const explanation = h('div', { 'data-testid': 'explanation' });
  const explain = h(
    'form',
    {
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        get<Explanation>(
          `${urlPath`/v1/admin/devices/${id}/explain`}?version=${encodeURIComponent(version.value.trim())}`,
        ).then(
          (x) => replace(explanation, ...explained(x)),
          (err: unknown) =>
            replace(
              explanation,
              h('p', { class: 'error' }, err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)),
            ),
        );
      },
    },
    h('label', {}, 'Release version ', version),
    h('button', { type: 'submit' }, 'Explain'),
  );
  return [explain, explanation];
}

function explained(x: Explanation): [HTMLElement, HTMLElement] {
  return [
    h(
      'p',
      {},
      h('strong', {}, x.eligible ? 'Eligible' : 'Not eligible'),
      ` for ${x.version}`,
      x.offer ? `; a poll now would be offered ${x.offer.version}` : '; a poll now would be offered nothing',
    ),
    table(
      ['Check', 'Result', 'Reason'],
      x.checks.map((c) => [c.check, c.ok ? 'ok' : 'refused', c.reason]),
    ),
  ];
}

function reports(d: DeviceDetail): HTMLElement {
  return d.reports.length
    ? table(
        ['At', 'Version', 'Outcome', 'Health', 'Code', 'Message'],
        d.reports.map((r) => [when(r.at), r.version, r.outcome, r.health ?? '-', r.errorCode ?? '', r.message ?? '']),
        { 'data-testid': 'reports' },
      )
    : h('p', {}, 'No reports yet.');
}
