import { InstallError } from '../errors';

/** One slot as `rauc status --detailed --output-format=json` describes it, the fields the agent uses. */
export interface RaucSlot {
  name: string;
  class: string;
  bootname: string | undefined;
  /** The slot's block device (`/dev/vda2`). */
  device: string | undefined;
  /** `booted`, `active` (mounted) or `inactive`. */
  state: string;
  /** What the bootloader says: `good` once marked good (GRUB: <bootname>_OK=1 and _TRY=0), else `bad`. */
  bootStatus: 'good' | 'bad' | undefined;
  /** When RAUC last wrote the slot (from its status file), to tell a slot rewritten behind the agent's back. */
  installedAt: string | undefined;
}

export interface RaucStatus {
  compatible: string;
  booted: RaucSlot;
  slots: RaucSlot[];
}

/** RAUC's status of a few slots is a few KiB; anything much larger is not RAUC talking. */
export const MAX_RAUC_STATUS_BYTES = 256 * 1024;
const MAX_SLOTS = 64;
const SLOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TEXT_LIMIT = 256;

/**
 * RAUC's status, checked as untrusted input: bounded, parsed, every field the agent reads of
 * the expected type, slot names plain, exactly one slot booted. Any other shape is
 * RAUC_STATUS_INVALID, never a guess: the agent marks slots and reports versions from it.
 */
export function parseRaucStatus(text: string): RaucStatus {
  if (Buffer.byteLength(text) > MAX_RAUC_STATUS_BYTES) invalid(`over ${MAX_RAUC_STATUS_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    invalid('not JSON');
  }
  const top = record(doc, 'the status');
  const list = top['slots'];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_SLOTS) invalid(`slots must list 1..${MAX_SLOTS}`);
  const slots = list.map(parseSlot);
  if (new Set(slots.map((s) => s.name)).size !== slots.length) invalid('a slot is listed twice');
  const booted = slots.filter((s) => s.state === 'booted');
  if (booted.length !== 1 || booted[0] === undefined) invalid(`${booted.length} slots are booted, not one`);
  const said = optionalText(top['booted'], 'booted');
  // RAUC names the booted slot by its bootname (rauc.slot=A), its name or its device (root=/dev/vda2).
  const names = [booted[0].bootname, booted[0].name, booted[0].device];
  if (said !== undefined && !names.includes(said)) {
    invalid(`booted ${JSON.stringify(said)} is not the booted slot ${booted[0].name}`);
  }
  return { compatible: optionalText(top['compatible'], 'compatible') ?? '', booted: booted[0], slots };
}

function parseSlot(entry: unknown): RaucSlot {
  const wrapper = record(entry, 'a slot entry');
  const names = Object.keys(wrapper);
  const name = names[0];
  if (names.length !== 1 || name === undefined || !SLOT_NAME.test(name))
    invalid('a slot entry must name one plain slot');
  const slot = record(wrapper[name], name);
  const bootStatus = optionalText(slot['boot_status'], `${name}.boot_status`);
  if (bootStatus !== undefined && bootStatus !== 'good' && bootStatus !== 'bad') invalid(`${name}.boot_status`);
  const detail = slot['slot_status'] === undefined ? {} : record(slot['slot_status'], `${name}.slot_status`);
  const installed = detail['installed'] === undefined ? {} : record(detail['installed'], `${name}.installed`);
  return {
    name,
    class: requiredText(slot['class'], `${name}.class`),
    bootname: optionalText(slot['bootname'], `${name}.bootname`),
    device: optionalText(slot['device'], `${name}.device`),
    state: requiredText(slot['state'], `${name}.state`),
    bootStatus,
    installedAt: optionalText(installed['timestamp'], `${name}.installed.timestamp`),
  };
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function optionalText(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > TEXT_LIMIT) invalid(`${what} is not a short string`);
  return value;
}

function requiredText(value: unknown, what: string): string {
  const text = optionalText(value, what);
  if (text === undefined) invalid(`${what} is missing`);
  return text;
}

function invalid(why: string): never {
  throw new InstallError('RAUC_STATUS_INVALID', `rauc status: ${why}`);
}
