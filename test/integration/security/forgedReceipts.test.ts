import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { attestReceipt, type InstallReport, type ReceiptClaims, signReceipt } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { DeviceDetail, TargetStats } from '../../../common/adminApi';
import { waitForStatus } from '../../../control/releases';
import { createManufacturer } from '../../fixtures/manufacturer';
import {
  apiGet,
  approve,
  device,
  deviceFetch,
  deviceIdentity,
  refusalOf,
  releaseAwaitingApproval,
  signedReport,
  temporalClient,
  testConfig,
} from '../helpers';

const TARGET = 'receipts/1.0.0/fw.bin';

/** `deviceId`'s connection (its own certificate) posts `body` as a report. */
async function send(deviceId: string, body: unknown): Promise<{ status: number; code?: string; duplicate?: boolean }> {
  const fetch = await deviceFetch(deviceId, 'receipts');
  const res = await fetch(`${testConfig().api.url}/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 400) return { status: res.status, code: (await refusalOf(res)).code };
  return { status: res.status, duplicate: ((await res.json()) as { duplicate: boolean }).duplicate };
}

const healthy = (deviceId: string, reportId: string) =>
  ({
    deviceId,
    reportId,
    version: '1.0.0',
    targetName: TARGET,
    outcome: 'installed',
    health: 'healthy',
  }) satisfies InstallReport;

/** The fleet store's receipt rows of one device, as `ota log verify` reads them. */
async function receiptLeaves(deviceId: string) {
  type Row = { id: number; leaf: string; queued: boolean };
  const { rows } = await apiGet<{ rows: Row[] }>('/v1/admin/log/sources?source=receipt&limit=5000');
  return rows
    .map((r) => ({ ...r, parsed: JSON.parse(r.leaf) as { device: string; body: string; certificate: string } }))
    .filter((r) => r.parsed.device === deviceId);
}

const stats = () => apiGet<TargetStats>(`/v1/fleet/targets/stats?name=${encodeURIComponent(TARGET)}`);
const reportsOf = async (id: string) => (await apiGet<DeviceDetail>(`/v1/admin/devices/${id}`)).reports;

/**
 * S-36: a health gate counts a device only on its own signature. A compromised API client, a
 * device lying for another, or a recorded report sent again cannot add a healthy device.
 */
describe('Device-signed receipts', function () {
  this.timeout(120_000);

  before(async () => {
    await deviceFetch('rcpt-a', 'receipts');
    await deviceFetch('rcpt-b', 'receipts');
  });

  it('a report without a receipt is refused (RECEIPT_MISSING) and not stored', async () => {
    expect(await send('rcpt-a', healthy('rcpt-a', 'rcpt-a-missing'))).to.deep.equal({
      status: 403,
      code: 'RECEIPT_MISSING',
    });
    expect(await reportsOf('rcpt-a')).to.deep.equal([]);
  });

  it('a forged receipt (signed by a key that is not the certificate key) is refused and not counted', async () => {
    const forger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const report = healthy('rcpt-a', 'rcpt-a-forged');
    const r = await send('rcpt-a', { ...report, receipt: signReceipt(report, {}, forger) });
    expect(r).to.deep.equal({ status: 403, code: 'RECEIPT_SIGNATURE_INVALID' });
    expect(await stats()).to.include({ devices: 0, healthy: 0 });
  });

  it("another device's receipt is refused over this device's connection, however it is dressed", async () => {
    const ofB = await signedReport(healthy('rcpt-b', 'rcpt-b-theirs'));
    // As B's own report: the connection is A's.
    expect(await send('rcpt-a', ofB)).to.deep.equal({ status: 403, code: 'DEVICE_MISMATCH' });
    // As A's report carrying B's receipt: B's key did not sign for A's certificate.
    expect(await send('rcpt-a', { ...healthy('rcpt-a', 'rcpt-b-theirs'), receipt: ofB.receipt })).to.deep.equal({
      status: 403,
      code: 'RECEIPT_SIGNATURE_INVALID',
    });
    // A's own key signing claims about B: the receipt is not the report it came with.
    const { keyPem } = await deviceIdentity('rcpt-a');
    const lie = signReceipt(healthy('rcpt-b', 'rcpt-a-lies'), {}, keyPem);
    expect(await send('rcpt-a', { ...healthy('rcpt-a', 'rcpt-a-lies'), receipt: lie })).to.deep.equal({
      status: 403,
      code: 'RECEIPT_MISMATCH',
    });
    expect(await reportsOf('rcpt-a')).to.deep.equal([]);
    expect(await stats()).to.include({ devices: 0, healthy: 0 });
  });

  it('a receipt counts once: replayed as is it is a duplicate, under a new report id it is refused', async () => {
    const report = await signedReport(healthy('rcpt-a', 'rcpt-a-real'));
    expect(await send('rcpt-a', report)).to.deep.equal({ status: 202, duplicate: false });
    expect(await send('rcpt-a', report)).to.deep.equal({ status: 202, duplicate: true });
    expect(await send('rcpt-a', { ...report, reportId: 'rcpt-a-again' })).to.deep.equal({
      status: 403,
      code: 'RECEIPT_MISMATCH',
    });
    // A receipt for a revert cannot be turned into a healthy report either.
    const reverted = await signedReport({
      ...healthy('rcpt-b', 'rcpt-b-revert'),
      outcome: 'failed',
      health: 'reverted',
    });
    expect(await send('rcpt-b', { ...reverted, outcome: 'installed', health: 'healthy' })).to.deep.equal({
      status: 403,
      code: 'RECEIPT_MISMATCH',
    });
    expect(await stats()).to.include({ devices: 1, healthy: 1 });
    expect(await reportsOf('rcpt-a')).to.have.length(1);
  });

  it("an agent's receipt names the image it installed, the rollout timestamp it acted on, its slot and boot", async () => {
    await releaseAwaitingApproval('receipts', '1.0.0');
    await approve('receipts', '1.0.0');
    const stable = await waitForStatus(
      await temporalClient(),
      { channel: 'receipts', version: '1.0.0' },
      (s) => s.stage === 'stable',
    );
    const agent = await device('rcpt-agent', 'receipts');
    expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
    const leaves = await receiptLeaves('rcpt-agent');
    expect(leaves).to.have.length(1);
    const claims = JSON.parse(Buffer.from(leaves[0]!.parsed.body, 'base64').toString('utf8')) as ReceiptClaims;
    expect(claims).to.include({
      deviceId: 'rcpt-agent',
      outcome: 'installed',
      health: 'healthy',
      version: '1.0.0',
      targetName: stable.target!.name,
      sha256: stable.target!.sha256,
      slot: 'b',
    });
    expect(claims.timestampVersion).to.be.a('number').and.at.least(1);
    expect(Date.parse(claims.bootTime!)).to.be.below(Date.now());
  });

  it("a co-signature by the device's attestation key is checked and kept; another's is refused", async () => {
    const maker = createManufacturer();
    const file = testConfig().identity.manufacturerRoots!;
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, maker.roots.join('\n'));
    const keyOf = (id: { privateKeyPem: string; certChain: string[] }) => ({
      privateKeyPem: id.privateKeyPem,
      certChain: id.certChain,
    });
    const attested = async (reportId: string, key: ReturnType<typeof keyOf>) => {
      const signed = await signedReport(healthy('rcpt-b', reportId));
      return { ...signed, receipt: attestReceipt(signed.receipt, key) };
    };
    const own = keyOf(maker.issueDevice('rcpt-b'));
    expect(await send('rcpt-b', await attested('rcpt-b-attested', own))).to.deep.equal({
      status: 202,
      duplicate: false,
    });
    const stranger = keyOf(createManufacturer('Unknown Maker').issueDevice('rcpt-b'));
    expect(await send('rcpt-b', await attested('rcpt-b-stranger', stranger))).to.deep.equal({
      status: 403,
      code: 'ATTESTATION_CHAIN_INVALID',
    });
    const othersKey = keyOf(maker.issueDevice('rcpt-a'));
    expect(await send('rcpt-b', await attested('rcpt-b-borrowed', othersKey))).to.deep.equal({
      status: 403,
      code: 'ATTESTATION_DEVICE_MISMATCH',
    });
    // The attestation key's signature over another body: the chain is fine, the signature is not.
    const swapped = await attested('rcpt-b-swapped', own);
    const elsewhere = attestReceipt((await signedReport(healthy('rcpt-b', 'rcpt-b-other'))).receipt, own);
    swapped.receipt.attestation = elsewhere.attestation!;
    expect(await send('rcpt-b', swapped)).to.deep.equal({ status: 403, code: 'ATTESTATION_SIGNATURE_INVALID' });
    const leaves = await receiptLeaves('rcpt-b');
    expect(leaves).to.have.length(1);
    expect(JSON.parse(leaves[0]!.leaf))
      .to.have.nested.property('attestation.certChain')
      .with.length(own.certChain.length);
  });

  it('a stored receipt goes into the transparency log with the certificate that checks it', async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const mine = await receiptLeaves('rcpt-a');
      expect(mine).to.have.length(1);
      const claims = JSON.parse(Buffer.from(mine[0]!.parsed.body, 'base64').toString('utf8')) as { reportId: string };
      expect(claims.reportId).to.equal('rcpt-a-real');
      expect(mine[0]!.parsed.certificate).to.match(/^[0-9a-f]{64}$/);
      if (!mine[0]!.queued) return;
      if (Date.now() > deadline) throw new Error('the receipt never left the outbox for the log');
      await new Promise((r) => setTimeout(r, 500));
    }
  });
});
