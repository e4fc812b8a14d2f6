#!/usr/bin/env bash
# npm test: every tier, fastest first, each with its own mocha config in test/tiers/.
#   unit         pure logic, the SDK core, workflow logic on the time-skipping server; no stack
#   integration  everything that needs the embedded stack (Temporal, MinIO, SoftHSM2, PGlite, API, worker)
#   postgres     the suites that exercise the fleet store, again on a real PostgreSQL server
# OTA_TEST_TIERS="unit" (space-separated) runs a subset. Prints one summary line at the end.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tiers="${OTA_TEST_TIERS:-unit integration postgres}"
passed=0 failed=0 status=0 summary=()
start_all=$SECONDS
for tier in $tiers; do
  [ -f "test/tiers/$tier.json" ] || { echo "test: unknown tier $tier (see test/tiers/)" >&2; exit 2; }
  printf '\033[1m[test]\033[0m tier %s\n' "$tier"
  log="$(mktemp)"
  start=$SECONDS
  env_db=()
  [ "$tier" = postgres ] && env_db=(OTA_TEST_DATABASE=postgres)
  env "${env_db[@]}" bash scripts/node.sh node_modules/mocha/bin/mocha.js --config "test/tiers/$tier.json" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  p=$(grep -Eo '^ +[0-9]+ passing' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '^ +[0-9]+ failing' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  rm -f "$log"
  passed=$((passed + p)) failed=$((failed + f))
  summary+=("$tier: $p passed, $f failed in $((SECONDS - start)) s")
  if [ "$rc" -ne 0 ]; then status=1; [ "$f" -eq 0 ] && failed=$((failed + 1)); fi
done
printf '\033[1m[test]\033[0m %s\n' "${summary[@]}" "all tiers in $((SECONDS - start_all)) s"
echo "$passed passed, $failed failed"
exit $status
