import { createReadStream } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';

import { buildDeviceImage, type DeviceImage } from '../../device/image/deviceImage';
import { QemuVm } from '../../device/vm/qemuVm';
import { TEST_PORT_OFFSET } from '../../scripts/lib/stack';
import { REPO_ROOT } from '../paths';

/** GRUB's announcement of the slot it boots (device/image/esp/grub.cfg). */
export const GRUB_CHOICE = /enigm-ota: booting slot ([AB]) \(try (\d) of (\d)\)/;
export const MULTI_USER = /Reached target .*Multi-User System/;
/** Under TCG on a shared two-core machine a boot took 25 to 40 s; this bounds a hang. */
export const BOOT_TIMEOUT_MS = 240_000;

let image: Promise<DeviceImage> | undefined;

/** The cached reference image (the first build of a machine takes about two minutes). */
export function deviceImage(): Promise<DeviceImage> {
  image ??= buildDeviceImage();
  return image;
}

/**
 * The folder of one test VM: its overlay, firmware variables and console log. Beside the test
 * stack's home, not in it: a stack starting wipes its home, and must not pull a disk from
 * under a VM of another file of the run.
 */
export function vmDir(name: string): string {
  return join(REPO_ROOT, 'var', `device-${TEST_PORT_OFFSET}`, `${name}-${process.pid}`);
}

/** A fresh VM (own overlay over the cached image). */
export async function freshVm(name: string, options: { forwards?: number[] } = {}): Promise<QemuVm> {
  const { disk } = await deviceImage();
  return QemuVm.create({ baseImage: disk, dir: vmDir(name), accel: 'tcg', forwards: options.forwards ?? [] });
}

export interface Boot {
  slot: string;
  tryNumber: number;
  /** Seconds from power-on (or the reboot's first line) to GRUB's choice and to multi-user.target. */
  toGrub: number;
  toMultiUser: number;
}

/**
 * Waits for the next boot after console line `from` (default: this power-on) to reach
 * multi-user.target, and says which slot GRUB chose.
 */
export async function nextBoot(vm: QemuVm, from?: number): Promise<Boot> {
  const started = Date.now() - (from === undefined ? vm.sinceStart : 0);
  const choice = await vm.waitFor(GRUB_CHOICE, { timeoutMs: BOOT_TIMEOUT_MS, from });
  const toGrub = (Date.now() - started) / 1000;
  await vm.waitFor(MULTI_USER, { timeoutMs: BOOT_TIMEOUT_MS, from: choice.index });
  const [, slot = '', tryNumber = '0'] = GRUB_CHOICE.exec(choice.line) ?? [];
  return { slot, tryNumber: Number(tryNumber), toGrub, toMultiUser: (Date.now() - started) / 1000 };
}

/** Runs a command in the guest and fails the test on a non-zero status. */
export async function guest(vm: QemuVm, command: string, options: { timeoutMs?: number } = {}): Promise<string> {
  const { code, output } = await vm.exec(command, options);
  if (code !== 0) throw new Error(`guest: ${command} exited ${code}: ${output}`);
  return output;
}

/** The GRUB environment as RAUC and grub.cfg see it. */
export async function grubenv(vm: QemuVm): Promise<Record<string, string>> {
  const output = await guest(vm, 'grub-editenv /boot/efi/EFI/enigm/grubenv list');
  return Object.fromEntries(output.split('\n').map((line) => line.split('=', 2) as [string, string]));
}

/** Reboots from inside the guest; answers the console index to wait for the next boot from. */
export function reboot(vm: QemuVm): number {
  const from = vm.console.lineCount;
  vm.send('systemctl reboot');
  return from;
}

/**
 * The file's bytes to every connection on a host loopback port (forward it into the VM); the
 * guest reads them with `copyFromHost`. The reference image has no HTTP client: bash's /dev/tcp is.
 */
export async function serveFile(file: string): Promise<{ port: number; close(): void }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    createReadStream(file).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** Copies a file `serveFile` serves on forwarded `port` to `path` in the guest, checked against its length. */
export async function copyFromHost(vm: QemuVm, from: { port: number; bytes: number }, path: string): Promise<void> {
  await guest(vm, `exec 3<>/dev/tcp/127.0.0.1/${from.port}; cat <&3 > ${path}`, { timeoutMs: 600_000 });
  const copied = Number(await guest(vm, `stat -c %s ${path}`));
  if (copied !== from.bytes) throw new Error(`the guest got ${copied} of ${from.bytes} bytes`);
}
