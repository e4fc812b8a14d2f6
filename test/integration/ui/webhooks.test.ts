import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { launchBrowser } from '../../../scripts/lib/browser';
import { waitFor } from '../../wait';
import { deviceFetch, operatorToken, ota, testConfig } from '../helpers';
import { firstArrivals, type Receiver, startReceiver, verifiedEvents } from '../receivers';

/**
 * Webhooks in the dashboard, in Debian's Chromium against the live stack: an admin adds one
 * (the secret shown once signs what a receiver process gets), reads its delivery log, sends an
 * event again (same id), removes it; a viewer is told only admins manage them.
 */
describe('webhooks in the dashboard', function () {
  this.timeout(180_000);
  let browser: Browser;
  let receiver: Receiver;
  const contexts: BrowserContext[] = [];

  before(async () => {
    browser = await launchBrowser();
    receiver = await startReceiver();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await receiver?.stop();
  });

  async function signedIn(name: string, roles: string[]): Promise<Page> {
    const token = await operatorToken(name, roles);
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${testConfig().api.url}/dashboard/#/webhooks`);
    await page.getByLabel('Operator token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    return page;
  }

  it('adds a webhook whose shown secret signs the events, shows its deliveries, sends one again, removes it', async () => {
    const page = await signedIn('hook-admin', ['admin']);
    await page.getByLabel('URL').fill(receiver.url);
    await page.getByLabel('Events').fill('device.*');
    await page.getByLabel('Channel').fill('uihooks');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secret = (await page.getByTestId('webhook-secret').locator('code').textContent()) ?? '';
    expect(secret).to.match(/^whsec_/);
    const row = page
      .getByRole('table', { name: 'Webhook subscriptions' })
      .getByRole('row')
      .filter({ hasText: receiver.url });
    await row.waitFor();

    await deviceFetch('ui-hook-device', 'uihooks');
    expect((await ota('device', 'revoke', 'ui-hook-device', '--json')).code).to.equal(0);
    const events = await waitFor('both device events', async () => {
      const got = firstArrivals(verifiedEvents(await receiver.received(), secret));
      return got.length >= 2 && got;
    });
    expect(events.map((e) => e.type)).to.deep.equal(['dev.enigm-ota.device.enrolled', 'dev.enigm-ota.device.revoked']);

    await row.getByRole('link', { name: 'Deliveries' }).click();
    const log = page.getByRole('table', { name: 'Deliveries' });
    await log.getByRole('row').filter({ hasText: 'device.revoked' }).filter({ hasText: 'delivered' }).waitFor();
    const before = (await receiver.received()).length;
    await log
      .getByRole('row')
      .filter({ hasText: 'device.revoked' })
      .getByRole('button', { name: 'Send again' })
      .click();
    await page.getByRole('dialog').getByRole('button', { name: 'Send again' }).click();
    const again = await waitFor('the event sent again', async () => {
      const got = verifiedEvents(await receiver.received(), secret);
      return got.length > before && got.at(-1);
    });
    expect(again.id, 'the same idempotency key').to.equal(events[1]!.id);

    await page.getByRole('link', { name: '← Webhooks' }).click();
    await row.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await row.waitFor({ state: 'detached' });
  });

  it('tells a viewer that admins manage webhooks, and shows no subscription', async () => {
    const page = await signedIn('hook-viewer', ['viewer']);
    await page.getByText('Webhooks are managed by admins.').waitFor();
    expect(await page.getByTestId('webhooks').count()).to.equal(0);
  });
});
