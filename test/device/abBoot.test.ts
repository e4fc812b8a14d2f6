import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';

import { type QemuVm } from '../../device/vm/qemuVm';
import { TEST_PROFILE } from '../../scripts/lib/stack';
import { deviceImage, freshVm, GRUB_CHOICE, grubenv, guest, nextBoot, reboot } from './referenceVm';

interface RaucStatus {
  compatible: string;
  booted: string;
  slots: Record<string, { device: string; bootname: string; state: string }>[];
}

async function raucStatus(vm: QemuVm): Promise<RaucStatus> {
  // The JSON alone: RAUC writes warnings to stderr (shown only if the command fails), as the agent reads it.
  const command =
    'out=$(rauc status --output-format=json 2>/run/rauc-status.err) || { cat /run/rauc-status.err; exit 1; }; echo "$out"';
  return JSON.parse(await guest(vm, command)) as RaucStatus;
}

function slots(status: RaucStatus): Record<string, { device: string; bootname: string; state: string }> {
  return Object.assign({}, ...status.slots) as Record<string, { device: string; bootname: string; state: string }>;
}

describe('reference VM: A/B boot through GRUB and RAUC', function () {
  let vm: QemuVm | undefined;

  before(async function () {
    this.timeout(900_000);
    await deviceImage();
  });

  afterEach(async function () {
    await vm?.close({ removeDir: this.currentTest?.state === 'passed' });
    vm = undefined;
  });

  it('boots slot A to multi-user.target under TCG; RAUC sees both slots; root has no password', async function () {
    const api = TEST_PROFILE.apiPort;
    const server: Server = createServer((socket) => socket.end('from the host loopback\n'));
    await new Promise<void>((resolve) => server.listen(api, '127.0.0.1', resolve));
    try {
      vm = await freshVm('boot', { forwards: [api] });
      const boot = await nextBoot(vm);
      console.log(
        `      boot: GRUB after ${boot.toGrub.toFixed(1)} s, multi-user after ${boot.toMultiUser.toFixed(1)} s`,
      );
      assert.deepEqual([boot.slot, boot.tryNumber], ['A', 1]);

      const status = await raucStatus(vm);
      assert.equal(status.compatible, 'enigm-ota-vm');
      assert.equal(status.booted, 'A');
      const bySlot = slots(status);
      // RAUC lists the slots in no particular order (a hash table's).
      assert.deepEqual(
        Object.entries(bySlot)
          .map(([name, s]) => [name, s.device, s.bootname])
          .sort(),
        [
          ['rootfs.0', '/dev/vda2', 'A'],
          ['rootfs.1', '/dev/vda3', 'B'],
        ],
      );
      assert.equal(bySlot['rootfs.0']?.state, 'booted');
      assert.match(await guest(vm, 'passwd -S root'), /^root L /);
      assert.equal(await guest(vm, 'cat /etc/enigm-ota/version'), '1.0.0');
      assert.match(await guest(vm, 'findmnt -no SOURCE /var/lib/enigm-ota'), /^\/dev\/vda4$/);

      // The host's loopback port at the same address inside the guest, and nothing else.
      const fetched = await guest(vm, `timeout 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${api}; cat <&3'`);
      assert.equal(fetched, 'from the host loopback');
      const outside = await vm.exec(`timeout 10 bash -c 'exec 3<>/dev/tcp/10.0.2.2/${api}'`);
      assert.notEqual(outside.code, 0, 'the host is reachable only through the forwards');

      await vm.shutdown({ timeoutMs: 120_000 });
      assert.equal(vm.running, false);
    } finally {
      server.close();
    }
  });

  it('rauc status mark-active other, then a reboot, boots slot B', async function () {
    vm = await freshVm('switch');
    await nextBoot(vm);
    await guest(vm, 'rauc status mark-active other');
    assert.equal((await grubenv(vm))['ORDER'], 'B A');

    const boot = await nextBoot(vm, reboot(vm));
    console.log(`      reboot into B: multi-user after ${boot.toMultiUser.toFixed(1)} s`);
    assert.deepEqual([boot.slot, boot.tryNumber], ['B', 1]);
    assert.match(await guest(vm, 'cat /proc/cmdline'), /\brauc\.slot=B\b.*|root=\/dev\/vda3/);
    assert.equal((await raucStatus(vm)).booted, 'B');

    // Marked good, the slot's try count is back to zero: the next boots stay on B.
    await guest(vm, 'rauc status mark-good booted');
    const env = await grubenv(vm);
    assert.deepEqual([env['B_OK'], env['B_TRY']], ['1', '0']);
  });

  it('a slot never marked good is left after its tries, power cuts included', async function () {
    vm = await freshVm('tries');
    await nextBoot(vm);
    await guest(vm, 'rauc status mark-good booted && rauc status mark-active other');

    // Try 1: B boots fully, nobody confirms it, the device reboots.
    const first = await nextBoot(vm, reboot(vm));
    assert.deepEqual([first.slot, first.tryNumber], ['B', 1]);
    // Try 2: the power goes while the kernel loads; try 3: while systemd starts.
    let from = reboot(vm);
    assert.match((await vm.waitFor(GRUB_CHOICE, { timeoutMs: 240_000, from })).line, /slot B \(try 2 of 3\)/);
    await vm.powerCut();
    await vm.start();
    assert.match((await vm.waitFor(GRUB_CHOICE, { timeoutMs: 240_000 })).line, /slot B \(try 3 of 3\)/);
    await vm.waitFor(/systemd\[1\]: Hostname set/, { timeoutMs: 240_000 });
    await vm.powerCut();
    await vm.start();

    const fallback = await nextBoot(vm);
    assert.deepEqual([fallback.slot, fallback.tryNumber], ['A', 1]);
    assert.equal((await raucStatus(vm)).booted, 'A');
    const env = await grubenv(vm);
    assert.deepEqual([env['ORDER'], env['B_OK'], env['B_TRY']], ['B A', '1', '3']);
    from = reboot(vm);
    const again = await vm.waitFor(GRUB_CHOICE, { timeoutMs: 240_000, from });
    assert.match(again.line, /slot A \(try 2 of 3\)/, 'B stays skipped');
  });

  it('a power cut while the first boot starts its services, then power on: a good slot boots', async function () {
    vm = await freshVm('powercut');
    await vm.waitFor(/systemd\[1\]: Hostname set/, { timeoutMs: 240_000 });
    await vm.powerCut();
    await vm.start();
    const boot = await nextBoot(vm);
    assert.deepEqual([boot.slot, boot.tryNumber], ['A', 2]);
    assert.equal((await raucStatus(vm)).booted, 'A');
    await guest(vm, 'rauc status mark-good booted');
    assert.equal((await grubenv(vm))['A_TRY'], '0');
    assert.match(await guest(vm, 'findmnt -no SOURCE /var/lib/enigm-ota'), /^\/dev\/vda4$/);
  });
});
