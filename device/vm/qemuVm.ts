import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { type GuestResult, GuestShell } from './guestShell.js';
import { QmpEvents } from './qmpEvents.js';
import { SerialConsole } from './serialConsole.js';

const run = promisify(execFile);

/** OVMF from Debian's `ovmf` package: the firmware code (read-only) and its variable store template. */
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** Where the guest finds the host's forwarded ports (device/image/rootfs/usr/local/sbin/enigm-ota-vm-forwards). */
const FORWARD_ADDRESS = '10.0.2.100';
const RELAY = join(__dirname, 'guestRelay.js');

export interface VmOptions {
  /** The cached base disk (device/image/build.sh's disk.img); never written: each VM has an overlay. */
  baseImage: string;
  /** This VM's own directory: overlay disk, firmware variables, console log, sockets. */
  dir: string;
  /** TCG by default: KVM hung on the machines this was built on. */
  accel?: 'tcg' | 'kvm';
  memoryMiB?: number;
  /** Host loopback ports the guest reaches at the same 127.0.0.1:<port>. */
  forwards?: number[];
}

/**
 * One reference VM under QEMU: a copy-on-write disk over the cached image, its serial console
 * as lines, a command channel to a root shell, host loopback forwards, and the power switch
 * (a SIGKILL is a power cut; `start` again boots the same disk).
 */
export class QemuVm {
  readonly console: SerialConsole;
  #shell: GuestShell | undefined;
  #qemu: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #cut = false;
  #resets = 0;
  #bootMark = 0;
  #startedAt = 0;

  private constructor(readonly options: VmOptions) {
    this.console = new SerialConsole(join(options.dir, 'console.log'));
  }

  /** Creates the VM's disk and firmware state (once) and powers it on. */
  static async create(options: VmOptions): Promise<QemuVm> {
    for (const name of [',', ' ']) {
      if (options.dir.includes(name) || RELAY.includes(name)) throw new Error(`vm: paths may not contain '${name}'`);
    }
    await mkdir(options.dir, { recursive: true });
    const overlay = join(options.dir, 'disk.qcow2');
    if (!(await exists(overlay))) {
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', options.baseImage, '-F', 'raw', overlay]);
      await copyFile(OVMF_VARS, join(options.dir, 'ovmf-vars.fd'));
    }
    const vm = new QemuVm(options);
    await vm.start();
    return vm;
  }

  get running(): boolean {
    return this.#qemu !== undefined;
  }

  /** Index of the first console line of the current power-on (waits from there by default). */
  get bootMark(): number {
    return this.#bootMark;
  }

  /** Guest reboots since the VM was created (each one a new QEMU process on the same disk). */
  get reboots(): number {
    return this.#resets;
  }

  /** Milliseconds since this power-on. */
  get sinceStart(): number {
    return Date.now() - this.#startedAt;
  }

  /** Powers the VM on with the disk as it was left. */
  async start(): Promise<void> {
    if (this.#qemu) throw new Error('vm: already running');
    this.#cut = false;
    this.#bootMark = this.console.lineCount;
    this.#startedAt = Date.now();
    await this.#spawn();
  }

  /**
   * One QEMU process. A guest reboot ends it (`-action reboot=shutdown`) and the next one
   * starts on the same disk and firmware variables: every boot is a cold one. QEMU's own
   * warm reset under TCG sometimes never reached the firmware again (the console stopped at
   * "reboot: machine restart"), and a device's reset runs its firmware from the start anyway.
   */
  async #spawn(): Promise<void> {
    const { dir } = this.options;
    const shellSocket = join(dir, 'shell.sock');
    const qmpSocket = join(dir, 'qmp.sock');
    await rm(shellSocket, { force: true });
    await rm(qmpSocket, { force: true });
    const shell = await GuestShell.listen(shellSocket);
    const qmp = await QmpEvents.listen(qmpSocket).catch(async (error: unknown) => {
      await shell.close();
      throw error;
    });
    this.#shell = shell;
    const qemu = spawn('qemu-system-x86_64', this.#arguments(shellSocket, qmpSocket), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#qemu = qemu;
    this.console.attach(qemu.stdout);
    this.console.attach(qemu.stderr);
    this.#exited = new Promise((resolve) => {
      let ended = false;
      const end = (status: string) => {
        if (ended) return;
        ended = true;
        // Whatever goes wrong after QEMU ended, the VM is off and every waiter hears it.
        this.#afterExit(shell, qmp, status)
          .catch((error: unknown) => this.#off(error instanceof Error ? error : new Error(String(error))))
          .finally(resolve);
      };
      qemu.once('exit', (code, signal) => end(String(signal ?? code ?? '?')));
      // Not started at all (no such program): no 'exit' follows.
      qemu.once('error', (error) => {
        if (qemu.pid === undefined) end(error.message);
      });
    });
  }

  #off(error: Error): void {
    this.#qemu = undefined;
    this.#shell = undefined;
    this.console.failWaiters(error);
  }

  /** A reboot starts the next QEMU (and resolves when that one has finally stopped); anything else is off. */
  async #afterExit(shell: GuestShell, qmp: QmpEvents, status: string): Promise<void> {
    this.#shell = undefined;
    const reason = this.#cut ? undefined : await qmp.shutdownReason();
    const error = new Error(`vm: QEMU exited (${status}${reason ? `, ${reason}` : ''})`);
    shell.disconnected(error);
    await Promise.all([shell.close(), qmp.close()]);
    if (reason === 'guest-reset' && !this.#cut) {
      this.#resets += 1;
      await this.#spawn();
      // A power cut while the next QEMU was starting applies to it.
      if (this.#cut) this.#qemu?.kill('SIGKILL');
      return this.#exited;
    }
    this.#off(error);
  }

  /** Waits for a console line of this power-on (or from `from`, a console line index). */
  waitFor(pattern: RegExp, options: { timeoutMs: number; from?: number }): Promise<{ line: string; index: number }> {
    // `from: undefined` means this power-on too, never the first line of every boot.
    return this.console.waitFor(pattern, { ...options, from: options.from ?? this.#bootMark });
  }

  /** Runs a command as root in the guest. */
  exec(command: string, options: { timeoutMs?: number } = {}): Promise<GuestResult> {
    if (!this.#shell) return Promise.reject(new Error('vm: not running'));
    return this.#shell.run(command, { timeoutMs: options.timeoutMs ?? 60_000 });
  }

  /** Starts a command in the guest and does not wait for it (one that reboots or powers off). */
  send(command: string): void {
    if (!this.#shell) throw new Error('vm: not running');
    this.#shell.send(command);
  }

  /**
   * Cuts the power: QEMU gets SIGKILL. The overlay is written through (every write the guest
   * saw complete is on the host, qcow2 metadata included: with write-back caching QEMU would
   * lose GRUB's unflushed grubenv write, which firmware never flushes); what was still in the
   * guest's memory is lost, as on a device whose storage has no volatile write cache.
   */
  async powerCut(): Promise<void> {
    this.#cut = true;
    this.#qemu?.kill('SIGKILL');
    await this.#exited;
  }

  /** Clean shutdown from inside the guest; fails if QEMU has not exited within the timeout. */
  async shutdown(options: { timeoutMs: number }): Promise<void> {
    if (!this.#qemu) return;
    this.send('systemctl poweroff');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('vm: no power-off within the timeout')), options.timeoutMs);
    });
    try {
      await Promise.race([this.#exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops QEMU if it runs and releases the console; `removeDir` deletes the overlay too. */
  async close(options: { removeDir?: boolean } = {}): Promise<void> {
    await this.powerCut();
    await this.console.close();
    if (options.removeDir) await rm(this.options.dir, { recursive: true, force: true });
  }

  #arguments(socket: string, qmpSocket: string): string[] {
    const { dir, accel = 'tcg', memoryMiB = 512, forwards = [] } = this.options;
    const guestfwd = forwards.map(
      (port) => `,guestfwd=tcp:${FORWARD_ADDRESS}:${port}-cmd:${process.execPath} ${RELAY} ${port}`,
    );
    return [
      ...['-nodefaults', '-no-user-config', '-display', 'none', '-machine', `q35,accel=${accel}`],
      ...['-m', String(memoryMiB), '-smp', '1', '-rtc', 'base=utc', '-action', 'reboot=shutdown'],
      ...['-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`],
      ...['-drive', `if=pflash,format=raw,file=${join(dir, 'ovmf-vars.fd')}`],
      ...['-drive', `if=virtio,format=qcow2,cache=writethrough,file=${join(dir, 'disk.qcow2')}`],
      ...['-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console'],
      ...['-device', 'virtio-serial-pci', '-chardev', `socket,id=shell,path=${socket}`],
      ...['-device', 'virtserialport,chardev=shell,name=org.enigm-ota.shell'],
      ...['-chardev', `socket,id=qmp,path=${qmpSocket}`, '-mon', 'chardev=qmp,mode=control'],
      ...['-netdev', `user,id=net0,restrict=on${guestfwd.join('')}`, '-device', 'virtio-net-pci,netdev=net0'],
      ...(forwards.length > 0 ? ['-fw_cfg', `name=opt/org.enigm-ota/forwards,string=${forwards.join(' ')}`] : []),
    ];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
