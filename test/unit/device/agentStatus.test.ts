import { expect } from 'chai';

import { type AgentStatus, describeStatus } from '../../../device/agent/status';

describe('agent status for a person: the log line', () => {
  const status = (transparencyLog: AgentStatus['transparencyLog']): AgentStatus => ({
    agentVersion: '1.0.0',
    device: {
      deviceId: 'dev-1',
      hardwareId: 'hw',
      channel: 'stable',
      apiUrl: 'https://ota.example.com',
      installer: 'reference',
      stateDir: '/var/lib/enigm-ota',
    },
    process: null,
    running: null,
    stored: { currentVersion: '1.0.0', rollbackIndex: 0 },
    pending: null,
    gaveUp: [],
    lastCycle: null,
    transparencyLog,
    problems: [],
  });
  const logLine = (s: AgentStatus) =>
    describeStatus(s)
      .split('\n')
      .find((l) => l.startsWith('log:'));

  it('names the checkpoint kept and who cosigned it, one with none yet, and a device that checks no log', () => {
    const root = 'ab'.repeat(32);
    expect(
      logLine(status({ origin: 'ota.example.com/log', size: 42, rootHash: root, witnessedBy: ['w1', 'w2'] })),
    ).to.equal(`log:        ota.example.com/log at 42 entries (root ${root}), witnessed by w1, w2`);
    expect(logLine(status({ origin: 'ota.example.com/log', size: 42, rootHash: root, witnessedBy: [] }))).to.equal(
      `log:        ota.example.com/log at 42 entries (root ${root})`,
    );
    expect(logLine(status({ origin: 'ota.example.com/log', size: null, rootHash: null, witnessedBy: [] }))).to.equal(
      'log:        ota.example.com/log: no checkpoint verified yet',
    );
    expect(logLine(status(null))).to.equal('log:        not checked');
  });
});
