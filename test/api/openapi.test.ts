import { expect } from 'chai';
import { testConfig } from '../helpers';

describe('GET /v1/openapi.json', () => {
  it('documents every device endpoint with the schemas requests are validated against', async () => {
    const doc = (await (await fetch(`${testConfig().api.url}/v1/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths)).to.include.members(['/v1/poll', '/v1/reports', '/v1/repos/{repo}/metadata/{file}', '/v1/artifacts/{sha256}']);
    expect(doc.components.schemas).to.have.keys('PollRequest', 'PollResponse', 'InstallReport', 'Accepted', 'FleetSummary', 'TargetStats', 'Error');
  });
});
