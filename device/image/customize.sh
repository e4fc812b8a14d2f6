#!/bin/bash
# mmdebstrap customize hook: turns the installed tree ($1) into the slot content of the
# reference VM. Inputs come from build.sh's environment (IMAGE_KEYRING, IMAGE_VERSION,
# IMAGE_AGENT_EXE, IMAGE_AGENT_UNIT).
set -euo pipefail
root=$1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

cp -a "$here/rootfs/." "$root/"
install -m 0644 "$IMAGE_KEYRING" "$root/etc/rauc/keyring.pem"
mkdir -p "$root/etc/enigm-ota"
printf '%s\n' "$IMAGE_VERSION" >"$root/etc/enigm-ota/version"
mkdir -p "$root/boot/efi" "$root/var/lib/enigm-ota"
systemctl --root="$root" enable systemd-networkd.service enigm-ota-vm-forwards.service enigm-ota-vm-shell.service
# Nothing waits for a network the guest may never get (restrict=on has no route out), and
# nothing scrubs LVM snapshots the VM does not have (e2scrub_reap held multi-user.target).
systemctl --root="$root" mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service
if [ -n "${IMAGE_AGENT_EXE:-}" ]; then
  install -m 0755 "$IMAGE_AGENT_EXE" "$root/usr/bin/enigm-ota-agent"
  install -m 0644 "$IMAGE_AGENT_UNIT" "$root/etc/systemd/system/enigm-ota-agent.service"
  systemctl --root="$root" enable enigm-ota-agent.service
fi

# Kernel modules: only those a virtio machine and RAUC load (keep-modules.txt).
for dir in "$root"/usr/lib/modules/*/; do
  (cd "$dir/kernel" && find . -name '*.ko*' -printf '%P\n' | grep -Evf <(grep -v '^#' "$here/keep-modules.txt") | xargs -r rm -f)
  find "$dir/kernel" -type d -empty -delete
  chroot "$root" depmod "$(basename "$dir")"
done
chroot "$root" update-initramfs -u -k all

# Root has no password (locked): the serial console asks for one nobody has, and the image
# runs no network login service.
chroot "$root" passwd -l root >/dev/null
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log
: >"$root/etc/machine-id"
