#!/usr/bin/env bash
# npm test: every tier, each with its own mocha config in test/tiers/.
#   unit         pure logic, the SDK core, workflow logic on the time-skipping server; no stack
#                (and the transparency log server's Go tests)
#   integration  everything that needs the embedded stack (Temporal, MinIO, SoftHSM2, PGlite, API, worker)
#   postgres     the suites that exercise the fleet store, again on a real PostgreSQL server
#   device       the reference device in a QEMU virtual machine (device/image, device/vm): real
#                GRUB, RAUC, reboots and power cuts; needs root (the image build) and runs last,
#                alone, because an emulated CPU would slow every other tier's timers
# The unit tier runs first (it fails fast). The stack tiers then run in OTA_TEST_LANES lanes
# (default 4) side by side, each lane on stacks of its own (port offsets 0, 50, 100...: own
# ports, own var/test* home). scripts/testLanes.ts balances the lanes by the seconds each file
# took (test/tiers/times.json; the postgres tier is one piece): their tests mostly wait on
# timers, so four stacks share two cores well, and every integration file sets up what it
# needs, so any split works. After the run the slowest files are printed and every file's time
# is in var/test-times.json (OTA_TEST_UPDATE_TIMES=1 writes test/tiers/times.json instead).
# OTA_TEST_SERIAL=1 runs the tiers one after the other on one stack at a time;
# OTA_TEST_TIERS="unit" (space-separated) runs a subset. Prints each part's time and one summary
# line at the end, after the failures of every part again.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tiers="${OTA_TEST_TIERS:-unit integration postgres device}"
base_offset="${OTA_TEST_PORT_OFFSET:-0}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
start_all=$SECONDS
parts=()

for tier in $tiers; do
  [ -f "test/tiers/$tier.json" ] || { echo "test: unknown tier $tier (see test/tiers/)" >&2; exit 2; }
done
has() { [[ " $tiers " == *" $1 "* ]]; }

# run_part NAME CONFIG OFFSET [DB]: one mocha run; output in $logs/NAME.log, time in $logs/NAME.time.
run_part() {
  local name=$1 config=$2 offset=$3 db=${4:-} start=$SECONDS rc
  env ${db:+OTA_TEST_DATABASE=$db} OTA_TEST_PORT_OFFSET="$offset" OTA_TEST_TIMES="$logs/times-$name.json" \
    bash scripts/node.sh node_modules/mocha/bin/mocha.js --config "$config" >>"$logs/$name.log" 2>&1
  rc=$?
  echo "$((SECONDS - start))" >"$logs/$name.time"
  return $rc
}
# start_part NAME ...: registers the part (its log exists before anything tails it).
start_part() { parts+=("$1"); : >"$logs/$1.log"; }
# follow PID NAME: the part's output as it comes, until its process ends.
follow() { tail -n +1 -f "$logs/$2.log" --pid="$1" 2>/dev/null; }

status=0
if has unit; then
  printf '\033[1m[test]\033[0m tier unit\n'
  start_part unit
  run_part unit test/tiers/unit.json "$base_offset" & pid=$!
  follow $pid unit
  wait $pid || status=1
  # The transparency log server's own tests (Go, scripts/tlog): a real Tessera log in a temp folder.
  printf '\033[1m[test]\033[0m transparency log server (go test)\n'
  (cd scripts/tlog && go test -count=1 ./...) || status=1
fi

if has integration && [ -z "${OTA_TEST_SERIAL:-}" ]; then
  lanes="${OTA_TEST_LANES:-4}"
  plan=$(bash scripts/node.sh dist/scripts/testLanes.js plan "$lanes" "$logs" "$(has postgres && echo postgres || echo -)") || exit 2
  printf '\033[1m[test]\033[0m integration%s in %s lanes side by side (the other lanes follow lane 1)\n' "$(has postgres && echo ' and postgres')" "$lanes"
  lane_pids=()
  while read -r lane config pg planned; do
    [ "$config" != - ] && start_part "integration-$lane"
    [ "$pg" = postgres ] && start_part postgres
    (
      offset=$((base_offset + 50 * (lane - 1))) failed=0
      if [ "$config" != - ]; then run_part "integration-$lane" "$config" "$offset" || failed=1; fi
      if [ "$pg" = postgres ]; then run_part postgres test/tiers/postgres.json "$offset" postgres || failed=1; fi
      exit $failed
    ) &
    lane_pids+=($!)
    echo "  lane $lane: about $planned s$([ "$pg" = postgres ] && echo ', then the postgres tier')"
  done <<<"$plan"
  follow "${lane_pids[0]}" integration-1
  for pid in "${lane_pids[@]}"; do wait "$pid" || status=1; done
  for part in "${parts[@]}"; do
    [ "$part" = unit ] || [ "$part" = integration-1 ] && continue
    printf '\033[1m[test]\033[0m %s\n' "$part"
    cat "$logs/$part.log"
  done
else
  for tier in integration postgres; do
    has "$tier" || continue
    printf '\033[1m[test]\033[0m tier %s\n' "$tier"
    start_part "$tier"
    run_part "$tier" "test/tiers/$tier.json" "$base_offset" "$([ "$tier" = postgres ] && echo postgres)" & pid=$!
    follow $pid "$tier"
    wait $pid || status=1
  done
fi

if has device; then
  printf '\033[1m[test]\033[0m tier device\n'
  start_part device
  run_part device test/tiers/device.json "$base_offset" & pid=$!
  follow $pid device
  wait $pid || status=1
fi

passed=0 failed=0
for part in "${parts[@]}"; do
  p=$(grep -Eo '^ +[0-9]+ passing' "$logs/$part.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '^ +[0-9]+ failing' "$logs/$part.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  passed=$((passed + p)) failed=$((failed + f))
  printf '\033[1m[test]\033[0m %s: %s passed, %s failed in %s s\n' "$part" "$p" "$f" "$(cat "$logs/$part.time" 2>/dev/null || echo '?')"
done
printf '\033[1m[test]\033[0m all tiers in %s s\n' "$((SECONDS - start_all))"
if compgen -G "$logs/times-*.json" >/dev/null; then
  times_out="$root/var/test-times.json"
  [ -n "${OTA_TEST_UPDATE_TIMES:-}" ] && times_out="$root/test/tiers/times.json"
  printf '\033[1m[test]\033[0m slowest files (all in %s):\n' "${times_out#"$root"/}"
  bash scripts/node.sh dist/scripts/testLanes.js times "$times_out" "$logs"/times-*.json || true
fi
# The failures again, last, so that the tail of a long run shows what failed and why.
for part in "${parts[@]}"; do
  grep -Eq '^ +[0-9]+ failing' "$logs/$part.log" || continue
  printf '\033[1m[test]\033[0m failures in %s:\n' "$part"
  sed -n '/^ *[0-9]* failing/,$p' "$logs/$part.log" | head -n 200
done
# A part that failed without a mocha count (a crash before its summary) still counts as a failure.
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
exit $status
