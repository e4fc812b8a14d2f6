import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

import { expect } from 'chai';

import type { ServerError } from '../../../common/errors';
import { createRelease, startRelease, waitForStatus } from '../../../control/releases';
import { artifactKey, Storage } from '../../../infra/storage';
import { artifactFile, temporalClient, testConfig } from '../helpers';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const STEPS = [{ percent: 100, bakeTimeMs: 0, minDevices: 0, maxFailureRate: 1, gate: 'auto' as const }];
const spec = (channel: string, version: string) => ({
  version,
  channel,
  hardwareIds: ['devkit-a'],
  rollbackIndex: 1,
  plan: 'custom',
  steps: STEPS,
  security: false,
  createdBy: 'cas-creator',
});

describe('a build uploaded to its content address', () => {
  let storage: Storage;
  before(() => {
    storage = new Storage(testConfig().minio);
  });

  describe('when released from a local process', () => {
    it('is stored once, under its digest, with the sha256 storage checked, and reaches approval', async () => {
      const client = await temporalClient();
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const created = await createRelease(
        { client, storage },
        { ...spec('cas', '1.0.0'), artifact: await artifactFile('cas.bin', bytes) },
      );
      expect(created.intakeKey).to.equal(artifactKey(sha256(bytes)));
      const s = await waitForStatus(client, { channel: 'cas', version: '1.0.0' }, (x) => x.stage === 'approval');
      expect(s.target).to.include({ sha256: sha256(bytes), length: bytes.length });
      expect(await storage.statChecked('artifacts', created.intakeKey)).to.include({
        sha256: sha256(bytes),
        size: bytes.length,
      });
    });
  });

  describe('when the bytes sent are not those of the digest', () => {
    it('is refused by storage, and nothing is stored', async () => {
      const bytes = randomBytes(64 * 1024);
      const claimed = sha256(randomBytes(8));
      const err = await storage
        .putChecked('artifacts', artifactKey(claimed), {
          body: Readable.from([bytes]),
          size: bytes.length,
          sha256: claimed,
        })
        .then(
          () => undefined,
          (e: unknown) => e as ServerError,
        );
      expect(err).to.have.property('code', 'INTAKE_MISMATCH');
      expect(await storage.stat('artifacts', artifactKey(claimed))).to.equal(undefined);
    });
  });

  describe('when storage kept no checksum of the object', () => {
    it('hashes the bytes at intake: a build under its own digest is taken', async () => {
      const client = await temporalClient();
      const bytes = randomBytes(256 * 1024);
      const key = artifactKey(sha256(bytes));
      await storage.client.putObject(storage.bucketName('artifacts'), key, bytes, bytes.length);
      expect((await storage.statChecked('artifacts', key))?.sha256).to.equal(undefined);
      await startRelease({ client, storage }, { ...spec('cas-plain', '1.0.0'), intakeKey: key, fileName: 'fw.bin' });
      const s = await waitForStatus(client, { channel: 'cas-plain', version: '1.0.0' }, (x) => x.stage === 'approval');
      expect(s.target).to.include({ sha256: sha256(bytes), length: bytes.length });
    });

    it('refuses other bytes under a digest (INTAKE_MISMATCH)', async () => {
      const client = await temporalClient();
      const bytes = randomBytes(256 * 1024);
      const key = artifactKey(sha256(randomBytes(8)));
      await storage.client.putObject(storage.bucketName('artifacts'), key, bytes, bytes.length);
      await startRelease({ client, storage }, { ...spec('cas-forged', '1.0.0'), intakeKey: key, fileName: 'fw.bin' });
      const ref = { channel: 'cas-forged', version: '1.0.0' };
      const s = await waitForStatus(client, ref, (x) => x.stage === 'failed');
      expect(s.error).to.have.property('code', 'INTAKE_MISMATCH');
    });
  });

  // The checksum is believed at intake and validation because storage computes it from the
  // bytes it holds: a replacement through the S3 API never keeps the old one (ADR 0059).
  describe('when the object is replaced through the S3 API', () => {
    it('no longer reports the checksum of the bytes it replaced', async () => {
      const bucket = storage.bucketName('artifacts');
      const first = randomBytes(128 * 1024);
      const key = artifactKey(sha256(first));
      const other = randomBytes(128 * 1024);
      const put = (body: Buffer) =>
        storage.client.putObject(bucket, key, body, body.length).then(() => storage.statChecked('artifacts', key));
      const checked = () =>
        storage
          .putChecked('artifacts', `${key}-other`, {
            body: Readable.from([other]),
            size: other.length,
            sha256: sha256(other),
          })
          .then(() => storage.statChecked('artifacts', `${key}-other`));
      expect(
        await storage.putChecked('artifacts', key, {
          body: Readable.from([first]),
          size: first.length,
          sha256: sha256(first),
        }),
      ).to.equal('stored');
      expect((await storage.statChecked('artifacts', key))?.sha256).to.equal(sha256(first));
      // A plain PUT of other bytes: no checksum is kept.
      expect((await put(other))?.sha256).to.equal(undefined);
      // A PUT checked for other bytes: their own sha256.
      expect((await checked())?.sha256).to.equal(sha256(other));
      // A server-side copy of them onto the key: never the first bytes' sha256.
      await storage.client.copyObject(bucket, key, `/${bucket}/${key}-other`);
      expect((await storage.statChecked('artifacts', key))?.sha256).to.not.equal(sha256(first));
    });
  });
});
