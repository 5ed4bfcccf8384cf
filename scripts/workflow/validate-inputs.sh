#!/usr/bin/env bash
# Fails fast, before anything is created, when the dispatched inputs cannot make a sensible run.
# Env in:  JOB_ID, TENANT_ID, REGION (required); CREATE_NEW_SERVER (true/false, also "true";
#          unset or empty means false, as for an absent boolean input on GitHub);
#          TARGET_SERVER_ID; DEDICATED (compared with "true"); SUBDOMAIN_SLUG; CANONICAL_HOSTNAME;
#          TRACE_ID (optional; when set an invalid run posts workflow.invalid_inputs).
# Outputs: create_new_server=true|false, dedicated=true|false (normalised, for `if:` conditions).
# Trace:   workflow.started (valid; with the run's URL on GitHub) or workflow.invalid_inputs.
# Exit:    0 valid; 1 invalid (every problem listed on stderr).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

errors=()
job_id=$(trim "${JOB_ID:-}")
tenant_id=$(trim "${TENANT_ID:-}")
region=$(trim "${REGION:-}")
target=$(trim "${TARGET_SERVER_ID:-}")
# A boolean input that was not sent is false on GitHub; likewise here.
create_raw=${CREATE_NEW_SERVER:-false}
dedicated_raw=${DEDICATED:-}

if [[ -z $job_id ]]; then
  errors+=("job_id is required")
elif [[ ! ( $job_id =~ ^[A-Za-z0-9._-]{1,128}$ && $job_id =~ [A-Za-z0-9] ) ]]; then
  errors+=("job_id must be 1-128 of [A-Za-z0-9._-] with a letter or digit")
fi
if [[ -z $tenant_id ]]; then
  errors+=("tenant_id is required")
elif [[ ! ( $tenant_id =~ $TENANT_ID_RE && $tenant_id =~ [A-Za-z0-9] ) ]]; then
  errors+=("tenant_id must be 1-128 of [A-Za-z0-9._-] with a letter or digit (got '$tenant_id')")
fi
case $region in
  sg | us | eu) ;;
  '') errors+=("region is required (sg, us or eu)") ;;
  *) errors+=("region must be sg, us or eu (got '$region')") ;;
esac

if ! bool_valid "$create_raw"; then
  errors+=("create_new_server must be true or false (got '$create_raw')")
elif bool_true "$create_raw"; then
  [[ -z $target ]] || errors+=("create_new_server is true but target_server_id is set ('$target'): a new server is never placed on an existing node")
else
  [[ -n $target ]] || errors+=("create_new_server is false but target_server_id is empty: nowhere to provision")
fi
if [[ -n $target && ! ( $target =~ $NODE_ID_RE && $target =~ [A-Za-z0-9] ) ]]; then
  errors+=("target_server_id must be 1-64 of [A-Za-z0-9._-] with a letter or digit (got '$target')")
fi

if [[ -n $(trim "$dedicated_raw") ]] && ! bool_valid "$dedicated_raw"; then
  warn "dedicated is '$dedicated_raw', neither true nor false: treated as false"
fi
if bool_true "$dedicated_raw"; then
  if ! bool_true "$create_raw"; then
    warn "dedicated is true but create_new_server is false: the existing node $target is used"
  elif [[ -n $tenant_id ]] && ! "$(dirname "${BASH_SOURCE[0]}")/stack-name.sh" --safe-id "$tenant_id" >/dev/null; then
    errors+=("tenant_id cannot form a stack name (dedicated stack)")
  fi
fi

slug=$(trim "${SUBDOMAIN_SLUG:-}")
if [[ -n $slug && ! ( $slug =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ) ]]; then
  errors+=("subdomain_slug must be a DNS label: 1-63 of [a-z0-9-], no leading or trailing '-' (got '$slug')")
fi
host=$(trim "${CANONICAL_HOSTNAME:-}")
if [[ -n $host && ! ( ${#host} -le 253 && $host =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ) ]]; then
  errors+=("canonical_hostname is not a host name (got '$host')")
fi

trace=$(trim "${TRACE_ID:-}")
if [[ -n $trace && ! $trace =~ $TRACE_ID_RE ]]; then
  warn "trace_id '$trace' is not trace_ and visible ASCII (at most 128): trace events are skipped"
fi

if ((${#errors[@]} > 0)); then
  detail=$(printf '%s\n' "${errors[@]}" | jq -Rsc '{errors: (split("\n") | map(select(. != "")))}')
  trace_event workflow.invalid_inputs failed "$detail"
  for e in "${errors[@]}"; do
    log "invalid input: $e"
  done
  joined=$(printf '%s; ' "${errors[@]}")
  die "invalid workflow inputs: ${joined%; }"
fi

emit_output create_new_server "$(bool_word "$create_raw")"
emit_output dedicated "$(bool_word "$dedicated_raw")"
log "inputs ok: job $job_id, tenant $tenant_id, region $region, $(bool_true "$create_raw" && echo "new server" || echo "node $target")"
started=(region="$region" create_new_server="$(bool_word "$create_raw")" dedicated="$(bool_word "$dedicated_raw")")
[[ -z $target ]] || started+=(target_server_id="$target")
if [[ -n ${GITHUB_RUN_ID:-} && -n ${GITHUB_REPOSITORY:-} ]]; then
  started+=(run_url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID")
fi
trace_event workflow.started started "$(json_obj "${started[@]}")"
