#!/usr/bin/env bash
# Reports the run's outcome to the control plane, so the job ends `succeeded` or `failed` there.
# Env in:  CONTROL_PLANE_URL, INTERNAL_API_KEY, JOB_ID (required);
#          OUTCOME: succeeded|failed, or GitHub's job.status success|failure|cancelled;
#          NODE_ID (sent when set); ERROR_MESSAGE (sent on failure; when empty, the first error
#          recorded in PROVISION_ERROR_FILE, else a generic message; a link to the run is added
#          on GitHub); GITHUB_RUN_ID (sent as run_id: only the run that owns the job may
#          complete it); TRACE_ID, TENANT_ID (trace event workflow.completed).
# Outputs: status=succeeded|failed.
# Exit:    0 recorded (200, also a repeat with the same status); 3 conflict (409: the job is
#          already final with the other status, was never dispatched, or is another run's); 1 anything else
#          (bad env, refused, control plane unreachable after retries).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env CONTROL_PLANE_URL INTERNAL_API_KEY JOB_ID
case ${OUTCOME:-} in
  succeeded | success) status=succeeded ;;
  failed | failure | cancelled) status=failed ;;
  *) die "OUTCOME must be succeeded or failed (or success, failure, cancelled); got '${OUTCOME:-}'" ;;
esac

error=
if [[ $status == failed ]]; then
  error=${ERROR_MESSAGE:-}
  if [[ -z $error && -n ${PROVISION_ERROR_FILE:-} && -s $PROVISION_ERROR_FILE ]]; then
    error=$(head -c 1500 "$PROVISION_ERROR_FILE")
  fi
  if [[ -z $error ]]; then
    if [[ ${OUTCOME:-} == cancelled ]]; then error="provision workflow was cancelled"; else error="provision workflow failed"; fi
  fi
  if [[ -n ${GITHUB_RUN_ID:-} && -n ${GITHUB_REPOSITORY:-} ]]; then
    error="$error (run ${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID)"
  fi
  error=$(redact "$error")
  error=${error//[$'\n\r\t']/ }
  error=${error:0:2000}
fi

body=$(jq -cn --arg status "$status" --arg node_id "${NODE_ID:-}" --arg error "$error" --arg run_id "${GITHUB_RUN_ID:-}" '
  {status: $status}
  + (if ($run_id | test("^[0-9]{1,20}$")) then {run_id: $run_id} else {} end)
  + (if $node_id != "" then {node_id: $node_id} else {} end)
  + (if $error != "" then {error: $error} else {} end)')

path="/internal/provision-jobs/$(urlencode "$JOB_ID")/complete"
if ! CP_MAX_ATTEMPTS=${CP_MAX_ATTEMPTS:-6} cp_request POST "$path" "$body"; then
  if [[ $CP_STATUS == 409 ]]; then
    printf '%s: error: job %s cannot become %s: %s (already completed with another status, or not dispatched)\n' \
      "$SCRIPT_NAME" "$JOB_ID" "$status" "$(cp_error)" >&2
    [[ ${GITHUB_ACTIONS:-} != true ]] || printf '::error title=complete-job::job %s cannot become %s (409)\n' "$JOB_ID" "$status" >&2
    trace_event workflow.completed conflict "$(json_obj outcome="$status" http_status=409)"
    exit 3
  fi
  die "could not report job $JOB_ID as $status: $(cp_error)"
fi

log "job $JOB_ID recorded as $status${NODE_ID:+ on node $NODE_ID}"
emit_output status "$status"
detail=(outcome="$status")
[[ -z ${NODE_ID:-} ]] || detail+=(node_id="$NODE_ID")
[[ -z $error ]] || detail+=(error="${error:0:500}")
trace_event workflow.completed "$status" "$(json_obj "${detail[@]}")"
