import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { approve, deviceFetch, releaseAwaitingApproval, stepPublished, temporalClient, testConfig } from '../helpers';

describe('GET /v1/artifacts/:sha256', () => {
  it('serves the whole artifact and byte ranges of it', async () => {
    const status = await releaseAwaitingApproval('ranges', '1.0.0');
    await approve('ranges', '1.0.0');
    // Artifacts are handed out only for releases in the signed rollout (S-26): wait for the step.
    await waitForStatus(await temporalClient(), { channel: 'ranges', version: '1.0.0' }, stepPublished(100));
    const url = `${testConfig().api.url}/v1/artifacts/${status.target!.sha256}`;
    const fetch = await deviceFetch('ranges-device');
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(whole.length).to.equal(status.target!.length);
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).to.equal(206);
    expect(part.headers.get('content-range')).to.equal(`bytes 100-199/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(whole.subarray(100, 200))).to.equal(true);
    const beyond = await fetch(url, { headers: { range: `bytes=${whole.length}-` } });
    expect(beyond.status).to.equal(416);
  });
});
