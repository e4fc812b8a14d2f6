#!/usr/bin/env bash
# npm test: every tier, each with its own mocha config in test/tiers/.
#   unit         pure logic, the SDK core, workflow logic on the time-skipping server; no stack
#   integration  everything that needs the embedded stack (Temporal, MinIO, SoftHSM2, PGlite, API, worker)
#   postgres     the suites that exercise the fleet store, again on a real PostgreSQL server
# The unit tier runs first (it fails fast). The stack tiers then run in two lanes side by side,
# each lane on stacks of its own (port offsets 0 and 50: own ports, own var/test* home):
#   lane 1: half of the integration files        lane 2: the other half, then the postgres tier
# Their tests mostly wait on timers, so two stacks share the two cores well, and every
# integration file sets up what it needs, so any split works. OTA_TEST_SERIAL=1 runs the
# tiers one after the other on one stack at a time; OTA_TEST_TIERS="unit" (space-separated)
# runs a subset. Prints each part's time and one summary line at the end.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tiers="${OTA_TEST_TIERS:-unit integration postgres}"
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
  env ${db:+OTA_TEST_DATABASE=$db} OTA_TEST_PORT_OFFSET="$offset" \
    bash scripts/node.sh node_modules/mocha/bin/mocha.js --config "$config" >>"$logs/$name.log" 2>&1
  rc=$?
  echo "$((SECONDS - start))" >"$logs/$name.time"
  return $rc
}
# start_part NAME ...: registers the part (its log exists before anything tails it).
start_part() { parts+=("$1"); : >"$logs/$1.log"; }
# follow PID NAME: the part's output as it comes, until its process ends.
follow() { tail -n +1 -f "$logs/$2.log" --pid="$1" 2>/dev/null; }

# shard_config N OF: the integration config with every OF-th spec file from the N-th on.
# postgres/ needs PostgreSQL itself: only the postgres tier runs it (as test/tiers/integration.json says).
shard_config() {
  local n=$1 of=$2 out="$logs/integration-$1.json" files
  files=$(find dist/test/integration -name '*.test.js' -not -path '*/postgres/*' | sort | awk -v n="$n" -v of="$of" 'NR % of == n % of' | sed 's/.*/"&"/' | paste -sd, -)
  printf '{ "spec": [%s], "require": ["dist/test/integration/setup.js"], "timeout": 180000, "reporter": "spec" }\n' "$files" >"$out"
  echo "$out"
}

status=0
if has unit; then
  printf '\033[1m[test]\033[0m tier unit\n'
  start_part unit
  run_part unit test/tiers/unit.json "$base_offset" & pid=$!
  follow $pid unit
  wait $pid || status=1
fi

if has integration && [ -z "${OTA_TEST_SERIAL:-}" ]; then
  printf '\033[1m[test]\033[0m integration in two lanes side by side%s (lane 2 output follows lane 1)\n' "$(has postgres && echo ', then postgres in lane 2')"
  start_part integration-1
  start_part integration-2
  has postgres && start_part postgres
  (
    lane=0
    run_part integration-2 "$(shard_config 2 2)" $((base_offset + 50)) || lane=1
    if has postgres; then run_part postgres test/tiers/postgres.json $((base_offset + 50)) postgres || lane=1; fi
    exit $lane
  ) & lane2=$!
  run_part integration-1 "$(shard_config 1 2)" "$base_offset" & lane1=$!
  follow $lane1 integration-1
  wait $lane1 || status=1
  wait $lane2 || status=1
  for part in integration-2 postgres; do
    [ -f "$logs/$part.log" ] || continue
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

passed=0 failed=0
for part in "${parts[@]}"; do
  p=$(grep -Eo '^ +[0-9]+ passing' "$logs/$part.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '^ +[0-9]+ failing' "$logs/$part.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  passed=$((passed + p)) failed=$((failed + f))
  printf '\033[1m[test]\033[0m %s: %s passed, %s failed in %s s\n' "$part" "$p" "$f" "$(cat "$logs/$part.time" 2>/dev/null || echo '?')"
done
printf '\033[1m[test]\033[0m all tiers in %s s\n' "$((SECONDS - start_all))"
# A part that failed without a mocha count (a crash before its summary) still counts as a failure.
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
exit $status
