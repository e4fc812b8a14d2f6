import { expect } from 'chai';

import { EVENT_TYPES, expandEventTypes, RELEASE_EVENT_TYPES } from '../../../common/webhookEvents';
import { cloudEventOf } from '../../../webhooks/dispatcher';

describe('webhook events', () => {
  it('expands names, prefixes and all; refuses an unknown word', () => {
    expect(expandEventTypes(['device.*'])).to.deep.equal({ types: ['device.enrolled', 'device.revoked'] });
    expect(expandEventTypes(['release.paused', 'release.paused', 'keys.changed'])).to.deep.equal({
      types: ['release.paused', 'keys.changed'],
    });
    expect(expandEventTypes(['all'])).to.deep.equal({ types: [...EVENT_TYPES] });
    expect(expandEventTypes(['release.*'])).to.deep.equal({ types: RELEASE_EVENT_TYPES });
    expect(expandEventTypes(['release.paused', 'release.exploded'])).to.deep.equal({ unknown: 'release.exploded' });
    expect(expandEventTypes(['nothing.*'])).to.deep.equal({ unknown: 'nothing.*' });
  });

  it('sends each as a valid CloudEvent 1.0 whose id is the idempotency key', () => {
    const ce = cloudEventOf(
      {
        event: {
          id: 42,
          key: 'run-1:7:0',
          type: 'release.paused',
          subject: 'releases/beta/1.2.0',
          orderingKey: 'release:release-beta-1.2.0',
          at: new Date('2026-12-07T10:00:00.000Z'),
          data: '{"actor":"op","percent":10}',
        },
      },
      'urn:enigm-ota:test',
    );
    expect(ce.validate()).to.equal(true);
    expect(ce.toJSON()).to.deep.include({
      specversion: '1.0',
      id: 'run-1:7:0',
      type: 'dev.enigm-ota.release.paused',
      source: 'urn:enigm-ota:test',
      subject: 'releases/beta/1.2.0',
      time: '2026-12-07T10:00:00.000Z',
      partitionkey: 'release:release-beta-1.2.0',
      sequence: '000000000042',
      data: { actor: 'op', percent: 10 },
    });
  });
});
