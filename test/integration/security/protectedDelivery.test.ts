import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { type AttestationMeasurements, createEvidence, type Fetch, type FetchAnswer } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { createManufacturer } from '../../fixtures/manufacturer';
import { sleep } from '../../wait';
import {
  adminApi,
  approve,
  device,
  deviceFetch,
  refusalOf,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

const good: AttestationMeasurements = { bootState: 'verified', osVersion: '5.2.0', integrity: { 'dm-verity': true } };
/** Short enough for a test to outwait: a presigned URL's life and attestation evidence's. */
const URL_SECONDS = 2;
const EVIDENCE_MS = 4000;

/**
 * Protected delivery from object storage: the API decides, then hands the device a
 * short-lived presigned URL on MinIO instead of streaming the bytes; a protected release's
 * artifact only to a device eligible for it. Runs on an API restarted with short URL and
 * evidence lifetimes (put back afterwards).
 */
describe('security: protected artifact delivery', function () {
  this.timeout(300_000);
  const pm = new ProcessManager(TEST_PROFILE.home);
  const channel = 'protected';
  let sha256: string;

  const get = async (as: Fetch, redirect: 'follow' | 'manual' = 'manual') =>
    as(`${testConfig().api.url}/v1/artifacts/${sha256}`, { redirect });
  const refusal = async (res: FetchAnswer) => {
    expect(res.status).to.equal(403);
    return await refusalOf(res);
  };
  const label = async (deviceId: string, groups: string[]) => {
    const api = await adminApi();
    try {
      await api.send('POST', `/v1/admin/devices/${deviceId}/labels`, { groups, tags: {} });
    } finally {
      await api.close();
    }
  };

  before(async function () {
    this.timeout(180_000);
    await pm.stop('api');
    await stackUp(TEST_PROFILE, {
      extraEnv: {
        ...TEST_EXTRA_ENV,
        OTA_ARTIFACT_URL_SECONDS: String(URL_SECONDS),
        OTA_ATTESTATION_MAX_AGE_MS: String(EVIDENCE_MS),
      },
    });
    const s = await releaseAwaitingApproval(channel, '1.0.0', { flags: ['--protected', '--target-group', 'canary'] });
    sha256 = s.target!.sha256;
    await approve(channel, '1.0.0');
    await waitForStatus(await temporalClient(), { channel, version: '1.0.0' }, stepPublished(100));
  });

  after(async function () {
    this.timeout(120_000);
    await pm.stop('api');
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('redirects an eligible device to a short-lived storage URL, and the device installs from it', async () => {
    await deviceFetch('pd-canary', channel);
    await label('pd-canary', ['canary']);
    const res = await get(await deviceFetch('pd-canary', channel));
    expect(res.status).to.equal(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.port).to.equal(String(TEST_PROFILE.minioPort));
    expect(location.searchParams.get('X-Amz-Expires')).to.equal(String(URL_SECONDS));
    const agent = await device('pd-canary', channel);
    expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
  });

  it('refuses a device of another group and a device of other hardware (ARTIFACT_REFUSED, naming the check)', async () => {
    await deviceFetch('pd-office', channel);
    await label('pd-office', ['office']);
    const office = await refusal(await get(await deviceFetch('pd-office', channel)));
    expect(office.code).to.equal('ARTIFACT_REFUSED');
    expect(office.message).to.contain('groups');
    const other = await refusal(await get(await deviceFetch('pd-other-hw', channel, 'devkit-b')));
    expect(other.code).to.equal('ARTIFACT_REFUSED');
    expect(other.message).to.contain('hardware');
  });

  it('a leaked URL no longer works once it has expired (storage refuses it)', async () => {
    // A device that does not run the release yet (pd-canary does now: not eligible again).
    await deviceFetch('pd-leak', channel);
    await label('pd-leak', ['canary']);
    const res = await get(await deviceFetch('pd-leak', channel));
    expect(res.status).to.equal(302);
    const leaked = res.headers.get('location')!;
    expect((await fetch(leaked)).status, 'fresh').to.equal(200);
    await sleep(URL_SECONDS * 1000 + 1500);
    expect((await fetch(leaked)).status, 'expired').to.equal(403);
  });

  describe('an attestation-required protected release', () => {
    const attested = 'protected-attested';

    it('is handed over with fresh passing evidence and refused once the evidence is stale', async () => {
      const maker = createManufacturer();
      const file = testConfig().identity.manufacturerRoots!;
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, maker.roots.join('\n'));
      const s = await releaseAwaitingApproval(attested, '1.0.0', { flags: ['--protected', '--attestation-required'] });
      await approve(attested, '1.0.0');
      await waitForStatus(await temporalClient(), { channel: attested, version: '1.0.0' }, stepPublished(100));
      const as = await deviceFetch('pd-attested', attested);
      const url = `${testConfig().api.url}/v1/artifacts/${s.target!.sha256}`;
      expect((await refusal(await as(url, { redirect: 'manual' }))).message).to.contain('attestation');

      const post = async <T>(path: string, body: unknown) =>
        (
          await as(`${testConfig().api.url}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })
        ).json() as Promise<T>;
      const { nonce } = await post<{ nonce: string }>('/v1/attestation/nonce', {});
      const verdict = await post<{ passed: boolean }>(
        '/v1/attestation',
        createEvidence(maker.issueDevice('pd-attested'), { deviceId: 'pd-attested', nonce, measurements: good }),
      );
      expect(verdict).to.include({ passed: true });
      expect((await as(url, { redirect: 'manual' })).status).to.equal(302);

      await sleep(EVIDENCE_MS + 500);
      const stale = await refusal(await as(url, { redirect: 'manual' }));
      expect(stale.code).to.equal('ARTIFACT_REFUSED');
      expect(stale.message).to.contain('attestation');
    });
  });
});
