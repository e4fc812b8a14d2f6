#!/usr/bin/env bash
# Commit subjects are at most 72 characters; the detail goes in the body (CONTRIBUTING.md).
# Checked from the first commit made under this rule on: older history stays as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
rule_since=5d721c6b69de0aa0bda3fc7fdd5bc82eb54091f6
max=72
if git cat-file -e "$rule_since^{commit}" 2>/dev/null; then
  range=("$rule_since..HEAD")
else
  # A shallow clone without that commit: check what it has.
  range=(-n 50 HEAD)
fi
long=$(git log --format='%h %s' "${range[@]}" | awk -v max="$max" '{ s = substr($0, index($0, " ") + 1); if (length(s) > max) print length(s) ": " $0 }')
if [ -n "$long" ]; then
  echo "commit subjects longer than $max characters (put the detail in the body):" >&2
  echo "$long" >&2
  exit 1
fi
echo "commit subjects: all at most $max characters"
