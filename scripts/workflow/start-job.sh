#!/usr/bin/env bash
# First step: take the job. `POST /internal/provision-jobs/:job_id/start` with this run's id: the
# first run to start a job owns it (the job becomes `running`); a duplicate run (a second
# dispatch of the same job, or a run for a job that already finished) gets a 409 and stops here
# without touching anything. A control plane that cannot be reached fails the run before it
# provisions anything.
# Env in:  CONTROL_PLANE_URL, INTERNAL_API_KEY, JOB_ID, GITHUB_RUN_ID (required);
#          GITHUB_RUN_ATTEMPT, GITHUB_SERVER_URL, GITHUB_REPOSITORY (the run's URL); TRACE_ID.
# Outputs: owned=true|false, duplicate=true|false, job_status=<status or empty>.
# Exit:    0 the run owns the job, or is a duplicate (owned=false: do nothing more);
#          1 the job could not be taken (bad env, unknown job, control plane unreachable).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env CONTROL_PLANE_URL INTERNAL_API_KEY JOB_ID GITHUB_RUN_ID
[[ $JOB_ID =~ ^[A-Za-z0-9-]{1,64}$ ]] || die "JOB_ID '$JOB_ID' cannot name a job"
[[ $GITHUB_RUN_ID =~ ^[0-9]{1,20}$ ]] || die "GITHUB_RUN_ID must be digits, got '$GITHUB_RUN_ID'"

run_url=
if [[ -n ${GITHUB_REPOSITORY:-} ]]; then
  run_url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
fi
body=$(jq -cn --arg run_id "$GITHUB_RUN_ID" --arg attempt "${GITHUB_RUN_ATTEMPT:-}" --arg url "$run_url" '
  {run_id: $run_id}
  + (if ($attempt | test("^[1-9][0-9]{0,8}$")) then {run_attempt: ($attempt | tonumber)} else {} end)
  + (if $url != "" then {run_url: $url} else {} end)')

path="/internal/provision-jobs/$(urlencode "$JOB_ID")/start"
if cp_request POST "$path" "$body"; then
  status=$(jq -r '.status // empty | strings' <<<"$CP_BODY" 2>/dev/null || true)
  log "run $GITHUB_RUN_ID owns job $JOB_ID ($status)"
  emit_output owned true
  emit_output duplicate false
  emit_output job_status "$status"
  exit 0
fi

if [[ $CP_STATUS == 409 ]]; then
  code=$(jq -r '.error.code // empty | strings' <<<"$CP_BODY" 2>/dev/null || true)
  log "job $JOB_ID is not this run's ($code: $(cp_error)): this run is a duplicate and does nothing"
  trace_event workflow.duplicate_run skipped "$(json_obj code="$code" run_id="$GITHUB_RUN_ID")"
  emit_output owned false
  emit_output duplicate true
  emit_output job_status ""
  exit 0
fi
die "could not start job $JOB_ID: $(cp_error)"
