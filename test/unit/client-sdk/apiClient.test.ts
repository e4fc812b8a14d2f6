import { DeviceApiClient, type Fetch, type InstallReport, MAX_REPORT_MESSAGE } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

/** A client whose transport keeps each body it was given and answers 202. */
function capturing(): { client: DeviceApiClient; sent: unknown[] } {
  const sent: unknown[] = [];
  const transport: Fetch = (_url, init) => {
    sent.push(JSON.parse(init?.body ?? 'null'));
    return Promise.resolve(new Response(JSON.stringify({ accepted: true }), { status: 202 }));
  };
  return {
    client: new DeviceApiClient({
      baseUrl: 'http://api.invalid',
      limits: { maxApiResponseBytes: 64 * 1024, fetchTimeoutMs: 1000 },
      transport,
    }),
    sent,
  };
}

describe('DeviceApiClient.report', () => {
  const report: InstallReport = { deviceId: 'dev-1', version: '1.0.0', outcome: 'failed', errorCode: 'INSTALL_FAILED' };

  it('sends a message without the bytes the server cannot store, capped (S-18)', async () => {
    const { client, sent } = capturing();
    await client.report({ ...report, message: `disk\u0000 error \uD800${'x'.repeat(2000)}` });
    const message = (sent[0] as InstallReport).message!;
    expect(message.startsWith('disk error \uFFFDx')).to.equal(true);
    expect(message).to.have.length(MAX_REPORT_MESSAGE);
    expect(sent[0]).to.deep.include({
      deviceId: 'dev-1',
      version: '1.0.0',
      outcome: 'failed',
      errorCode: 'INSTALL_FAILED',
    });
  });

  it('sends a report without a message as it is', async () => {
    const { client, sent } = capturing();
    await client.report(report);
    expect(sent).to.deep.equal([report]);
  });
});
