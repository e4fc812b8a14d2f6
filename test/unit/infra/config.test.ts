import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { ServerError } from '../../../common/errors';
import { DEFAULT_POLICY } from '../../../common/rolloutPolicy';
import { loadConfig } from '../../../infra/config';
import { refusal } from '../../rejection';

const SHA256 = 'a1'.repeat(32);

/** The refusal of an environment: a CONFIG_INVALID ServerError whose message names the variable. */
function expectRefused(env: Record<string, string>, variable: string): void {
  const err = refusal(() => loadConfig(env));
  expect(err).to.be.instanceOf(ServerError).and.have.property('code', 'CONFIG_INVALID');
  expect(err.message).to.contain(variable);
}

describe('loadConfig', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ota-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('with an empty environment', () => {
    it('loads the defaults', () => {
      const config = loadConfig({});
      expect(config.api).to.include({ port: 8080, host: '127.0.0.1', url: 'https://127.0.0.1:8080' });
      expect(config.api.tlsHosts).to.deep.equal(['127.0.0.1', 'localhost']);
      expect(config.bootstrapOperators).to.deep.equal([]);
      expect(config.rolloutPolicy).to.deep.equal(DEFAULT_POLICY);
      expect(config.observability.logLevel).to.equal('info');
      expect(config.identity.attestationPolicy).to.equal(undefined);
    });
  });

  describe('OTA_API_URL listing API replicas', () => {
    it('uses the first as the API and the others as failovers', () => {
      const config = loadConfig({ OTA_API_URL: 'https://a:8080, https://b:8081' });
      expect(config.api.url).to.equal('https://a:8080');
      expect(config.api.failoverUrls).to.deep.equal(['https://b:8081']);
    });

    it('refuses any that is not https', () => {
      expectRefused({ OTA_API_URL: 'https://a:8080,http://b:8081' }, 'OTA_API_URL');
    });
  });

  describe('traces (S-33)', () => {
    it('are off unless an OTLP endpoint is set', () => {
      expect(loadConfig({}).observability.traces).to.equal(undefined);
      expect(loadConfig({ OTA_TRACE_SAMPLE_PERCENT: '50' }).observability.traces).to.equal(undefined);
    });

    it('go to the whole traces URL, or to /v1/traces under the base endpoint', () => {
      expect(
        loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/custom' }).observability.traces,
      ).to.deep.equal({ url: 'http://collector:4318/custom', sampleRatio: 1 });
      expect(
        loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/base/', OTA_TRACE_SAMPLE_PERCENT: '5' })
          .observability.traces,
      ).to.deep.equal({ url: 'https://otel.example/base/v1/traces', sampleRatio: 0.05 });
    });

    it('stay off with OTEL_SDK_DISABLED=true', () => {
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' };
      expect(loadConfig(env).observability.traces).to.equal(undefined);
    });

    it('refuse an endpoint that is not http(s), one with credentials, and a sample outside 1..100', () => {
      expectRefused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'file:///tmp/spans' }, 'OTEL_EXPORTER_OTLP_ENDPOINT');
      expectRefused({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
      expectRefused(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:secret@collector:4318' },
        'OTEL_EXPORTER_OTLP_ENDPOINT',
      );
      expectRefused(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTA_TRACE_SAMPLE_PERCENT: '0' },
        'OTA_TRACE_SAMPLE_PERCENT',
      );
    });
  });

  describe('OTA_FLEET_CA_TOKEN (S-23)', () => {
    it("defaults to a token of its own, apart from the signing keys' token", () => {
      const config = loadConfig({});
      expect(config.hsm).to.include({ tokenLabel: 'enigm-ota', fleetCaToken: 'enigm-ota-ca', fleetCaPin: '' });
    });

    it("refuses the signing keys' token: the API would log in to it", () => {
      expectRefused({ OTA_FLEET_CA_TOKEN: 'enigm-ota' }, 'OTA_FLEET_CA_TOKEN');
      expectRefused({ OTA_HSM_TOKEN: 'shared', OTA_FLEET_CA_TOKEN: 'shared' }, 'OTA_FLEET_CA_TOKEN');
    });
  });

  describe('OTA_BOOTSTRAP_OPERATORS', () => {
    it('is parsed into the bootstrap operators', () => {
      const operators = [
        { name: 'root-admin', roles: ['admin'], tokenSha256: SHA256 },
        { name: 'rel.owner', roles: ['release-owner', 'viewer'], tokenSha256: SHA256 },
      ];
      expect(loadConfig({ OTA_BOOTSTRAP_OPERATORS: JSON.stringify(operators) }).bootstrapOperators).to.deep.equal(
        operators,
      );
    });

    it('is refused when it is not JSON', () => {
      expectRefused({ OTA_BOOTSTRAP_OPERATORS: '[{name: admin}]' }, 'OTA_BOOTSTRAP_OPERATORS');
    });

    it('is refused when it is not a list', () => {
      expectRefused(
        { OTA_BOOTSTRAP_OPERATORS: JSON.stringify({ name: 'admin', roles: ['admin'], tokenSha256: SHA256 }) },
        'OTA_BOOTSTRAP_OPERATORS',
      );
    });

    it('is refused with an unknown role', () => {
      expectRefused(
        { OTA_BOOTSTRAP_OPERATORS: JSON.stringify([{ name: 'admin', roles: ['superuser'], tokenSha256: SHA256 }]) },
        'OTA_BOOTSTRAP_OPERATORS',
      );
    });

    it('is refused with a token hash that is not a sha256 in hex', () => {
      for (const tokenSha256 of ['a1'.repeat(31), 'A1'.repeat(32), 'z'.repeat(64)]) {
        expectRefused(
          { OTA_BOOTSTRAP_OPERATORS: JSON.stringify([{ name: 'admin', roles: ['admin'], tokenSha256 }]) },
          'OTA_BOOTSTRAP_OPERATORS',
        );
      }
    });
  });

  it('refuses an OTA_API_TLS_HOSTS entry that is not a host name or address', () => {
    expect(loadConfig({ OTA_API_TLS_HOSTS: 'ota.example.com, 10.0.0.5' }).api.tlsHosts).to.deep.equal([
      'ota.example.com',
      '10.0.0.5',
    ]);
    expectRefused({ OTA_API_TLS_HOSTS: 'ota.example.com,bad host/name' }, 'OTA_API_TLS_HOSTS');
  });

  describe('timestamp lifetime and the freshness Schedule (S-8)', () => {
    it('signs timestamps for a day by default, re-signing them hourly once half of it is left', () => {
      const config = loadConfig({});
      expect(config.expiry.timestampHours).to.equal(24);
      expect(config.freshness).to.deep.equal({ everyMinutes: 60, withinHours: 12 });
    });

    it('keeps every role fresh between two runs: a run comes before anything leaves the window unsigned', () => {
      for (const hours of ['4', '24', '48', '168']) {
        const { expiry, freshness } = loadConfig({ OTA_TIMESTAMP_EXPIRY_HOURS: hours });
        expect(freshness.everyMinutes, hours).to.be.below(freshness.withinHours * 60);
        expect(freshness.withinHours, hours).to.be.below(expiry.timestampHours);
      }
    });

    it('refuses a lifetime beyond a week, and one too short for an hourly Schedule', () => {
      for (const hours of ['169', '720', '0'])
        expectRefused({ OTA_TIMESTAMP_EXPIRY_HOURS: hours }, 'OTA_TIMESTAMP_EXPIRY_HOURS');
      for (const hours of ['1', '2', '3']) expectRefused({ OTA_TIMESTAMP_EXPIRY_HOURS: hours }, 'OTA_FRESHNESS');
    });

    it("refuses a Schedule interval beyond 2 h: partition timestamps would outgrow the devices' bound (D-18)", () => {
      expect(loadConfig({ OTA_FRESHNESS_EVERY_MINUTES: '120' }).freshness.everyMinutes).to.equal(120);
      expectRefused({ OTA_FRESHNESS_EVERY_MINUTES: '121' }, 'OTA_FRESHNESS_EVERY_MINUTES');
    });
  });

  describe('OTA_POLICY_FILE', () => {
    it('loads a valid policy file', () => {
      const file = join(dir, 'policy.json');
      const policy = {
        ...DEFAULT_POLICY,
        channels: { stable: { approvals: 2, owners: ['alice', 'bob'], plan: 'cautious', onBreach: 'rollback' } },
      };
      writeFileSync(file, JSON.stringify(policy));
      expect(loadConfig({ OTA_POLICY_FILE: file }).rolloutPolicy).to.deep.equal(policy);
    });

    it('is refused when the file is missing', () => {
      expectRefused({ OTA_POLICY_FILE: join(dir, 'missing.json') }, 'OTA_POLICY_FILE');
    });

    it('is refused when the file is not valid JSON', () => {
      const file = join(dir, 'broken.json');
      writeFileSync(file, '{"channels": {');
      expectRefused({ OTA_POLICY_FILE: file }, 'OTA_POLICY_FILE');
    });
  });

  it('refuses an OTA_ATTESTATION_POLICY that is not JSON, and parses one that is', () => {
    expect(
      loadConfig({ OTA_ATTESTATION_POLICY: '{"requireVerifiedBoot": true}' }).identity.attestationPolicy,
    ).to.deep.equal({ requireVerifiedBoot: true });
    expectRefused({ OTA_ATTESTATION_POLICY: '{requireVerifiedBoot: true}' }, 'OTA_ATTESTATION_POLICY');
  });

  it('refuses an OTA_API_PORT outside 0..65535 or not a whole number', () => {
    expect(loadConfig({ OTA_API_PORT: '65535' }).api.port).to.equal(65535);
    for (const port of ['65536', '-1', '80.5', 'http', '0x50', '1e3', ' 80 '])
      expectRefused({ OTA_API_PORT: port }, 'OTA_API_PORT');
  });

  describe('OTA_ARTIFACT_URL_SECONDS (how long a presigned artifact URL works)', () => {
    it('defaults to 30 s', () => {
      expect(loadConfig({}).artifacts.urlSeconds).to.equal(30);
    });

    it('takes whole seconds from 2 to 300', () => {
      expect(loadConfig({ OTA_ARTIFACT_URL_SECONDS: '2' }).artifacts.urlSeconds).to.equal(2);
      expect(loadConfig({ OTA_ARTIFACT_URL_SECONDS: '300' }).artifacts.urlSeconds).to.equal(300);
    });

    it('refuses a lifetime too short to follow the redirect or long enough to leak, saying why (CONFIG_INVALID)', () => {
      for (const seconds of ['0', '1', '301', '3600', '-5', '30.5', '1e2', 'forever', ' 30'])
        expectRefused({ OTA_ARTIFACT_URL_SECONDS: seconds }, 'OTA_ARTIFACT_URL_SECONDS');
      const err = refusal(() => loadConfig({ OTA_ARTIFACT_URL_SECONDS: '3600' }));
      expect(err.message).to.contain('2..300').and.contain('bearer token');
    });
  });

  it('refuses an OTA_ROLLOUT_CACHE_MS above ten minutes (S-24)', () => {
    expect(loadConfig({ OTA_ROLLOUT_CACHE_MS: '600000' }).api.rolloutCacheMs).to.equal(600_000);
    expect(loadConfig({ OTA_ROLLOUT_CACHE_MS: '0' }).api.rolloutCacheMs).to.equal(0);
    for (const ms of ['600001', '2147483648', '86400000'])
      expectRefused({ OTA_ROLLOUT_CACHE_MS: ms }, 'OTA_ROLLOUT_CACHE_MS');
  });

  it('refuses an unknown OTA_LOG_LEVEL', () => {
    expect(loadConfig({ OTA_LOG_LEVEL: 'debug' }).observability.logLevel).to.equal('debug');
    expectRefused({ OTA_LOG_LEVEL: 'verbose' }, 'OTA_LOG_LEVEL');
  });
});
