#!/bin/bash
# Lays out the disk of the reference VM from the tree in $1/root, without mounting anything:
# mkfs.ext4 -d fills the slot and data filesystems, mtools fills the EFI system partition,
# sfdisk writes the GPT and dd places each filesystem at its partition's offset.
set -euo pipefail
work=$1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MiB=$((1024 * 1024))
esp_mib=32 slot_mib=1024 data_mib=256
# Same timestamps and ids in every build of the same tree.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000} E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-1700000000}

# Slot content: the tree plus room for the first boot's writes; far smaller than the slot, so an
# update bundle carries only this much.
used_mib=$(du -sm --apparent-size "$work/root" | cut -f1)
fs_mib=$(((used_mib * 5 / 4 + 96 + 15) / 16 * 16))
[ "$fs_mib" -le "$slot_mib" ] || { echo "assemble: tree of $used_mib MiB does not fit a $slot_mib MiB slot" >&2; exit 1; }
mkfs.ext4 -q -F -L rootfs -U 0e1a0e1a-0000-4000-8000-0000000000a0 -E root_owner=0:0 -d "$work/root" "$work/rootfs.ext4" "${fs_mib}M"
mkfs.ext4 -q -F -L data -U 0e1a0e1a-0000-4000-8000-0000000000d0 "$work/data.ext4" "${data_mib}M"

# EFI system partition: GRUB as the removable-media loader (no NVRAM entry needed), its script
# and its environment block.
grub-mkimage -O x86_64-efi -p /EFI/enigm -o "$work/BOOTX64.EFI" \
  part_gpt fat ext2 normal linux boot configfile loadenv test echo serial terminal sleep reboot gzio efi_gop
grub-editenv "$work/grubenv" create
grub-editenv "$work/grubenv" set ORDER="A B" A_OK=1 A_TRY=0 B_OK=1 B_TRY=0 MAX_TRIES=3
mkfs.vfat -n ESP -i 0e1a0e1a -C "$work/esp.img" $((esp_mib * 1024)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/EFI/enigm
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.img" "$here/esp/grub.cfg" "$work/grubenv" ::/EFI/enigm/

# GPT: 1 MiB aligned partitions, fixed order (RAUC's system.conf names /dev/vda2 and /dev/vda3).
total_mib=$((1 + esp_mib + 2 * slot_mib + data_mib + 1))
truncate -s 0 "$work/disk.img"
truncate -s "${total_mib}M" "$work/disk.img"
sfdisk -q "$work/disk.img" <<SFDISK
label: gpt
label-id: 5A4E0E1A-0000-4000-8000-000000000001
start=1MiB, size=${esp_mib}MiB, type=uefi, name=esp
size=${slot_mib}MiB, type=linux, name=rootfs.0
size=${slot_mib}MiB, type=linux, name=rootfs.1
size=${data_mib}MiB, type=linux, name=data
SFDISK
place() { dd if="$1" of="$work/disk.img" bs=1M seek="$2" conv=notrunc,sparse status=none; }
place "$work/esp.img" 1
place "$work/rootfs.ext4" $((1 + esp_mib))
place "$work/rootfs.ext4" $((1 + esp_mib + slot_mib))
place "$work/data.ext4" $((1 + esp_mib + 2 * slot_mib))
rm -f "$work/esp.img" "$work/data.ext4" "$work/BOOTX64.EFI" "$work/grubenv"
echo "slot filesystem ${fs_mib} MiB (tree ${used_mib} MiB); disk ${total_mib} MiB"
