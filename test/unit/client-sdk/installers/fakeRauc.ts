import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A stand-in for the `rauc` program in unit tests only: two slots (rootfs.0 booted as A,
 * rootfs.1 as B) and a GRUB environment with RAUC's grub backend semantics (<bootname>_OK,
 * <bootname>_TRY, ORDER), kept in a JSON file. `boot()` runs the selection of RAUC's example
 * GRUB script (contrib/grub.conf), so reboots, fallbacks and power cuts play out as on a disk.
 * The real program is exercised by the integration test of bundles and by the device tier.
 */
export interface FakeGrub {
  order: string[];
  vars: Record<string, number>;
  booted: string;
  installed: Record<string, string>;
  activateInstalled: boolean;
  failInstall: boolean;
  /** Replaces the status output (a broken or hostile RAUC). */
  statusText?: string;
  calls: string[][];
}

const SLOTS: Record<string, string> = { A: 'rootfs.0', B: 'rootfs.1' };

const SCRIPT = `
const fs = require('node:fs');
const file = process.env.FAKE_RAUC_ENV || __dirname + '/grub.json';
const env = JSON.parse(fs.readFileSync(file, 'utf8'));
const args = process.argv.slice(2).filter((a) => !a.startsWith('--conf='));
env.calls.push(args);
const SLOTS = ${JSON.stringify(SLOTS)};
const bootnameOf = (slot) => Object.keys(SLOTS).find((b) => SLOTS[b] === slot);
const other = (b) => (b === 'A' ? 'B' : 'A');
const pick = (which) => (which === 'booted' ? env.booted : which === 'other' ? other(env.booted) : bootnameOf(which));
const good = (b) => env.order.includes(b) && env.vars[b + '_OK'] === 1 && env.vars[b + '_TRY'] === 0;
const save = () => fs.writeFileSync(file, JSON.stringify(env));
const activate = (b) => { env.vars[b + '_OK'] = 1; env.vars[b + '_TRY'] = 0; env.order = [b, other(b)]; };
const [cmd, sub, which] = args;
if (cmd === 'status' && (sub === 'mark-good' || sub === 'mark-bad' || sub === 'mark-active')) {
  const b = pick(which);
  if (!b) { process.stderr.write('no such slot ' + which); process.exit(1); }
  if (sub === 'mark-active') activate(b);
  else { env.vars[b + '_OK'] = sub === 'mark-good' ? 1 : 0; env.vars[b + '_TRY'] = 0; }
  save();
} else if (cmd === 'status') {
  save();
  if (env.statusText !== undefined) { process.stdout.write(env.statusText); process.exit(0); }
  const slots = Object.keys(SLOTS).map((b) => ({ [SLOTS[b]]: {
    class: 'rootfs', device: '/dev/vd' + (b === 'A' ? 'a2' : 'a3'), type: 'ext4', bootname: b,
    state: env.booted === b ? 'booted' : 'inactive', parent: null, mountpoint: env.booted === b ? '/' : null,
    boot_status: good(b) ? 'good' : 'bad',
    slot_status: { bundle: { compatible: 'enigm-ota-vm' },
      ...(env.installed[SLOTS[b]] ? { installed: { timestamp: env.installed[SLOTS[b]], count: 1 } } : {}) },
  } }));
  process.stdout.write(JSON.stringify({ compatible: 'enigm-ota-vm', variant: null, booted: env.booted, boot_primary: null, slots }));
} else if (cmd === 'install') {
  if (env.failInstall || !fs.existsSync(sub)) { save(); process.stderr.write('installation failed'); process.exit(1); }
  const b = other(env.booted);
  env.vars[b + '_OK'] = 0;
  env.installed[SLOTS[b]] = new Date().toISOString() + '-' + env.calls.length;
  if (env.activateInstalled) activate(b);
  save();
} else { save(); process.stderr.write('unknown command'); process.exit(1); }
`;

export class FakeRauc {
  readonly binary: string;
  private readonly envFile: string;

  private constructor(dir: string) {
    this.binary = join(dir, 'rauc');
    this.envFile = join(dir, 'grub.json');
  }

  /** A factory-fresh device: slot A booted and marked good, B empty. */
  static async create(dir: string): Promise<FakeRauc> {
    const fake = new FakeRauc(dir);
    await writeFile(fake.binary, `#!${process.execPath}\n${SCRIPT}`);
    await chmod(fake.binary, 0o755);
    await fake.write({
      order: ['A', 'B'],
      vars: { A_OK: 1, A_TRY: 0, B_OK: 0, B_TRY: 0 },
      booted: 'A',
      installed: {},
      activateInstalled: true,
      failInstall: false,
      calls: [],
    });
    return fake;
  }

  async read(): Promise<FakeGrub> {
    return JSON.parse(await readFile(this.envFile, 'utf8')) as FakeGrub;
  }

  async write(env: FakeGrub): Promise<void> {
    await writeFile(this.envFile, JSON.stringify(env));
  }

  async change(edit: (env: FakeGrub) => void): Promise<void> {
    const env = await this.read();
    edit(env);
    await this.write(env);
  }

  /** A (re)boot: RAUC's example GRUB script picks the first slot in ORDER with _OK=1 and _TRY=0, setting _TRY=1. */
  async boot(): Promise<string> {
    const env = await this.read();
    let chosen: string | undefined;
    for (const b of env.order) {
      const ok = env.vars[`${b}_OK`];
      const tried = env.vars[`${b}_TRY`];
      env.vars[`${b}_TRY`] = 1;
      if (ok === 1 && tried === 0) {
        chosen = b;
        break;
      }
    }
    if (chosen === undefined) throw new Error(`no bootable slot: ${JSON.stringify(env.vars)}`);
    env.booted = chosen;
    await this.write(env);
    return SLOTS[chosen]!;
  }
}
