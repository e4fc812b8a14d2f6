import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startPostgres, stopPostgres } from '../../scripts/lib/postgres';
import { stackDown, stackEnv, stackUp, TEST_PORT_OFFSET, TEST_PROFILE } from '../../scripts/lib/stack';
import { REPO_ROOT } from '../paths';
import { chargeTest, runEnded } from './fileTimes';
import { closeTemporalClient, forgetOperatorTokens } from './helpers';

/**
 * Integration tests run against a real embedded stack of their own (Temporal dev server,
 * MinIO, SoftHSM2 token, worker, API) on test ports, started fresh for each run.
 * The API's rollout cache is off so a pause is visible to the very next poll.
 * With OTA_TEST_DATABASE=postgres the fleet store is a real PostgreSQL server started
 * here (npm test runs the suite on both: the embedded PGlite default, then PostgreSQL).
 */
export const TEST_EXTRA_ENV: Record<string, string> = {
  OTA_ROLLOUT_CACHE_MS: '0',
  // Tests swap metadata in storage and expect the next device read to see it.
  OTA_METADATA_CACHE_MS: '0',
  // Attestation nonces expire fast enough for a test to wait one out.
  OTA_ATTESTATION_NONCE_MS: '3000',
  // Test channels with their own approval rules and plans (see the file).
  OTA_POLICY_FILE: join(REPO_ROOT, 'test', 'fixtures', 'policy.json'),
  // The suite's stacks start flat (OTA_METADATA_LAYOUT=flat is still a supported layout): most
  // suites look at its files; test/integration/trust/partitionMigration.test.ts moves one.
  OTA_METADATA_LAYOUT: 'flat',
  // Refused unauthenticated attempts (S-30): every test file sends from 127.0.0.1, one source,
  // and some send bad tokens to every route on purpose. The flood test runs the API with the
  // defaults for its own attempts (test/integration/security/auditFlood.test.ts).
  OTA_REFUSAL_BURST: '10000',
  OTA_REFUSALS_PER_MINUTE: '10000',
  OTA_REFUSAL_ENTRIES_PER_MINUTE: '100000',
  // Webhook receivers in the tests listen on 127.0.0.1, and one that comes back after an
  // outage is tried again within seconds (test/integration/e2e/webhooks.test.ts).
  OTA_WEBHOOK_ALLOW_PRIVATE: '1',
  OTA_WEBHOOK_MAX_RETRY_MS: '5000',
};

const onPostgres = process.env['OTA_TEST_DATABASE'] === 'postgres';
const postgresPort = 15433 + TEST_PORT_OFFSET;
let postgresDir: string | undefined;

/** The suite's PostgreSQL server stopped (fast shutdown) and started again on its data once `whileDown` ends. */
export async function restartSuitePostgres(whileDown: () => Promise<unknown>): Promise<void> {
  if (!postgresDir) throw new Error('the suite runs on PGlite: no PostgreSQL server to restart');
  stopPostgres(postgresDir);
  await whileDown();
  await startPostgres(postgresDir, postgresPort);
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(300_000);
    await stackDown(TEST_PROFILE);
    await rm(TEST_PROFILE.home, { recursive: true, force: true });
    if (onPostgres) {
      // Under /tmp: the postgres system user must reach the folder, wherever the checkout lives.
      postgresDir = await mkdtemp(join(tmpdir(), 'ota-suite-postgres-'));
      TEST_EXTRA_ENV['DATABASE_URL'] = await startPostgres(postgresDir, postgresPort);
      console.log(`    [stack] fleet store: PostgreSQL at ${TEST_EXTRA_ENV['DATABASE_URL']}`);
    }
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV, log: (l) => console.log(`    [stack] ${l}`) });
    Object.assign(process.env, await stackEnv(TEST_PROFILE), TEST_EXTRA_ENV);
  },
  beforeEach(this: Mocha.Context) {
    chargeTest(this.currentTest?.file);
  },
  afterEach(this: Mocha.Context) {
    chargeTest(this.currentTest?.file);
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    runEnded();
    await closeTemporalClient();
    forgetOperatorTokens();
    await stackDown(TEST_PROFILE);
    if (postgresDir) {
      stopPostgres(postgresDir);
      await rm(postgresDir, { recursive: true, force: true });
    }
  },
};
