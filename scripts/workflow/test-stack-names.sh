#!/usr/bin/env bash
# Checks `stack-name.sh --safe-id` against the shared table that core/src/stack.rs also tests,
# so the workflow names a dedicated Pulumi stack exactly as the Worker does.
# Usage: test-stack-names.sh [TABLE]   (default tests/fixtures/stack_names.tsv)
# Table: tenant_id<TAB>expected safe_id, or EMPTY when none can be formed; '#' lines and blank
# lines are skipped. Exit 0 when every case passes, 1 otherwise (or when the table is unusable).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
table=${1:-$here/../../tests/fixtures/stack_names.tsv}
[[ -r $table ]] || { echo "test-stack-names: cannot read $table" >&2; exit 1; }

passed=0 failed=0 lineno=0
while IFS= read -r line || [[ -n $line ]]; do
  lineno=$((lineno + 1))
  line=${line%$'\r'}
  [[ -z $line || $line == '#'* ]] && continue
  if [[ $line != *$'\t'* ]]; then
    echo "line $lineno: no tab separator: $line" >&2
    failed=$((failed + 1))
    continue
  fi
  tenant=${line%%$'\t'*}
  expected=${line#*$'\t'}
  [[ $expected == EMPTY ]] && expected=
  rc=0
  actual=$("$here/stack-name.sh" --safe-id "$tenant") || rc=$?
  if [[ -z $expected && $rc -eq 1 && -z $actual ]] || [[ -n $expected && $rc -eq 0 && $actual == "$expected" ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAIL line %d: tenant_id %q: expected %s, got %s (exit %d)\n' \
      "$lineno" "$tenant" "${expected:-EMPTY}" "${actual:-nothing}" "$rc" >&2
  fi
done <"$table"

echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
