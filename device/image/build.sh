#!/bin/bash
# Builds the Enigm OTA reference VM disk image from Debian packages, or finds it in the cache.
#
#   device/image/build.sh [--keyring FILE] [--agent-exe FILE [--agent-unit FILE]] [--version V]
#
# Without --keyring, a development keyring made once under the cache (dev-keys/dev.cert.pem,
# its key dev.key.pem beside it) is the image's RAUC keyring.
# Prints the image directory: disk.img (raw GPT disk: 1 EFI system partition with GRUB and its
# environment, 2 and 3 root slots A and B, 4 the data partition), rootfs.ext4 (the slot
# content, for update bundles), manifest.txt (the Debian packages and versions inside) and
# inputs.txt. The directory is ~/.cache/enigm-ota/device-image/<hash of the inputs>: the
# recipe files here (not the TypeScript that drives this script), the package list, the
# Debian mirror or snapshot, the keyring, the agent files and the version; a second build
# with the same inputs returns at once.
# OTA_DEVICE_DEBIAN_SNAPSHOT=20250520T000000Z builds from snapshot.debian.org (reproducible).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${OTA_DEVICE_IMAGE_CACHE:-$HOME/.cache/enigm-ota/device-image}"
keyring="" agent_exe="" agent_unit="" version="1.0.0"
while [ $# -gt 0 ]; do
  case "$1" in
    --keyring) keyring=$2; shift 2 ;;
    --agent-exe) agent_exe=$2; shift 2 ;;
    --agent-unit) agent_unit=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$keyring" ]; then
  # A development keyring, made once per machine: test bundles are signed with its key.
  keyring="$cache_root/dev-keys/dev.cert.pem"
  if [ ! -f "$keyring" ]; then
    mkdir -p -m 0700 "$cache_root/dev-keys"
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/O=Enigm OTA development/CN=enigm-ota-vm" \
      -keyout "$cache_root/dev-keys/dev.key.pem" -out "$keyring.tmp" 2>/dev/null
    mv "$keyring.tmp" "$keyring"
  fi
fi
[ -r "$keyring" ] || { echo "build.sh: keyring $keyring not readable" >&2; exit 2; }
[[ "$version" =~ ^[0-9A-Za-z.+~-]{1,64}$ ]] || { echo "build.sh: bad --version" >&2; exit 2; }
if [ -n "$agent_exe" ] && [ -z "$agent_unit" ]; then agent_unit="$here/../packaging/enigm-ota-agent.service"; fi
[ -z "$agent_exe" ] || [ -r "$agent_unit" ] || { echo "build.sh: agent unit $agent_unit missing" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (mmdebstrap, chroot)" >&2; exit 2; }

suite=bookworm
if [ -n "${OTA_DEVICE_DEBIAN_SNAPSHOT:-}" ]; then
  mirror="http://snapshot.debian.org/archive/debian/$OTA_DEVICE_DEBIAN_SNAPSHOT"
else
  mirror="http://deb.debian.org/debian"
fi
packages=$(grep -v '^#' "$here/packages.txt" | xargs | tr ' ' ,)

inputs() {
  echo "suite $suite"
  echo "mirror $mirror"
  echo "packages $packages"
  echo "version $version"
  (cd "$here" && find . -type f ! -name '*.md' ! -name '*.ts' -print0 | sort -z | xargs -0 sha256sum)
  echo "keyring $(sha256sum <"$keyring" | cut -d' ' -f1)"
  [ -z "$agent_exe" ] || echo "agent $(cat "$agent_exe" "$agent_unit" | sha256sum | cut -d' ' -f1)"
}
hash=$(inputs | sha256sum | cut -c1-16)
out="$cache_root/$hash"
if [ -f "$out/disk.img" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-$hash.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/build.log"
inputs >"$work/inputs.txt"
start=$SECONDS
{
  export IMAGE_KEYRING="$keyring" IMAGE_VERSION="$version" IMAGE_AGENT_EXE="$agent_exe" IMAGE_AGENT_UNIT="$agent_unit"
  mmdebstrap --variant=apt --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook="chroot \"\$1\" dpkg-query -W >\"$work/manifest.txt\"" \
    --customize-hook="\"$here/customize.sh\" \"\$1\"" \
    "$suite" "$work/root" "$mirror" &&
    # (set -e does not apply inside a block that is followed by ||: each step says it failed.)
    bash "$here/assemble.sh" "$work"
} >"$log" 2>&1 || { echo "build.sh: failed; last lines of $log:" >&2; tail -30 "$log" >&2; trap - EXIT; exit 1; }
echo "built in $((SECONDS - start)) s" >>"$log"
rm -rf "$work/root"
chmod 0755 "$work"
# Two builds of the same inputs at once: the first to finish wins, the other is dropped.
mv -T "$work" "$out" 2>/dev/null || rm -rf "$work"
trap - EXIT
echo "$out"
