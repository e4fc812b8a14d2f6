import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { launchBrowser } from './lib/browser';
import { DEMO_PROFILE, stackEnv } from './lib/stack';

/**
 * `npm run screenshots` (after `npm start`): signs in to the running demo stack's dashboard
 * as `ops` and saves the release and fleet pages into docs/screenshots, so the pictures in
 * the docs are of the real thing and can be remade after any change.
 */
async function main(): Promise<void> {
  const env = await stackEnv(DEMO_PROFILE);
  const base = `${env['OTA_API_URL']}/dashboard/`;
  const out = join(__dirname, '..', '..', 'docs', 'screenshots');
  await mkdir(out, { recursive: true });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    await page.goto(base);
    await page.getByLabel('Operator token').fill(env['OTA_TOKEN']!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    const version = await page.getByTestId('releases').locator('tbody tr a').first().textContent();
    const shots: Array<[string, string, number]> = [
      ['release', `#/releases/demo/${version}`, 1280],
      ['fleet', '#/fleet', 1280],
      ['release-390px', `#/releases/demo/${version}`, 390],
    ];
    for (const [name, hash, width] of shots) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${base}${hash}`);
      await page.locator('main h1').waitFor();
      await page.waitForTimeout(2500);
      await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
      console.log(`docs/screenshots/${name}.png`);
    }
  } finally {
    await browser.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
