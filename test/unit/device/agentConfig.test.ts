import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import { agentConfigFrom, ConfigError, configInCode, readAgentConfig } from '../../../device/agent/config';
import { renderConfigDocs } from '../../../device/agent/configDocs';
import { CONFIG_KEYS, MAX_CONFIG_BYTES } from '../../../device/agent/configSchema';
import { waitPolicies } from '../../../device/agent/waitPolicies';
import { REPO_ROOT } from '../../paths';
import { tempDirs } from '../tempDirs';

const MINIMAL = {
  apiUrl: 'https://ota.example.com:8443',
  deviceId: 'vm-0001',
  hardwareId: 'enigm-ota-vm',
  channel: 'stable',
  installer: { backend: 'reference' },
};

function problemsOf(raw: unknown): string[] {
  try {
    agentConfigFrom(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('the configuration was accepted');
}

/** Every dotted key of a configuration object (leaves only). */
function keysOf(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? keysOf(v as object, key) : [key];
  });
}

describe('agent configuration file', () => {
  const temp = tempDirs('agent-config-');

  it('fills every default from the key table when only the required keys are given', () => {
    const c = agentConfigFrom(MINIMAL);
    expect(c.stateDir).to.equal('/var/lib/enigm-ota');
    expect(c.identity.fleetCaFile).to.equal('/etc/enigm-ota/fleet-ca.pem');
    expect(c.poll).to.deep.equal({ intervalSec: 300, jitter: 0.2 });
    expect(c.health).to.deep.equal({ commands: [], deadlineSec: 300 });
    expect(c.factory).to.deep.equal({ version: '0.0.0', rollbackIndex: 0 });
    expect(c.log.level).to.equal('info');
  });

  it('reads every key of the table into the typed configuration, and no other', () => {
    const read = keysOf(
      configInCode({
        ...MINIMAL,
        stateDir: '/data',
        installer: { backend: 'reference', referenceDir: '/data/system' },
      }),
    );
    expect(new Set(read)).to.deep.equal(new Set(CONFIG_KEYS.map((s) => s.key)));
  });

  it('names each key that is wrong, missing or unknown, and refuses the whole file', () => {
    expect(
      problemsOf({
        ...MINIMAL,
        apiUrl: 'http://ota.example.com',
        channel: 'Stable',
        deviceId: undefined,
        health: { deadlineSec: 5, commands: [{ argv: ['check'] }] },
        poll: { intervalSec: 1.5, jitter: 2 },
        hooks: { afterInstall: [] },
        installer: { backend: 'swupdate' },
        stateDir: 'relative/dir',
        typo: true,
        limits: 5,
      }),
    ).to.deep.equal([
      'apiUrl: must be an https:// URL',
      'deviceId: must be a string',
      'channel: must match /^[a-z0-9][a-z0-9-]{0,31}$/',
      'installer.backend: must be one of reference, rauc',
      'health.deadlineSec: must be an integer in 10..86400',
      'health.commands: [0].argv must be an array of 1..64 strings (at most 4096 characters), the first an absolute path',
      'poll.intervalSec: must be an integer in 10..86400',
      'poll.jitter: must be a number in 0..1',
      'hooks.afterInstall: must be an array of 1..64 strings (at most 4096 characters), the first an absolute path',
      'stateDir: must be an absolute path',
      'typo: unknown key',
      'limits: must be an object',
    ]);
    expect(problemsOf({ apiUrl: 'https://x' })).to.deep.equal([
      'deviceId: missing (required)',
      'hardwareId: missing (required)',
      'channel: missing (required)',
      'installer.backend: missing (required)',
    ]);
    expect(problemsOf([])).to.deep.equal(['the configuration must be a JSON object']);
    expect(problemsOf({ ...MINIMAL, health: { commands: [{ argv: ['/bin/true'], shell: true }] } })).to.deep.equal([
      'health.commands: [0].shell: unknown key',
    ]);
  });

  it('reads the groups, the readiness hook and the metered-network policy, each bounded', async () => {
    expect(
      problemsOf({
        ...MINIMAL,
        groups: ['lab', 'Bad group'],
        readiness: { command: ['battery-ok'], timeoutSec: 0 },
        network: { metered: 'yes', deltasOnly: 1, dailyByteBudget: -1 },
      }),
    ).to.deep.equal([
      'groups: must be an array of at most 16 names matching /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/',
      'readiness.command: must be an array of 1..64 strings (at most 4096 characters), the first an absolute path',
      'readiness.timeoutSec: must be an integer in 1..600',
      'network.metered: must be true or false',
      'network.deltasOnly: must be true or false',
      `network.dailyByteBudget: must be an integer in 0..${Number.MAX_SAFE_INTEGER}`,
    ]);
    expect(problemsOf({ ...MINIMAL, groups: Array.from({ length: 17 }, (_, i) => `g${i}`) })).to.have.length(1);
    const none = waitPolicies(agentConfigFrom(MINIMAL));
    expect(none).to.deep.equal({ groups: [], readiness: undefined, network: undefined });
    const set = waitPolicies(
      agentConfigFrom({
        ...MINIMAL,
        groups: ['lab'],
        readiness: { command: ['/usr/bin/battery-ok', '--min', '30'], timeoutSec: 5 },
        network: { metered: true, deltasOnly: true, dailyByteBudget: 1000000 },
      }),
    );
    expect(set).to.deep.equal({
      groups: ['lab'],
      readiness: { command: ['/usr/bin/battery-ok', '--min', '30'], timeoutMs: 5000 },
      network: { metered: true, deltasOnly: true, dailyByteBudget: 1000000 },
    });
    // A probe command: exit 0 metered, another exit not metered, one that cannot run counts as metered.
    const probe = (argv: string[]) =>
      waitPolicies(agentConfigFrom({ ...MINIMAL, network: { meteredCommand: argv } })).network?.metered;
    const ask = async (m: ReturnType<typeof probe>) => (typeof m === 'function' ? m() : m);
    expect(await ask(probe(['/bin/true']))).to.equal(true);
    expect(await ask(probe(['/bin/false']))).to.equal(false);
    expect(await ask(probe(['/nonexistent/probe']))).to.equal(true);
  });

  it('refuses a file larger than its limit before parsing it, and names the file', async () => {
    const dir = await temp();
    const big = join(dir, 'big.json');
    await writeFile(big, JSON.stringify({ ...MINIMAL, pad: 'x'.repeat(MAX_CONFIG_BYTES) }));
    const err = (await readAgentConfig(big).catch((e: unknown) => e)) as ConfigError;
    expect(err).to.be.instanceOf(ConfigError);
    expect(err.problems).to.deep.equal([`${big}: larger than ${MAX_CONFIG_BYTES} bytes`]);
    const notJson = join(dir, 'bad.json');
    await writeFile(notJson, '{"apiUrl": ');
    expect(((await readAgentConfig(notJson).catch((e: unknown) => e)) as ConfigError).problems[0]).to.match(
      /bad\.json: not JSON/,
    );
  });

  it('is documented by docs/agent-config.md exactly as the key table says (npm run docs:agent-config)', async () => {
    const docs = await readFile(join(REPO_ROOT, 'docs', 'agent-config.md'), 'utf8');
    expect(docs).to.equal(renderConfigDocs());
    for (const spec of CONFIG_KEYS) expect(docs).to.include(`| \`${spec.key}\` |`);
  });

  it('ships an example configuration that passes its own checks', async () => {
    const example = join(REPO_ROOT, 'device', 'packaging', 'agent.example.json');
    const c = await readAgentConfig(example);
    expect(c.installer.backend).to.equal('rauc');
  });
});
