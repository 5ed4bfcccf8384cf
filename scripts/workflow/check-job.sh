#!/usr/bin/env bash
# First step: is this run a duplicate? The control plane dispatches each job once, but delivery
# is at-least-once (a crash between GitHub's 204 and the job's `dispatched` write can dispatch
# twice) and the `concurrency` group only queues a second run behind the first. A run whose job
# is already `succeeded` or `failed` has nothing to do: it must not provision again or report.
# Env in:  CONTROL_PLANE_URL, INTERNAL_API_KEY, JOB_ID; TRACE_ID (trace events).
# Outputs: duplicate=true|false, job_status=<status or empty>.
# Exit:    0 always when the answer is known or unknowable (a lookup failure is not a duplicate:
#          the later steps fail and report on their own).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env CONTROL_PLANE_URL INTERNAL_API_KEY
status=
if [[ ${JOB_ID:-} =~ ^[A-Za-z0-9._-]{1,128}$ ]] && cp_request GET "/internal/provision-jobs/$(urlencode "$JOB_ID")"; then
  status=$(jq -r '.status // empty | strings' <<<"$CP_BODY" 2>/dev/null || true)
else
  warn "could not read job ${JOB_ID:-<none>}: assuming this run is not a duplicate"
fi

case $status in
  succeeded | failed)
    log "job $JOB_ID is already $status: this run is a duplicate and does nothing"
    trace_event workflow.duplicate_run skipped "$(json_obj job_status="$status")"
    emit_output duplicate true
    ;;
  *) emit_output duplicate false ;;
esac
emit_output job_status "$status"
