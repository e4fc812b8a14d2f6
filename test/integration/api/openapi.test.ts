import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { createTransport } from '@enigm-ota/client-sdk';
import { testConfig } from '../helpers';

describe('GET /v1/openapi.json', () => {
  it('documents every device endpoint with the schemas requests are validated against', async () => {
    // Public, but over TLS: trust the fleet CA and present no certificate.
    const fetch = createTransport({ caPem: await readFile(testConfig().identity.fleetCaCert, 'utf8') });
    const doc = (await (await fetch(`${testConfig().api.url}/v1/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths)).to.include.members(['/v1/poll', '/v1/reports', '/v1/repos/{repo}/metadata/{file}', '/v1/artifacts/{sha256}', '/v1/enroll', '/v1/devices/renew']);
    expect(doc.components.schemas).to.include.keys('PollRequest', 'PollResponse', 'InstallReport', 'Accepted', 'FleetSummary', 'TargetStats', 'Error', 'Enroll', 'Renew');
  });
});
