import { expect } from 'chai';

import { RELEASE_TASK_QUEUE, RELEASE_WORKFLOW } from '../../../common/temporalNames';
import { resolveChannel } from '../../../control/releases';
import { waitFor } from '../../wait';
import {
  apiGet,
  artifactFile,
  deviceFetch,
  type ErrorAnswer,
  ota,
  postJson,
  temporalClient,
  testConfig,
} from '../helpers';

describe('bad input', () => {
  describe('to the CLI', () => {
    it('answers an unknown release with NOT_FOUND', async () => {
      const r = await ota('release', 'status', '9.9.9', '--channel', 'nowhere', '--json');
      expect(r.code).to.equal(1);
      expect((r.json as ErrorAnswer).error.code).to.equal('NOT_FOUND');
    });

    it('refuses a malformed version, channel or hardware id with INVALID_INPUT (exit 2) and starts nothing', async () => {
      const file = await artifactFile('bad.bin');
      const cases = [
        ['--version', 'v1', '--channel', 'bad', '--hardware', 'devkit-a'],
        ['--version', '1.0.0', '--channel', 'Bad Channel', '--hardware', 'devkit-a'],
        ['--version', '1.0.0', '--channel', 'bad', '--hardware', '../etc'],
      ];
      for (const c of cases) {
        const r = await ota('release', 'create', '--artifact', file, ...c, '--json');
        expect(r.code, c.join(' ')).to.equal(2);
        expect((r.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
      }
      const client = await temporalClient();
      const found = [];
      for await (const wf of client.workflow.list({ query: `WorkflowId = 'release-bad-1.0.0'` })) found.push(wf);
      expect(found).to.have.length(0);
    });

    it('asks for --channel when a version exists on several channels', async () => {
      const client = await temporalClient();
      const first = await artifactFile('amb1.bin');
      const createOn = (channel: string) =>
        ota(
          'release',
          'create',
          '--artifact',
          first,
          '--version',
          '7.0.0',
          '--hardware',
          'a',
          '--channel',
          channel,
          '--json',
        );
      expect((await createOn('amb-one')).code).to.equal(0);
      expect(await resolveChannel(client, '7.0.0')).to.equal('amb-one');
      expect((await createOn('amb-two')).code).to.equal(0);
      // Visibility catches up with the second start.
      const r = await waitFor('the second channel in visibility', async () => {
        const answer = await ota('release', 'status', '7.0.0', '--json');
        return answer.code !== 0 && answer;
      });
      expect(r.code).to.equal(2);
      expect((r.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
    });

    it('refuses missing fields and unknown flags with INVALID_INPUT', async () => {
      const missing = await ota('release', 'create', '--version', '1.0.0', '--json');
      expect(missing.code).to.equal(2);
      expect((missing.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
      const unknown = await ota('release', 'status', '1.0.0', '--chanel', 'x', '--json');
      expect(unknown.code).to.equal(2);
    });

    it('refuses a missing artifact file and bad rollout steps', async () => {
      const file = await artifactFile('steps.bin');
      const noFile = await ota(
        'release',
        'create',
        '--artifact',
        '/nonexistent/fw.bin',
        '--version',
        '1.0.0',
        '--channel',
        'bad',
        '--hardware',
        'a',
        '--json',
      );
      expect((noFile.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
      const steps = await ota(
        'release',
        'create',
        '--artifact',
        file,
        '--version',
        '1.0.0',
        '--channel',
        'bad',
        '--hardware',
        'a',
        '--steps',
        '50,20',
        '--json',
      );
      expect((steps.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
    });

    it('refuses an approval that tries to name its approver (identity comes from the token)', async () => {
      const r = await ota('release', 'approve', '2.0.0', '--channel', 'e2e', '--approver', 'alice', '--json');
      expect(r.code).to.equal(2);
      expect((r.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
    });
  });

  describe('to a release workflow started without the CLI', () => {
    it('fails the release with INVALID_INPUT before any stage runs', async () => {
      const client = await temporalClient();
      const handle = await client.workflow.start(RELEASE_WORKFLOW, {
        taskQueue: RELEASE_TASK_QUEUE,
        workflowId: 'release-direct-1.0.0',
        args: [
          {
            version: '1.0.0',
            channel: 'direct',
            hardwareIds: ['a'],
            rollbackIndex: 0,
            intakeKey: 'x',
            fileName: 'fw.bin',
            createdBy: 'someone',
            steps: [],
          },
        ],
      });
      let failure: unknown;
      try {
        await handle.result();
      } catch (err) {
        failure = err;
      }
      expect((failure as { cause?: { type?: string } }).cause?.type).to.equal('INVALID_INPUT');
    });
  });

  describe('to the API', () => {
    const good = { deviceId: 'dev-1', hardwareId: 'devkit-a', channel: 'stable', currentVersion: '1.0.0' };

    it('answers a well-formed poll', async () => {
      const r = await postJson('/v1/poll', good);
      expect(r.status).to.equal(200);
      expect(r.body).to.have.property('offer');
    });

    it('refuses malformed ids, missing fields and unknown fields with 400 INVALID_INPUT', async () => {
      for (const body of [
        { ...good, deviceId: 'bad id with spaces' },
        { ...good, currentVersion: 'latest' },
        { ...good, currentVersion: '1.0.0-01' },
        { deviceId: 'dev-1' },
        { ...good, extra: true },
        'not json',
      ]) {
        const r = await postJson<ErrorAnswer>('/v1/poll', body);
        expect(r.status, JSON.stringify(body)).to.equal(400);
        expect(r.body.error.code).to.equal('INVALID_INPUT');
      }
    });

    it('refuses an oversized body with 413 and stores nothing', async () => {
      const r = await postJson<ErrorAnswer>('/v1/reports', {
        deviceId: 'big-1',
        version: '1.0.0',
        outcome: 'failed',
        message: 'x'.repeat(64 * 1024),
      });
      expect(r.status).to.equal(413);
      expect(r.body.error.code).to.equal('PAYLOAD_TOO_LARGE');
      const device = await apiGet<{ reports: unknown[] }>('/v1/admin/devices/big-1');
      expect(device.reports).to.deep.equal([]);
    });

    it('answers unknown metadata, routes and artifacts with 404 or 400', async () => {
      const base = testConfig().api.url;
      const fetch = await deviceFetch('probe-404');
      expect((await fetch(`${base}/v1/repos/release/metadata/..%2Fsecrets.json`)).status).to.equal(404);
      expect((await fetch(`${base}/v1/repos/other/metadata/root.json`)).status).to.equal(404);
      expect((await fetch(`${base}/v1/nothing`)).status).to.equal(404);
      expect((await fetch(`${base}/v1/artifacts/not-a-digest`)).status).to.equal(400);
      expect((await fetch(`${base}/v1/artifacts/${'0'.repeat(64)}`)).status).to.equal(404);
    });
  });
});
