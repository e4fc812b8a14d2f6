import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { policyOf } from '../../../cli/logCommands';
import { readTar, writeTar } from '../../../common/tar';
import { waitForStatus } from '../../../control/releases';
import { launchBrowser } from '../../../scripts/lib/browser';
import { checkEvidence, type EvidenceAccount, type EvidencePins } from '../../../transparency/evidenceCheck';
import { EVIDENCE_LIMITS } from '../../../transparency/evidenceFormat';
import { selfSignedCertificate } from '../../fixtures/receipts';
import {
  approve,
  device,
  operatorToken,
  ota,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';

const CHANNEL = 'evidence';

/** The auditor's pins, from the stack's ceremony folder (what `ota evidence verify` reads by default). */
async function pins(): Promise<EvidencePins> {
  const config = testConfig();
  const roots = {} as Record<RepositoryName, Buffer>;
  for (const repo of REPOSITORIES) roots[repo] = await readFile(join(config.ceremonyDir, `${repo}-root.json`));
  return {
    policy: await policyOf({}, config),
    fleetCa: new X509Certificate(await readFile(config.identity.fleetCaCert)),
    roots,
  };
}

/** A self-signed CA certificate nobody pinned: what a forger would sign device certificates with. */
function otherCa(): X509Certificate {
  return new X509Certificate(selfSignedCertificate('Enigm OTA fleet CA').der);
}

/** The verdict on an archive: ok, or why not (a finding's code, or the refusal thrown). */
function verdict(archive: Buffer, p: EvidencePins): string {
  try {
    const a = checkEvidence(archive, p);
    return a.ok ? 'ok' : a.findings.map((f) => f.code).join(',');
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).constructor.name;
  }
}

/**
 * ADR 0080: a release's evidence, exported by the API, checked offline against the auditor's
 * own pins: the metadata that authorized it, the approval, the gate's decision and the device
 * receipts it counted, every byte in the transparency log.
 */
describe('Release evidence, checked offline', function () {
  this.timeout(300_000);
  let file: string;
  let archive: Buffer;

  before(async () => {
    await releaseAwaitingApproval(CHANNEL, '1.0.0', { steps: '100', bake: '2s', minDevices: 2 });
    await approve(CHANNEL, '1.0.0');
    const client = await temporalClient();
    await waitForStatus(client, { channel: CHANNEL, version: '1.0.0' }, stepPublished(100));
    for (const id of ['ev-1', 'ev-2']) {
      const agent = await device(id, CHANNEL);
      expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
    }
    await waitForStatus(client, { channel: CHANNEL, version: '1.0.0' }, (s) => s.stage === 'stable');
    const dir = join(testConfig().home, 'evidence');
    await mkdir(dir, { recursive: true });
    file = join(dir, 'evidence-1.0.0.tar');
    const exported = await ota('release', 'evidence', '1.0.0', '--channel', CHANNEL, '--out', file, '--json');
    expect(exported.code, exported.stderr).to.equal(0);
    archive = await readFile(file);
  });

  it('`ota evidence verify` accounts for the approval, the gate and every receipt it counted', async () => {
    const checked = await ota('evidence', 'verify', file, '--json');
    expect(checked.code, checked.stdout + checked.stderr).to.equal(0);
    const a = checked.json as EvidenceAccount;
    expect(a.ok).to.equal(true);
    expect(a.receipts).to.deep.equal({ total: 2, verified: 2 });
    expect(a.metadata.map((m) => m.repository)).to.deep.equal(['release', 'rollout']);
    for (const m of a.metadata) expect(m.targets.length, m.repository).to.be.greaterThan(0);
    expect(a.decisions.find((d) => d.type === 'release.approved')?.detail).to.include({ approver: 'test-owner' });
    const stable = a.decisions.find((d) => d.type === 'release.stable');
    expect(stable?.counted).to.deep.equal({ devices: 2, healthy: 2, reverted: 0 });
    const human = await ota('evidence', 'verify', file);
    expect(human.stdout).to.contain('evidence verified').and.contain('approved by test-owner');
    expect(human.stdout).to.contain('receipts: 2 of 2 signed by devices the fleet CA certified');
  });

  it("fails on any altered byte, and against pins that are not the fleet's", async () => {
    const p = await pins();
    expect(verdict(archive, p)).to.equal('ok');
    // Bytes spread over the whole file, each changed alone.
    const step = Math.max(1, Math.floor(archive.length / 150));
    for (let i = 0; i < archive.length; i += step) {
      const changed = Buffer.from(archive);
      changed[i] = changed[i]! ^ 0x01;
      expect(verdict(changed, p), `byte ${i} of ${archive.length}`).to.not.equal('ok');
    }
    // A receipt rewritten to say reverted, in a well-formed archive: its proof no longer holds.
    const files = readTar(archive, EVIDENCE_LIMITS);
    const receipt = [...files.keys()].find((k) => k.startsWith('receipts/'))!;
    const rewritten = new Map(files).set(receipt, Buffer.from(files.get(receipt)!.toString().replace('"at"', '"at" ')));
    const rebuilt = writeTar([...rewritten].map(([name, bytes]) => ({ name, bytes })));
    expect(verdict(rebuilt, p)).to.equal('EVIDENCE_PROOF_INVALID');
    // A file added that the manifest does not list.
    const extra = writeTar(
      [...files, ['events/999999.json', Buffer.from('{}')] as const].map(([name, bytes]) => ({ name, bytes })),
    );
    expect(verdict(extra, p)).to.equal('EVIDENCE_UNLISTED');
    // Another fleet CA: no receipt checks. Another first root: no metadata chains.
    expect(verdict(archive, { ...p, fleetCa: otherCa() })).to.equal(
      'EVIDENCE_RECEIPT_INVALID,EVIDENCE_RECEIPT_INVALID',
    );
    const roots = { ...p.roots, release: p.roots.rollout };
    expect(verdict(archive, { ...p, roots })).to.match(/^EVIDENCE_METADATA_INVALID/);
  });

  it('refuses to verify without its pins, and refuses a file that is not evidence', async () => {
    const noCa = await ota('evidence', 'verify', file, '--fleet-ca', join(testConfig().home, 'absent.pem'));
    expect(noCa.code).to.not.equal(0);
    expect(noCa.stderr).to.contain('no fleet CA certificate');
    const junk = join(testConfig().home, 'evidence', 'junk.tar');
    await writeFile(junk, Buffer.from('not a tar'));
    const refused = await ota('evidence', 'verify', junk);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.contain('is not an evidence file');
    // Too large to be one: refused before it is read (a sparse file: no disk is spent).
    const huge = join(testConfig().home, 'evidence', 'huge.tar');
    await writeFile(huge, '');
    await truncate(huge, EVIDENCE_LIMITS.maxBytes + 1);
    const tooLarge = await ota('evidence', 'verify', huge);
    expect(tooLarge.code).to.not.equal(0);
    expect(tooLarge.stderr).to.contain(`over ${EVIDENCE_LIMITS.maxBytes} bytes`);
  });

  it('the dashboard links a release page to its evidence file', async () => {
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
      const page = await context.newPage();
      await page.goto(`${testConfig().api.url}/dashboard/#/releases/${CHANNEL}/1.0.0`);
      await page.getByLabel('Operator token').fill(await operatorToken('evidence-viewer', ['viewer']));
      await page.getByRole('button', { name: 'Sign in' }).click();
      const waiting = page.waitForEvent('download');
      await page.getByTestId('evidence').click();
      const download = await (await waiting).path();
      expect(verdict(await readFile(download), await pins())).to.equal('ok');
    } finally {
      await browser.close();
    }
  });
});
