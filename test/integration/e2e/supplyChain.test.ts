import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { checkReleaseDocument } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { ComponentMatch } from '../../../common/adminApi';
import { waitForStatus } from '../../../control/releases';
import { Storage } from '../../../infra/storage';
import { launchBrowser } from '../../../scripts/lib/browser';
import {
  adminApi,
  approve,
  deviceFetch,
  type ErrorAnswer,
  operatorToken,
  ota,
  signedReport,
  temporalClient,
  testConfig,
  tryCreateRelease,
} from '../helpers';

const CHANNEL = 'sbomc';

/** A target's custom fields as the repository's newest signed targets (flat layout) hold them. */
async function signedCustom(repo: 'release' | 'rollout', name: string): Promise<unknown> {
  const storage = new Storage(testConfig().minio);
  const read = async (key: string) =>
    JSON.parse((await storage.getBytes('metadata', `${repo}/${key}`, 1 << 24))!.toString()) as {
      signed: { meta: Record<string, { version: number }>; targets: Record<string, { custom: unknown }> };
    };
  const timestamp = await read('timestamp.json');
  const snapshot = await read(`${timestamp.signed.meta['snapshot.json']!.version}.snapshot.json`);
  const targets = await read(`${snapshot.signed.meta['targets.json']!.version}.targets.json`);
  return targets.signed.targets[name]?.custom;
}

/** Two files under the test's builds folder: a CycloneDX SBOM and an in-toto statement about `sha256`. */
async function documents(sha256: string, openssl: string): Promise<{ sbom: string; provenance: string }> {
  const dir = join(testConfig().home, 'builds');
  await mkdir(dir, { recursive: true });
  const sbom = join(dir, `sbom-${openssl}.json`);
  const provenance = join(dir, `provenance-${sha256.slice(0, 8)}.json`);
  await writeFile(
    sbom,
    JSON.stringify({
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      version: 1,
      components: [
        { type: 'library', name: 'openssl', version: openssl, purl: `pkg:deb/debian/openssl@${openssl}` },
        { type: 'library', name: 'zlib', version: '1.3' },
      ],
    }),
  );
  await writeFile(
    provenance,
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'fw.bin', digest: { sha256 } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: { buildDefinition: { buildType: 'https://example.com/ci' }, runDetails: {} },
    }),
  );
  return { sbom, provenance };
}

/** `ota release create` on the test channel with these documents. */
function create(version: string, files: { bytes?: Buffer; sbom?: string; provenance?: string }) {
  return tryCreateRelease(CHANNEL, version, {
    as: 'sbom-creator',
    ...(files.bytes ? { bytes: files.bytes } : {}),
    flags: [
      ...(files.sbom ? ['--sbom', files.sbom] : []),
      ...(files.provenance ? ['--provenance', files.provenance] : []),
    ],
  });
}

describe('SBOM and provenance per release', () => {
  it('signs both documents into the target in both repositories; a device checks them; components find the devices', async () => {
    const bytes = randomBytes(64 * 1024);
    const files = await documents(createHash('sha256').update(bytes).digest('hex'), '3.0.13');
    const created = await create('1.0.0', { bytes, ...files });
    expect(created.code, created.stdout + created.stderr).to.equal(0);
    await waitForStatus(await temporalClient(), { channel: CHANNEL, version: '1.0.0' }, (s) => s.stage === 'approval');
    await approve(CHANNEL, '1.0.0');
    const status = await waitForStatus(
      await temporalClient(),
      { channel: CHANNEL, version: '1.0.0' },
      (s) => s.stage === 'stable',
    );
    const name = status.target!.name;

    const api = await adminApi();
    try {
      for (const kind of ['sbom', 'provenance'] as const) {
        const ref = (status.target!.custom.documents ?? {})[kind]!;
        const bytesBack = await api.getBytes(`/v1/admin/documents/${ref.sha256}`);
        for (const repo of ['release', 'rollout'] as const) {
          const custom = await signedCustom(repo, name);
          expect(checkReleaseDocument(custom, kind, bytesBack), `${kind} in ${repo}`).to.deep.equal(ref);
        }
      }
    } finally {
      await api.close();
    }
    expect(status.target!.custom.documents).to.deep.include({
      sbom: { ...status.target!.custom.documents!.sbom, format: 'cyclonedx' },
    });

    // Two devices of the channel run 1.0.0 (they reported it), one still runs something else.
    for (const [id, version] of [
      ['sbom-dev-1', '1.0.0'],
      ['sbom-dev-2', '1.0.0'],
      ['sbom-dev-3', '0.9.0'],
    ] as const) {
      const fetch = await deviceFetch(id, CHANNEL);
      const res = await fetch(`${testConfig().api.url}/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(await signedReport({ deviceId: id, version, outcome: 'installed' })),
      });
      expect(res.status).to.equal(202);
    }
    const below = await ota('fleet', 'components', '--name', 'OpenSSL', '--version-below', '3.0.14', '--json');
    expect(below.code, below.stderr).to.equal(0);
    const found = (below.json as ComponentMatch[]).filter((m) => m.channel === CHANNEL);
    expect(found).to.deep.equal([
      {
        channel: CHANNEL,
        version: '1.0.0',
        component: { name: 'openssl', version: '3.0.13', purl: 'pkg:deb/debian/openssl@3.0.13' },
        devices: 2,
      },
    ]);
    const patched = await ota('fleet', 'components', '--name', 'openssl', '--version-below', '3.0.13', '--json');
    expect((patched.json as ComponentMatch[]).filter((m) => m.channel === CHANNEL)).to.deep.equal([]);
  });

  it('refuses a malformed SBOM, and provenance about another artifact, with a clear error and no release', async () => {
    await mkdir(join(testConfig().home, 'builds'), { recursive: true });
    const broken = join(testConfig().home, 'builds', 'broken-sbom.json');
    await writeFile(
      broken,
      JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', components: [{ name: 'x' }] }),
    );
    const refused = await create('2.0.0', { sbom: broken });
    expect(refused.code).to.equal(2);
    expect((refused.json as ErrorAnswer).error).to.include({ code: 'INVALID_INPUT' });
    expect((refused.json as ErrorAnswer).error.message).to.match(/CycloneDX 1\.5/);
    const listed = await ota('release', 'status', '2.0.0', '--channel', CHANNEL, '--json');
    expect((listed.json as ErrorAnswer).error.code).to.equal('NOT_FOUND');

    const other = await documents('cd'.repeat(32), '3.0.15');
    const created = await create('2.0.0', { provenance: other.provenance });
    expect(created.code, created.stderr).to.equal(0);
    const failed = await waitForStatus(
      await temporalClient(),
      { channel: CHANNEL, version: '2.0.0' },
      (s) => s.stage === 'failed',
    );
    expect(failed.error).to.include({ code: 'VALIDATION_FAILED' });
    expect(failed.error?.message).to.match(/provenance names no artifact/);
  });

  it("takes an SPDX SBOM that SPDX's own validator accepts, and refuses one it does not, with its reason", async () => {
    const dir = join(testConfig().home, 'builds');
    await mkdir(dir, { recursive: true });
    const spdx = (relatedSpdxElement: string) => ({
      spdxVersion: 'SPDX-2.3',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: 'image',
      dataLicense: 'CC0-1.0',
      documentNamespace: `https://example.com/spdx/${relatedSpdxElement}`,
      creationInfo: { created: '2026-12-07T10:00:00Z', creators: ['Tool: test'] },
      packages: [
        { SPDXID: 'SPDXRef-busybox', name: 'busybox', versionInfo: '1.36.1', downloadLocation: 'NOASSERTION' },
      ],
      relationships: [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement }],
    });
    const good = join(dir, 'sbom-spdx.json');
    const dangling = join(dir, 'sbom-spdx-dangling.json');
    await writeFile(good, JSON.stringify(spdx('SPDXRef-busybox')));
    await writeFile(dangling, JSON.stringify(spdx('SPDXRef-nothing')));

    const refused = await create('3.0.0', { sbom: dangling });
    expect(refused.code).to.equal(2);
    expect((refused.json as ErrorAnswer).error).to.include({ code: 'INVALID_INPUT' });
    expect((refused.json as ErrorAnswer).error.message)
      .to.contain('spdx-tools')
      .and.contain('SPDXRef-nothing');
    const listed = await ota('release', 'status', '3.0.0', '--channel', CHANNEL, '--json');
    expect((listed.json as ErrorAnswer).error.code).to.equal('NOT_FOUND');

    const created = await create('3.0.0', { sbom: good });
    expect(created.code, created.stdout + created.stderr).to.equal(0);
    const found = await ota('fleet', 'components', '--name', 'busybox', '--json');
    expect(JSON.stringify(found.json)).to.contain('3.0.0');
  });

  it('in the dashboard: the component search finds the release and its devices; the SBOM downloads as signed', async () => {
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
      const page = await context.newPage();
      await page.goto(`${testConfig().api.url}/dashboard/#/fleet`);
      await page.getByLabel('Operator token').fill(await operatorToken('sbom-viewer', ['viewer']));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByLabel('Component').fill('openssl');
      await page.getByLabel('Version below').fill('3.0.14');
      await page.getByRole('button', { name: 'Find' }).click();
      const row = page
        .getByRole('table', { name: 'Releases with the component' })
        .getByRole('row')
        .filter({ hasText: `${CHANNEL} 1.0.0` });
      await row.waitFor(); // the rows come with the search's answer
      expect(await row.locator('td').allTextContents()).to.deep.equal([`${CHANNEL} 1.0.0`, 'openssl', '3.0.13', '2']);

      await row.getByRole('link').click();
      const waiting = page.waitForEvent('download');
      await page.getByTestId('document-sbom').click();
      const file = await (await waiting).path();
      const status = await waitForStatus(
        await temporalClient(),
        { channel: CHANNEL, version: '1.0.0' },
        (s) => s.stage === 'stable',
      );
      const custom = await signedCustom('release', status.target!.name);
      expect(checkReleaseDocument(custom, 'sbom', await readFile(file)).format).to.equal('cyclonedx');
    } finally {
      await browser.close();
    }
  });
});
