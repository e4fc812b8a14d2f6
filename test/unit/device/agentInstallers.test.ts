import { AbSlotInstaller, RaucInstaller } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { agentConfigFrom } from '../../../device/agent/config';
import { installerFor } from '../../../device/agent/installers';
import { createLog } from '../../../device/agent/log';

const BASE = {
  apiUrl: 'https://ota.example.com:8443',
  deviceId: 'vm-0001',
  hardwareId: 'enigm-ota-vm',
  channel: 'stable',
};

describe('agent installer backends', () => {
  const log = createLog({ level: 'error', write: () => undefined });

  it('builds the backend the configuration names', () => {
    const reference = installerFor(agentConfigFrom({ ...BASE, installer: { backend: 'reference' } }), { log });
    expect(reference).to.be.instanceOf(AbSlotInstaller);
    const rauc = installerFor(
      agentConfigFrom({
        ...BASE,
        installer: { backend: 'rauc', raucBinary: '/opt/rauc/bin/rauc', raucSystemConfig: '/etc/rauc/vm.conf' },
        health: { commands: [{ argv: ['/usr/bin/check'], timeoutSec: 5 }] },
      }),
      { log },
    );
    expect(rauc).to.be.instanceOf(RaucInstaller);
  });

  it('refuses a RAUC program or system configuration that is not an absolute path', () => {
    expect(() => agentConfigFrom({ ...BASE, installer: { backend: 'rauc', raucBinary: 'rauc' } })).to.throw(
      'installer.raucBinary: must be an absolute path',
    );
  });
});
