#!/usr/bin/env bash
# Chooses the Pulumi stack exactly as the Worker's `pulumi_stack` (SPEC: decidePlacement):
#   dedicated -> dedicated-{safe_id}; shared -> the region.
# safe_id: tenant_id lower-cased (ASCII only), every run of characters outside [a-z0-9] replaced
# by one `-`, leading/trailing `-` removed, cut to 40 characters, a trailing `-` removed again.
# Runs under LC_ALL=C on bytes: every byte of a multi-byte UTF-8 character is outside [a-z0-9],
# so the character becomes part of one `-` run, as in the Rust per-character rule.
#
# Usage:
#   stack-name.sh                  env DEDICATED, TENANT_ID, REGION -> output stack=...
#   stack-name.sh --print          same, but prints only the stack name on stdout
#   stack-name.sh --safe-id TENANT prints only safe_id; prints nothing and exits 1 when empty
# Exit: 0 ok; 1 tenant_id cannot form a stack name, or a missing/invalid REGION; 2 usage.
set -euo pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

safe_id() {
  local s
  # ASCII ranges on purpose: lower-casing is ASCII only, as in the Worker.
  # shellcheck disable=SC2018,SC2019
  s=$(printf '%s' "$1" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9' '-' | tr -s '-')
  s=${s#-}
  s=${s%-}
  s=${s:0:40}
  s=${s%-}
  printf '%s' "$s"
}

stack_name() {
  if bool_true "${DEDICATED:-}"; then
    local id
    id=$(safe_id "${TENANT_ID:-}")
    [[ -n $id ]] || die "tenant_id cannot form a stack name (tenant_id: '${TENANT_ID:-}')"
    printf 'dedicated-%s' "$id"
  else
    case ${REGION:-} in
      sg | us | eu) printf '%s' "$REGION" ;;
      *) die "REGION must be sg, us or eu for a shared stack (got '${REGION:-}')" ;;
    esac
  fi
}

case ${1:-} in
  --safe-id)
    [[ $# -eq 2 ]] || { echo "usage: $0 --safe-id TENANT_ID" >&2; exit 2; }
    id=$(safe_id "$2")
    [[ -n $id ]] || exit 1
    printf '%s\n' "$id"
    ;;
  --print)
    stack=$(stack_name)
    printf '%s\n' "$stack"
    ;;
  '')
    stack=$(stack_name)
    log "stack $stack (dedicated=$(bool_word "${DEDICATED:-}"), region=${REGION:-})"
    emit_output stack "$stack"
    ;;
  *)
    echo "usage: $0 [--print | --safe-id TENANT_ID]" >&2
    exit 2
    ;;
esac
