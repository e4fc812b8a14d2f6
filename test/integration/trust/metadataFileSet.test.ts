import { expect } from 'chai';

import { ServerError } from '../../../common/errors';
import { targetFile } from '../../../trust/roleMetadata';
import { createActivityDeps } from '../../../worker/deps';
import { rejectionOf } from '../../rejection';
import { testConfig } from '../helpers';

describe('MetadataFileSet in MinIO', () => {
  let deps: Awaited<ReturnType<typeof createActivityDeps>>;
  before(async () => {
    deps = await createActivityDeps(testConfig());
  });
  after(async () => {
    await deps.close();
  });

  it('publishes concurrent changes without losing any, and the timestamp only moves forward', async () => {
    const repo = deps.repos.release.flat;
    const before = await repo.published();
    const names = Array.from({ length: 6 }, (_, i) => `concurrency/${Date.now()}/${i}.bin`);
    await Promise.all(
      names.map((name, i) =>
        repo.publish((t) =>
          t.addTarget(
            targetFile({ name, length: 1, sha256: String(i).padStart(64, '0'), custom: { note: 'concurrency test' } }),
          ),
        ),
      ),
    );
    const after = await repo.published();
    expect(Object.keys(after.signed.targets)).to.include.members(names);
    expect(after.signed.version).to.be.greaterThan(before.signed.version);
  });

  it('refuses to build on a validly signed old targets file copied into the next version slot', async () => {
    const repo = deps.repos.release.flat;
    const current = await repo.published();
    const v = current.signed.version;
    const old = (await deps.storage.getBytes('metadata', `release/${v}.targets.json`, 1 << 24))!;
    const slot = `release/${v + 1}.targets.json`;
    await deps.storage.putBytes('metadata', slot, old);
    try {
      const error = await rejectionOf(
        repo.signTargets((t) =>
          t.addTarget(targetFile({ name: 'replay/x.bin', length: 1, sha256: '0'.repeat(64), custom: {} })),
        ),
      );
      expect(error).to.be.instanceOf(ServerError).and.have.property('code', 'VALIDATION_FAILED');
    } finally {
      await deps.storage.remove('metadata', slot);
    }
  });
});
