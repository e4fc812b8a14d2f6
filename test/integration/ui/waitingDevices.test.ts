import { expect } from 'chai';
import type { Browser } from 'playwright-core';

import { waitForStatus } from '../../../control/releases';
import { launchBrowser } from '../../../scripts/lib/browser';
import {
  approve,
  deviceFetch,
  operatorToken,
  releaseAwaitingApproval,
  signedReport,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';

const CHANNEL = 'dashwait';
const VERSION = '1.0.0';

/** A table row as the page function below reads it (this project compiles without the DOM types). */
interface TableRow {
  querySelectorAll(selectors: 'td'): Iterable<{ textContent: string | null }>;
}

/**
 * The release page in a real browser explains a slow step: how many devices wait for an
 * install window or are not ready, and the release's signed windows, while the gate waits.
 */
describe('the dashboard shows devices that wait', function () {
  this.timeout(180_000);
  let browser: Browser;

  before(async () => {
    browser = await launchBrowser();
    await operatorToken('dashwait-creator');
    await releaseAwaitingApproval(CHANNEL, VERSION, {
      as: 'dashwait-creator',
      steps: '100',
      bake: '0s',
      minDevices: 1,
      maxFailureRate: 0,
      flags: ['--window', 'sat,sun 02:00 3h Europe/Berlin'],
    });
    await approve(CHANNEL, VERSION);
  });
  after(async () => {
    await browser?.close();
  });

  it('counts them by reason beside the gate, which keeps waiting', async () => {
    const status = await waitForStatus(
      await temporalClient(),
      { channel: CHANNEL, version: VERSION },
      stepPublished(100),
    );
    const reasons = { 'dw-1': 'window', 'dw-2': 'window', 'dw-3': 'not-ready' } as const;
    for (const [id, waitReason] of Object.entries(reasons)) {
      const fetch = await deviceFetch(id, CHANNEL);
      const res = await fetch(`${testConfig().api.url}/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          await signedReport({
            deviceId: id,
            version: '0.0.1',
            targetName: status.target!.name,
            outcome: 'waiting',
            waitReason,
            errorCode: waitReason === 'window' ? 'INSTALL_WINDOW_CLOSED' : 'DEVICE_NOT_READY',
          }),
        ),
      });
      expect(res.status).to.equal(202);
    }
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${testConfig().api.url}/dashboard/`);
    await page.getByLabel('Operator token').fill(await operatorToken('dashwait-viewer', ['viewer']));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    await page.goto(`${testConfig().api.url}/dashboard/#/releases/${CHANNEL}/${VERSION}`);
    const waiting = page.getByTestId('waiting');
    await waiting.waitFor();
    expect(await waiting.textContent()).to.equal(
      'Waiting: 2 wait for an install window, 1 not ready (not failures: the gate does not count them).',
    );
    const devices = page.getByTestId('devices');
    const head = await devices.locator('th').allTextContents();
    const [row] = await devices
      .locator('tbody tr')
      .evaluateAll((trs: TableRow[]) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(Object.fromEntries(head.map((name, i) => [name, Number(row?.[i])]))).to.deep.include({
      devices: 3,
      failed: 0,
      refused: 0,
      'wait for a window': 2,
      'not ready': 1,
      metered: 0,
    });
    expect(await devices.textContent()).to.include('sat,sun 02:00 for 180 min (Europe/Berlin)');
    // Three reports, none a failure: the gate still waits for its one health report.
    expect(await page.getByTestId('gate').textContent()).to.match(/is waiting: 0 of the 1 devices/);
    await context.close();
  });
});
