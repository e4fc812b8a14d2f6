#!/usr/bin/env bash
# npm test: every tier, each with its own mocha config in test/tiers/.
#   unit         pure logic, the SDK core, workflow logic on the time-skipping server; no stack
#   integration  everything that needs the embedded stack (Temporal, MinIO, SoftHSM2, PGlite, API, worker)
#   postgres     the suites that exercise the fleet store, again on a real PostgreSQL server
# The unit tier runs first (it fails fast). Integration and postgres then run side by side,
# each on a stack of its own (port offsets 0 and 50: own ports, own var/test* home); their
# tests mostly wait on timers, so two stacks share the two cores well. OTA_TEST_SERIAL=1
# runs them one after the other; OTA_TEST_TIERS="unit" (space-separated) runs a subset.
# Prints each tier's time and one summary line at the end.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tiers="${OTA_TEST_TIERS:-unit integration postgres}"
base_offset="${OTA_TEST_PORT_OFFSET:-0}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
start_all=$SECONDS

for tier in $tiers; do
  [ -f "test/tiers/$tier.json" ] || { echo "test: unknown tier $tier (see test/tiers/)" >&2; exit 2; }
  : >"$logs/$tier.log"
done

# run_tier TIER OFFSET: mocha with the tier's config; output in $logs/TIER.log, time in $logs/TIER.time.
run_tier() {
  local tier=$1 offset=$2 start=$SECONDS rc
  local db=()
  [ "$tier" = postgres ] && db=(OTA_TEST_DATABASE=postgres)
  env "${db[@]}" OTA_TEST_PORT_OFFSET="$offset" bash scripts/node.sh node_modules/mocha/bin/mocha.js --config "test/tiers/$tier.json" >>"$logs/$tier.log" 2>&1
  rc=$?
  echo "$((SECONDS - start))" >"$logs/$tier.time"
  return $rc
}

status=0
has() { [[ " $tiers " == *" $1 "* ]]; }
if has unit; then
  printf '\033[1m[test]\033[0m tier unit\n'
  run_tier unit "$base_offset" || status=1
  cat "$logs/unit.log"
fi
if has integration && has postgres && [ -z "${OTA_TEST_SERIAL:-}" ]; then
  printf '\033[1m[test]\033[0m tiers integration and postgres, side by side (postgres output follows integration)\n'
  run_tier postgres $((base_offset + 50)) & pg=$!
  run_tier integration "$base_offset" & it=$!
  # Progress while both run: the integration tier's output as it comes.
  tail -n +1 -f "$logs/integration.log" --pid=$it 2>/dev/null
  wait $it || status=1
  wait $pg || status=1
  printf '\033[1m[test]\033[0m tier postgres\n'
  cat "$logs/postgres.log"
else
  for tier in integration postgres; do
    has "$tier" || continue
    printf '\033[1m[test]\033[0m tier %s\n' "$tier"
    run_tier "$tier" "$base_offset" & pid=$!
    tail -n +1 -f "$logs/$tier.log" --pid=$pid 2>/dev/null
    wait $pid || status=1
  done
fi

passed=0 failed=0
for tier in $tiers; do
  p=$(grep -Eo '^ +[0-9]+ passing' "$logs/$tier.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '^ +[0-9]+ failing' "$logs/$tier.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  passed=$((passed + p)) failed=$((failed + f))
  printf '\033[1m[test]\033[0m %s: %s passed, %s failed in %s s\n' "$tier" "$p" "$f" "$(cat "$logs/$tier.time")"
done
printf '\033[1m[test]\033[0m all tiers in %s s\n' "$((SECONDS - start_all))"
# A tier that failed without a mocha count (a crash before the summary) still counts as a failure.
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
exit $status
