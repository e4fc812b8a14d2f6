import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import type { AuditRow, ReleaseInsights } from '../../../common/adminApi';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import { launchBrowser } from '../../../scripts/lib/browser';
import {
  adminApi,
  apiGet,
  deviceFetch,
  operatorToken,
  refusalOf,
  releaseAwaitingApproval,
  signedReport,
  temporalClient,
  testConfig,
} from '../helpers';

const CHANNEL = 'dash';
const VERSION = '1.0.0';
const RELEASE_PAGE = `#/releases/${CHANNEL}/${VERSION}`;

/** A table row as the page functions below read it (this project compiles without the DOM types). */
interface TableRow {
  querySelectorAll(selectors: 'td'): Iterable<{ textContent: string | null }>;
}

/**
 * The operations dashboard in Debian's Chromium against the live stack: sign-in, a second
 * owner's approval, pause and resume, the charts' numbers, what a viewer may do, CSRF and
 * sign-out. Every action is checked on the server too (workflow status, audit log).
 */
describe('the operations dashboard in a real browser', function () {
  this.timeout(180_000);
  let browser: Browser;
  let dashboard: string;
  const owner = 'dash-owner';
  const viewer = 'dash-viewer';

  before(async () => {
    dashboard = `${testConfig().api.url}/dashboard/`;
    browser = await launchBrowser();
    // Created by one operator; the dashboard's owner (also an operator) is the second person.
    await operatorToken('dash-creator');
    await releaseAwaitingApproval(CHANNEL, VERSION, { as: 'dash-creator', steps: '10,100', bake: '10m' });
  });
  after(async () => {
    await browser?.close();
  });

  async function signedIn(
    name: string,
    roles: string[],
    width = 1280,
  ): Promise<{ context: BrowserContext; page: Page }> {
    const token = await operatorToken(name, roles);
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width, height: 900 } });
    const page = await context.newPage();
    await page.goto(dashboard);
    await page.getByLabel('Operator token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    return { context, page };
  }

  async function act(page: Page, button: string, reason: string): Promise<void> {
    await page.getByTestId('actions').getByRole('button', { name: button }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill(reason);
    await dialog.getByRole('button', { name: button }).click();
    await dialog.waitFor({ state: 'detached' });
  }

  async function audit(action: string, actor?: string): Promise<AuditRow[]> {
    return apiGet<AuditRow[]>(
      `/v1/admin/audit?action=${encodeURIComponent(action)}&limit=50${actor ? `&actor=${actor}` : ''}`,
    );
  }

  /** Refused requests are audited before a handler names them: by method and request path. */
  const refusedAt = async (actor: string, path: string) =>
    (await audit('POST', actor)).filter((r) => r.outcome === 'refused' && r.subject === path);

  it('signs in with a token and keeps the session in an HttpOnly, Secure, SameSite=Strict cookie', async () => {
    const { context, page } = await signedIn(owner, ['release-owner', 'operator']);
    expect(await page.getByTestId('who').textContent()).to.contain(owner);
    const [cookie, ...others] = await context.cookies();
    expect(others).to.have.length(0);
    expect(cookie).to.include({
      name: '__Host-ota_session',
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/',
    });
    expect(cookie!.expires).to.be.greaterThan(Date.now() / 1000);
    // The page's scripts cannot read it.
    expect(await page.evaluate('document.cookie')).to.equal('');
    expect((await audit('session.signin')).some((r) => r.actor === owner && r.outcome === 'ok')).to.equal(true);
    await context.close();
  });

  it('a second owner approves on the release page, with a reason, and the rollout moves', async () => {
    const { context, page } = await signedIn(owner, ['release-owner', 'operator']);
    await page.goto(`${dashboard}${RELEASE_PAGE}`);
    await page.getByTestId('stage').filter({ hasText: 'approval' }).waitFor();
    await act(page, 'Approve', 'checked the validation report');
    await page.getByTestId('percent').filter({ hasText: '10%' }).waitFor({ timeout: 30_000 });
    const status = await releaseStatus(await temporalClient(), { channel: CHANNEL, version: VERSION });
    expect(status.approvals.map((a) => [a.approver, a.comment])).to.deep.include([
      owner,
      'checked the validation report',
    ]);
    expect(status.percent).to.equal(10);
    const entry = (await audit('release.approve')).find((r) => r.subject === `${CHANNEL}/${VERSION}`);
    expect(entry).to.include({ actor: owner, outcome: 'ok', reason: 'checked the validation report' });
    // The stages show where it is; the timeline shows who approved.
    await page.getByTestId('stages').locator('[aria-current=step]').filter({ hasText: 'rollout' }).waitFor();
    expect(await page.getByTestId('timeline').textContent()).to.contain(`approve by ${owner}`);
    await context.close();
  });

  it('pauses and resumes, each with a reason, shown within 2 s and audited', async () => {
    const client = await temporalClient();
    await waitForStatus(client, { channel: CHANNEL, version: VERSION }, (s) => s.stage === 'rollout');
    const { context, page } = await signedIn(owner, ['release-owner', 'operator']);
    await page.goto(`${dashboard}${RELEASE_PAGE}`);
    await act(page, 'Pause', 'investigating a report');
    expect((await releaseStatus(client, { channel: CHANNEL, version: VERSION })).paused).to.equal(true);
    await page.getByTestId('paused').filter({ hasText: 'yes' }).waitFor({ timeout: 2000 });
    await act(page, 'Resume', 'report explained');
    expect((await releaseStatus(client, { channel: CHANNEL, version: VERSION })).paused).to.equal(false);
    await page.getByTestId('paused').filter({ hasText: 'no' }).waitFor({ timeout: 2000 });
    expect((await audit('release.pause')).find((r) => r.subject === `${CHANNEL}/${VERSION}`)).to.include({
      actor: owner,
      reason: 'investigating a report',
      outcome: 'ok',
    });
    expect((await audit('release.resume')).find((r) => r.subject === `${CHANNEL}/${VERSION}`)).to.include({
      actor: owner,
      reason: 'report explained',
      outcome: 'ok',
    });

    // A change made elsewhere (the CLI's API) reaches an open page by itself within 2 s.
    const api = `/v1/admin/releases/${CHANNEL}/${VERSION}`;
    const ops = await adminApi();
    try {
      await ops.send('POST', `${api}/pause`, { reason: 'paused from the CLI' });
      const t0 = Date.now();
      await page.getByTestId('paused').filter({ hasText: 'yes' }).waitFor({ timeout: 2000 });
      console.log(`      (the open page showed the CLI's pause after ${Date.now() - t0} ms)`);
      await ops.send('POST', `${api}/resume`, { reason: 'resumed from the CLI' });
    } finally {
      await ops.close();
    }
    await context.close();
  });

  it('the adoption and health charts show the numbers the API reports', async () => {
    const status = await releaseStatus(await temporalClient(), { channel: CHANNEL, version: VERSION });
    // Three devices of the channel report the release installed and healthy, over mutual TLS.
    for (const id of ['dash-dev-1', 'dash-dev-2', 'dash-dev-3']) {
      const fetch = await deviceFetch(id, CHANNEL);
      const res = await fetch(`${testConfig().api.url}/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          await signedReport({
            deviceId: id,
            version: VERSION,
            targetName: status.target!.name,
            outcome: 'installed',
            health: 'healthy',
          }),
        ),
      });
      expect(res.status).to.equal(202);
    }
    const { context, page } = await signedIn(owner, ['release-owner', 'operator']);
    await page.goto(`${dashboard}${RELEASE_PAGE}`);
    const adoption = page.getByTestId('adoption');
    await adoption.locator('summary').click();
    // The chart's table is built from the arrays the chart draws; its last point must be the API's.
    await adoption.locator('td').filter({ hasText: VERSION }).waitFor();
    const api = await apiGet<ReleaseInsights>(`/v1/admin/releases/${CHANNEL}/${VERSION}/insights`);
    const latest = api.adoption.points.at(-1)!.versions;
    expect(latest[VERSION]).to.equal(3);
    const rows = await adoption
      .locator('tbody tr')
      .evaluateAll((trs: TableRow[]) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      );
    expect(Object.fromEntries(rows.map((r) => [r[1], Number(r[2])]))).to.deep.equal(latest);
    // The canvas was drawn (not blank).
    const drawn = await page.evaluate(
      `(() => { const c = document.querySelector('[data-testid=adoption] canvas'); return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v !== 0); })()`,
    );
    expect(drawn).to.equal(true);

    const health = page.getByTestId('health');
    await health.locator('summary').click();
    const healthRows = await health
      .locator('tbody tr')
      .evaluateAll((trs: TableRow[]) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      );
    expect(healthRows.map((r) => [r[0], Number(r[1])])).to.deep.equal(
      api.steps.map((s) => [`${s.percent}%`, s.stats.healthy]),
    );
    expect(api.steps[0]!.stats.healthy).to.equal(3);
    expect(await page.getByTestId('gate').textContent()).to.match(/^Step 1 of 2 \(10%\)/);

    await mkdir(join(testConfig().home, 'screenshots'), { recursive: true });
    await page.screenshot({ path: join(testConfig().home, 'screenshots', 'release.png'), fullPage: true });
    await page.goto(`${dashboard}#/fleet?channel=${CHANNEL}`);
    await page.getByTestId('total').waitFor();
    await page.screenshot({ path: join(testConfig().home, 'screenshots', 'fleet.png'), fullPage: true });
    await context.close();
  });

  it('is readable 390 px wide: nothing scrolls the page sideways', async () => {
    const { context, page } = await signedIn(owner, ['release-owner', 'operator'], 390);
    for (const hash of [RELEASE_PAGE, '#/releases', '#/fleet', '#/devices/dash-dev-1', '#/audit', '#/metadata']) {
      // The page before this one gone, this one's first data shown (tables and charts are
      // what could overflow): main is no longer busy.
      const previous = await page.$('main');
      await page.goto(`${dashboard}${hash}`);
      await previous?.waitForElementState('hidden');
      await page.locator('main[aria-busy="false"] h1').waitFor();
      const width = await page.evaluate('document.documentElement.scrollWidth');
      expect(width, hash).to.be.at.most(390);
    }
    await context.close();
  });

  it('a viewer sees no action buttons, and a forged POST with the viewer session is refused', async () => {
    const { context, page } = await signedIn(viewer, ['viewer']);
    await page.goto(`${dashboard}${RELEASE_PAGE}`);
    // The first status shown: the buttons are drawn with it (web/pages/releasePage.ts showStatus).
    await page.locator('main[aria-busy="false"]').getByTestId('stage').waitFor();
    expect(await page.getByTestId('actions').getByRole('button').count()).to.equal(0);
    // The viewer's own page, with the session's CSRF token: the role still decides.
    const forged = await page.evaluate(async (path) => {
      const session = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
      const res = await fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
        body: JSON.stringify({ reason: 'forged' }),
      });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    }, `/v1/admin/releases/${CHANNEL}/${VERSION}/rollback`);
    expect(forged.status).to.equal(403);
    expect(forged.body.error.code).to.equal('FORBIDDEN');
    expect((await releaseStatus(await temporalClient(), { channel: CHANNEL, version: VERSION })).stage).to.equal(
      'rollout',
    );
    expect(await refusedAt(viewer, `/v1/admin/releases/${CHANNEL}/${VERSION}/rollback`)).to.have.length(1);
    await context.close();
  });

  describe('cross-site requests', () => {
    let evil: Server;
    let evilOrigin: string;
    before(async () => {
      // An attacker's page: http and another port, so another site to the browser
      // (schemeful same-site), which then must not send the SameSite=Strict cookie.
      evil = createServer((_req, res) => {
        const target = `${testConfig().api.url}/v1/admin/releases/${CHANNEL}/${VERSION}/pause`;
        res.setHeader('content-type', 'text/html');
        res.end(
          `<form id="f" method="POST" action="${target}" enctype="text/plain"><input name='{"reason":"csrf","x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`,
        );
      });
      await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
      evilOrigin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    });
    after(() => evil.close());

    it('refuses a change without the CSRF token, from another origin, or from a page of another site', async () => {
      const { context } = await signedIn(owner, ['release-owner', 'operator']);
      const pause = `${testConfig().api.url}/v1/admin/releases/${CHANNEL}/${VERSION}/pause`;
      // The session cookie alone (what a browser adds to any request) is not enough.
      const bare = await context.request.post(pause, { data: { reason: 'no token' } });
      expect(bare.status()).to.equal(403);
      expect((await refusalOf(bare)).code).to.equal('CSRF_REFUSED');
      // The right token from another origin is refused too.
      const csrf = (
        (await (await context.request.get(`${testConfig().api.url}/v1/session`)).json()) as { csrfToken: string }
      ).csrfToken;
      const foreign = await context.request.post(pause, {
        data: { reason: 'foreign' },
        headers: { 'x-csrf-token': csrf, origin: evilOrigin },
      });
      expect(foreign.status()).to.equal(403);
      expect((await refusalOf(foreign)).code).to.equal('CSRF_REFUSED');
      // A page elsewhere that auto-submits a form to the API, in the signed-in browser.
      const attacker = await context.newPage();
      const answered = attacker.waitForResponse((r) => r.url() === pause);
      await attacker.goto(evilOrigin);
      const response = await answered;
      expect(response.status()).to.be.oneOf([401, 403]);
      expect((await releaseStatus(await temporalClient(), { channel: CHANNEL, version: VERSION })).paused).to.equal(
        false,
      );
      const path = `/v1/admin/releases/${CHANNEL}/${VERSION}/pause`;
      expect((await refusedAt(owner, path)).map((r) => r.detail)).to.deep.equal(['HTTP 403', 'HTTP 403']);
      expect((await refusedAt('anonymous', path)).map((r) => r.detail)).to.deep.equal([`HTTP ${response.status()}`]);
      await context.close();
    });
  });

  it('sign-out ends the session on the server, not only in the browser', async () => {
    const { context, page } = await signedIn(viewer, ['viewer']);
    const cookie = (await context.cookies())[0]!;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Operator token').waitFor();
    expect(await context.cookies()).to.have.length(0);
    // The old cookie value, replayed by hand, no longer names anyone.
    const replay = await browser.newContext({ ignoreHTTPSErrors: true });
    const res = await replay.request.get(`${testConfig().api.url}/v1/admin/whoami`, {
      headers: { cookie: `${cookie.name}=${cookie.value}` },
    });
    expect(res.status()).to.equal(401);
    expect((await audit('session.signout')).some((r) => r.actor === viewer && r.outcome === 'ok')).to.equal(true);
    await replay.close();
    await context.close();
  });

  it('a sign-out that fails says so, keeps trying, and shows the sign-in page only once the session ended', async () => {
    const { context, page } = await signedIn(viewer, ['viewer']);
    const cookie = (await context.cookies())[0]!;
    const signOuts = async () =>
      (await audit('session.signout')).filter((r) => r.actor === viewer && r.outcome === 'ok').length;
    const signedOutBefore = await signOuts();
    const replay = await browser.newContext({ ignoreHTTPSErrors: true });
    const whoami = async () =>
      (
        await replay.request.get(`${testConfig().api.url}/v1/admin/whoami`, {
          headers: { cookie: `${cookie.name}=${cookie.value}` },
        })
      ).status();
    // The browser's sign-out requests: the first gets no answer (the API unreachable), the
    // next a 503 (the API up but its store down), until the test lets them through.
    let attempts = 0;
    let blocked = true;
    await page.route('**/v1/session', async (route) => {
      if (route.request().method() !== 'DELETE') return route.continue();
      attempts++;
      if (!blocked) return route.continue();
      if (attempts === 1) return route.abort('connectionrefused');
      return route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'the fleet store cannot be reached' } }),
      });
    });

    await page.getByRole('button', { name: 'Sign out' }).click();
    const status = page.getByTestId('sign-out');
    await status.filter({ hasText: 'Sign-out failed (the API could not be reached)' }).waitFor();
    // Tried again, with the next failure shown: the page still says who is signed in, no sign-in form.
    await status.filter({ hasText: 'Sign-out failed (UNAVAILABLE' }).waitFor();
    expect(await status.getAttribute('role')).to.equal('alert');
    expect(await status.textContent()).to.contain('still signed in on the server');
    expect(await page.getByLabel('Operator token').count()).to.equal(0);
    expect(await page.getByTestId('who').textContent()).to.contain(viewer);
    // What the page says is true: the server still holds the session.
    expect(await whoami()).to.equal(200);

    blocked = false;
    await page.getByLabel('Operator token').waitFor({ timeout: 60_000 });
    expect(attempts).to.be.at.least(3);
    expect(await whoami()).to.equal(401);
    expect(await context.cookies()).to.have.length(0);
    expect(await signOuts()).to.equal(signedOutBefore + 1);
    await replay.close();
    await context.close();
  });
});
