import { expect } from 'chai';
import type { Browser } from 'playwright-core';

import { waitForStatus } from '../../../control/releases';
import { launchBrowser as launch } from '../../../scripts/lib/browser';
import { releaseAwaitingApproval, temporalClient, testConfig } from '../helpers';

describe('a release owner in the Temporal UI', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser.close();
  });

  it('sees the release handlers described and approves with one JSON object', async () => {
    await releaseAwaitingApproval('uiapprove', '1.0.0');
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${testConfig().temporal.uiUrl}/namespaces/default/workflows/release-uiapprove-1.0.0`);
    await page.getByRole('button', { name: /More Actions/ }).click();
    await page.getByRole('menu').first().getByText('Send an Update').click();
    const dialog = page.locator('dialog[open]');
    await dialog.getByTestId('update-select-button').click();
    const approveOption = dialog
      .getByRole('option')
      .filter({ hasText: 'Approve the release (or an approval-gated step)' });
    await approveOption.first().waitFor({ timeout: 10_000 });
    expect(await approveOption.count()).to.equal(1);
    await approveOption.click();
    await dialog.locator('.cm-content').first().click();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('{"approver": "ui-owner", "comment": "approved in the Temporal UI"}');
    // The first click may only take focus from the JSON editor (which then reformats it).
    for (let i = 0; i < 3 && (await dialog.count()) > 0; i++) {
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await page.waitForTimeout(1000);
    }

    const status = await waitForStatus(
      await temporalClient(),
      { channel: 'uiapprove', version: '1.0.0', timeoutMs: 30_000 },
      (s) => s.approvals.length > 0,
    );
    expect(status.approvals[0]).to.include({ approver: 'ui-owner', comment: 'approved in the Temporal UI' });
  });
});
