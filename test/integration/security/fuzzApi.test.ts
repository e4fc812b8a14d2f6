import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';
import { Agent, fetch } from 'undici';

import { deviceFetch, operatorToken, testConfig } from '../helpers';

/**
 * Fuzzing in CI: schemathesis (PyPI, installed into the tools venv by scripts/setup.sh)
 * generates requests from GET /v1/openapi.json and sends them to the live API of the
 * integration stack. Any 5xx, any answer whose status, content type or body the document
 * does not declare, a method the API answers other than with 405 + Allow, or an API that is
 * not healthy afterwards fails the test. Names used only by this file: operators fz-*,
 * device fz-device on channel 'fuzz'.
 *
 * What it may change, since the other test files share this stack (same mocha process):
 * - as a viewer, every operation and method: a viewer may only read, so every change is
 *   refused (403) before it runs; sign-in, enrollment and attestation get tokens, CSRs and
 *   evidence that no generator can make valid (a token is 43 random base64url characters);
 * - as an operator with every role, GET only: reads change nothing, while fuzzed POSTs with
 *   a valid body would create operators and tokens, revoke devices and operators, and drive
 *   other files' releases (abort, approve) through their stages;
 * - as device fz-device, its own routes: a device can only speak for itself (DEVICE_MISMATCH
 *   otherwise), so the reports, nonces and attestation verdicts stored are fz-device's, on a
 *   channel no other file uses; a renewal needs a CSR signed by a key, which fuzzing never
 *   makes, so the certificate stays.
 */

const exec = (file: string, args: string[], timeoutMs: number) =>
  new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      file,
      args,
      {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });

/** Examples per operation and phase: with about 40 operations, three runs stay within ~3 minutes on 2 cores. */
const MAX_EXAMPLES = '8';
/** A run that takes longer than this is killed and fails (it would hold up the whole suite). */
const RUN_TIMEOUT_MS = 150_000;
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'unsupported_method',
  'allow_header_conformance',
].join(',');

interface Run {
  what: string;
  args: string[];
}

/** Test cases a run reports ("N generated" in its summary); 0 when it printed none. */
export function casesOf(output: string): number {
  const m = /(\d+)\s+generated/.exec(output);
  return m ? Number(m[1]) : 0;
}

describe('fuzzing: schemathesis against the live API', function () {
  this.timeout(600_000);
  const total: Record<string, number> = {};
  let caFile: string;
  let schemathesis: string;
  let viewer: string;
  let allRoles: string;
  let deviceDir: string;

  before(async () => {
    const config = testConfig();
    caFile = config.identity.fleetCaCert;
    schemathesis = join(
      process.env['OTA_VENV'] ??
        join(process.env['OTA_TOOLS'] ?? join(process.env['HOME']!, '.cache', 'enigm-ota'), 'venv'),
      'bin',
      'schemathesis',
    );
    // A fresh pair each run: operator names stay taken, and a kept stack may be fuzzed again.
    const run = randomBytes(3).toString('hex');
    viewer = await operatorToken(`fz-viewer-${run}`, ['viewer']);
    allRoles = await operatorToken(`fz-all-${run}`, ['admin', 'release-owner', 'operator', 'viewer']);
    await deviceFetch('fz-device', 'fuzz');
    deviceDir = join(config.home, 'test-devices', 'fz-device', 'identity');
  });

  after(() => {
    const sum = Object.values(total).reduce((a, b) => a + b, 0);
    console.log(
      `      [fuzz] ${sum} test cases: ${Object.entries(total)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  });

  async function fuzz(run: Run): Promise<void> {
    const url = testConfig().api.url;
    const { code, output } = await exec(
      schemathesis,
      [
        'run',
        `${url}/v1/openapi.json`,
        '--url',
        url,
        '--tls-verify',
        caFile,
        '--checks',
        CHECKS,
        '--phases',
        'examples,coverage,fuzzing',
        '--max-examples',
        MAX_EXAMPLES,
        '--max-redirects',
        '0',
        '--request-timeout',
        '30',
        // One worker: with several, Python 3.11's parser fails in hypothesis (ast recursion depth mismatch).
        '--workers',
        '1',
        '--seed',
        '11',
        '--no-shrink',
        ...run.args,
      ],
      RUN_TIMEOUT_MS,
    );
    total[run.what] = casesOf(output);
    console.log(`      [fuzz] ${run.what}: ${total[run.what]} test cases`);
    expect(code, `schemathesis ${run.what} exited ${code}:\n${output.slice(-20_000)}`).to.equal(0);
    expect(total[run.what], output.slice(-5000)).to.be.greaterThan(0);
  }

  it('as a viewer, every operation and method: no 5xx, every answer as documented, 405 with Allow for other methods', async () => {
    // Device routes answer a token with 401 only: the device run covers them.
    await fuzz({
      what: 'viewer',
      args: [
        '-H',
        `Authorization: Bearer ${viewer}`,
        '--exclude-path-regex',
        '^/v1/(poll|reports|repos/|artifacts/|devices/renew|attestation)',
      ],
    });
  });

  it('with every role, the reads (GET): no 5xx, every answer as documented', async () => {
    await fuzz({ what: 'all roles', args: ['-H', `Authorization: Bearer ${allRoles}`, '--include-method', 'GET'] });
  });

  it('as an enrolled device (mutual TLS), the device routes: no 5xx, every answer as documented', async () => {
    await fuzz({
      what: 'device',
      args: [
        '--request-cert',
        join(deviceDir, 'device.pem'),
        '--request-cert-key',
        join(deviceDir, 'device.key'),
        '--include-path-regex',
        '^/v1/(poll|reports|repos/|artifacts/|devices/renew|attestation)',
      ],
    });
  });

  it('leaves the API healthy', async () => {
    const agent = new Agent({ connect: { ca: await readFile(caFile, 'utf8') } });
    try {
      const res = await fetch(`${testConfig().api.url}/healthz`, { dispatcher: agent });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ ok: true });
    } finally {
      await agent.close();
    }
  });
});
