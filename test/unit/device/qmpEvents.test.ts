import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { QmpEvents } from '../../../device/vm/qmpEvents';

/** Plays QEMU's side of the monitor socket: greets, waits for the negotiation, then says `lines`. */
async function qemuSays(path: string, lines: string[]): Promise<{ received: string; socket: Socket }> {
  const socket = connect(path);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write('{"QMP": {"version": {}, "capabilities": []}}\n');
  while (!received.includes('\n')) await new Promise((resolve) => setTimeout(resolve, 5));
  for (const line of lines) socket.write(`${line}\n`);
  return { received, socket };
}

describe('QMP events of the VM runner', () => {
  let dir: string;
  let qmp: QmpEvents | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-qmp-'));
  });

  afterEach(async () => {
    await qmp?.close();
    qmp = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('negotiates capabilities and answers the reason of the last SHUTDOWN once QEMU has gone', async () => {
    qmp = await QmpEvents.listen(join(dir, 'qmp.sock'));
    const { received, socket } = await qemuSays(join(dir, 'qmp.sock'), [
      '{"return": {}}',
      '{"event": "RESET", "data": {"guest": true, "reason": "guest-reset"}}',
      '{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-reset"}}',
    ]);
    expect(JSON.parse(received)).to.deep.equal({ execute: 'qmp_capabilities' });
    socket.end();
    expect(await qmp.shutdownReason()).to.equal('guest-reset');
  });

  it('tells a power-off from a reboot, and ignores lines that are not QMP', async () => {
    qmp = await QmpEvents.listen(join(dir, 'qmp.sock'));
    const { socket } = await qemuSays(join(dir, 'qmp.sock'), [
      'not json',
      '{"event": "SHUTDOWN", "data": {"guest": true, "reason": 7}}',
      '{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}',
    ]);
    socket.end();
    expect(await qmp.shutdownReason()).to.equal('guest-shutdown');
  });

  it('answers no reason when QEMU went without a SHUTDOWN event (killed)', async () => {
    qmp = await QmpEvents.listen(join(dir, 'qmp.sock'));
    const { socket } = await qemuSays(join(dir, 'qmp.sock'), []);
    socket.destroy();
    expect(await qmp.shutdownReason()).to.equal(undefined);
  });
});
