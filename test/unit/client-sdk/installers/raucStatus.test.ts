import { MAX_RAUC_STATUS_BYTES, parseRaucStatus } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

/** What RAUC 1.8 prints for `rauc status --detailed --output-format=json` on the VM's layout. */
const slot = (name: string, bootname: string, state: string, bootStatus: string | null, extra = {}) => ({
  [name]: {
    class: 'rootfs',
    device: `/dev/vda${bootname === 'A' ? 2 : 3}`,
    type: 'ext4',
    bootname,
    state,
    parent: null,
    mountpoint: state === 'booted' ? '/' : null,
    boot_status: bootStatus,
    ...extra,
  },
});
const status = (slots: unknown[], booted: unknown = 'A') =>
  JSON.stringify({ compatible: 'enigm-ota-vm', variant: null, booted, boot_primary: 'rootfs.0', slots });

describe('parseRaucStatus', () => {
  it('reads the booted slot, what the bootloader says of each slot and when RAUC wrote it', () => {
    const installed = {
      slot_status: { bundle: { compatible: 'enigm-ota-vm' }, installed: { timestamp: 'T1', count: 2 } },
    };
    const parsed = parseRaucStatus(
      status([slot('rootfs.0', 'A', 'booted', 'good'), slot('rootfs.1', 'B', 'inactive', 'bad', installed)]),
    );
    expect(parsed.compatible).to.equal('enigm-ota-vm');
    expect(parsed.booted).to.deep.equal({
      name: 'rootfs.0',
      class: 'rootfs',
      bootname: 'A',
      device: '/dev/vda2',
      state: 'booted',
      bootStatus: 'good',
      installedAt: undefined,
    });
    expect(parsed.slots[1]).to.include({ name: 'rootfs.1', bootStatus: 'bad', installedAt: 'T1' });
  });

  it('accepts the booted slot named by its device (root= on the kernel command line)', () => {
    const parsed = parseRaucStatus(
      status([slot('rootfs.0', 'A', 'inactive', 'good'), slot('rootfs.1', 'B', 'booted', 'bad')], '/dev/vda3'),
    );
    expect(parsed.booted.name).to.equal('rootfs.1');
  });

  it('accepts the booted slot named by its slot name and slots without a bootname', () => {
    const parsed = parseRaucStatus(
      status(
        [
          slot('rootfs.0', 'A', 'booted', 'good'),
          { 'appfs.0': { class: 'appfs', state: 'inactive', bootname: null, boot_status: null } },
        ],
        'rootfs.0',
      ),
    );
    expect(parsed.slots[1]).to.include({ name: 'appfs.0', bootname: undefined, bootStatus: undefined });
  });

  const refusals: Array<[string, string]> = [
    ['not JSON', '{"slots": ['],
    ['not an object', '[]'],
    ['no slots', status([])],
    ['no booted slot', status([slot('rootfs.0', 'A', 'inactive', 'good')])],
    ['two booted slots', status([slot('rootfs.0', 'A', 'booted', 'good'), slot('rootfs.1', 'B', 'booted', 'good')])],
    [
      'a booted name that is not the booted slot',
      status([slot('rootfs.0', 'A', 'booted', 'good'), slot('rootfs.1', 'B', 'inactive', 'bad')], 'B'),
    ],
    ['a boot status RAUC does not write', status([slot('rootfs.0', 'A', 'booted', 'ok')])],
    ['a slot name with a path in it', status([slot('../rootfs.0', 'A', 'booted', 'good')])],
    [
      'a slot entry naming two slots',
      status([{ ...slot('rootfs.0', 'A', 'booted', 'good'), ...slot('rootfs.1', 'B', 'inactive', 'bad') }]),
    ],
    [
      'a slot listed twice',
      status([slot('rootfs.0', 'A', 'booted', 'good'), slot('rootfs.0', 'A', 'inactive', 'good')]),
    ],
    [
      'a class that is not a string',
      status([{ 'rootfs.0': { class: 7, state: 'booted', bootname: 'A', boot_status: 'good' } }]),
    ],
    ['an endless string', status([slot('rootfs.0', 'A', 'booted', 'good', { class: 'x'.repeat(10_000) })])],
    [
      'a timestamp that is an object',
      status([slot('rootfs.0', 'A', 'booted', 'good', { slot_status: { installed: { timestamp: {} } } })]),
    ],
    [
      'too many slots',
      status(Array.from({ length: 65 }, (_, i) => slot(`s.${i}`, 'A', i === 0 ? 'booted' : 'inactive', 'good'))),
    ],
    [
      'an output over the limit',
      `${status([slot('rootfs.0', 'A', 'booted', 'good')])}${' '.repeat(MAX_RAUC_STATUS_BYTES)}`,
    ],
  ];
  for (const [what, text] of refusals) {
    it(`refuses ${what} with RAUC_STATUS_INVALID`, () => {
      expect(() => parseRaucStatus(text))
        .to.throw()
        .with.property('code', 'RAUC_STATUS_INVALID');
    });
  }
});
