#!/usr/bin/env bash
# Lints the GitHub Actions side: every workflow with a current actionlint and shellcheck (via
# scripts/actionlint.sh; both installed by scripts/setup.sh), the step scripts in
# scripts/workflow/ with `bash -n` and shellcheck; then the stack-name table. A missing linter is
# a failure, never a skipped check.
# Exit: 0 all clean; 1 any problem.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

failed=0
note() { printf 'lint-workflows: %s\n' "$*" >&2; }

bash scripts/actionlint.sh || failed=1

scripts=(scripts/workflow/*.sh scripts/lint-workflows.sh scripts/actionlint.sh scripts/setup.sh)
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
  note "shellcheck is not installed (run bash scripts/setup.sh)"
  failed=1
fi

bash scripts/workflow/test-stack-names.sh || failed=1

exit "$failed"
