import { randomBytes } from 'node:crypto';

import { Metadata, MetadataKind } from '@tufjs/models';
import { expect } from 'chai';

import type { FleetSummary } from '../../../common/adminApi';
import { waitForStatus } from '../../../control/releases';
import { artifactKey, Storage } from '../../../infra/storage';
import { parseTufJson } from '../../../trust/tufJson';
import { OfflineSigner, signMetadata } from '../../../trust/tufKeys';
import { waitFor } from '../../wait';
import { apiGet, approve, device, releaseAwaitingApproval, temporalClient, testConfig } from '../helpers';

async function fleetSummary(prefix: string): Promise<FleetSummary> {
  return apiGet<FleetSummary>(`/v1/fleet/summary?prefix=${prefix}`);
}

describe('a device', () => {
  const storage = () => new Storage(testConfig().minio);

  describe('when the artifact was changed in storage after signing', () => {
    it('refuses it, installs nothing and reports TARGET_HASH_MISMATCH', async () => {
      const status = await releaseAwaitingApproval('tamper', '1.0.1');
      await approve('tamper', '1.0.1');
      const target = status.target!;
      const original = await storage().getBytes('artifacts', artifactKey(target.sha256), 10 * 1024 * 1024);
      const evil = randomBytes(target.length);
      await storage().putBytes('artifacts', artifactKey(target.sha256), evil);
      try {
        const agent = await device('tamper-1', 'tamper');
        const result = await waitFor('an offer to the device', async () => {
          const answer = await agent.checkForUpdate();
          return answer.status !== 'up-to-date' && answer;
        });
        expect(result).to.include({ status: 'refused', code: 'TARGET_HASH_MISMATCH' });
        expect((await agent.state()).currentVersion).to.equal('0.0.0');
        const summary = await fleetSummary('tamper-');
        expect(summary.errorCodes).to.deep.equal({ TARGET_HASH_MISMATCH: 1 });
        expect(summary.versions).to.deep.equal({ '0.0.0': 1 });
      } finally {
        await storage().putBytes('artifacts', artifactKey(target.sha256), original!);
      }
    });
  });

  describe('when the metadata is signed by a key the root does not trust', () => {
    it('refuses it with METADATA_UNTRUSTED', async () => {
      await releaseAwaitingApproval('forged', '1.0.0');
      await approve('forged', '1.0.0');
      // Forge only after the workflow's own last write, or the real timestamp would replace ours.
      await waitForStatus(
        await temporalClient(),
        { channel: 'forged', version: '1.0.0' },
        (st) => st.stage === 'stable',
      );
      const s = storage();
      const key = 'rollout/timestamp.json';
      const original = (await s.getBytes('metadata', key, 1 << 20))!;
      const forged = Metadata.fromJSON(MetadataKind.Timestamp, parseTufJson(original));
      forged.signatures = {};
      signMetadata(forged, [OfflineSigner.generate()]);
      await s.putBytes('metadata', key, Buffer.from(JSON.stringify(forged.toJSON())));
      try {
        const agent = await device('forged-1', 'forged');
        const result = await agent.installOffer({ targetName: 'forged/1.0.0/fw-forged-1.0.0.bin', version: '1.0.0' });
        expect(result).to.include({ status: 'refused', code: 'METADATA_UNTRUSTED' });
        expect((await agent.state()).currentVersion).to.equal('0.0.0');
      } finally {
        await s.putBytes('metadata', key, original);
      }
    });
  });
});
