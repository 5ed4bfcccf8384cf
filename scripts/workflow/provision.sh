#!/usr/bin/env bash
# The whole provisioning run in one go, as provision-tenant.yml runs it step by step: for local
# runs and the integration tests against `wrangler dev`.
#   start (the first run owns the job; a duplicate run stops here) -> validate ->
#   (resolve host | stack name -> create server -> register node) -> complete.
# Whatever fails, once JOB_ID is a usable id the job is completed as `failed` with the first
# error (an EXIT trap), just as the workflow's final `if: always()` step does: also for invalid
# inputs, so no job is left `dispatched`.
#
# Env in:  everything the step scripts read: CONTROL_PLANE_URL, INTERNAL_API_KEY, JOB_ID,
#          TENANT_ID, REGION, CREATE_NEW_SERVER, TARGET_SERVER_ID, SUBDOMAIN_SLUG,
#          CANONICAL_HOSTNAME, DEDICATED, TRACE_ID, GITHUB_RUN_ID (the run that takes the job);
#          for the create path also PULUMI_DIR and a
#          `pulumi` on PATH (see create-server.sh).
# Outputs: node_id=, host=, status=succeeded (stdout, or GITHUB_OUTPUT when set).
# Exit:    0 the job succeeded and was recorded; 1 the run failed and the job was recorded as
#          failed; 2 the outcome could not be recorded (/complete refused or unreachable; also
#          when the inputs were invalid and JOB_ID itself is unusable).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

final_output=${GITHUB_OUTPUT:-}
work=$(mktemp -d)
export PROVISION_ERROR_FILE=${PROVISION_ERROR_FILE:-$work/error}
reported=0
node_id=

finish() {
  local rc=$?
  trap - EXIT
  if ((rc != 0 && reported == 0)); then
    if [[ ${JOB_ID:-} =~ ^[A-Za-z0-9._-]{1,128}$ ]]; then
      log "run failed: reporting job $JOB_ID as failed"
      if OUTCOME=failed NODE_ID=$node_id GITHUB_OUTPUT=$work/complete.out "$here/complete-job.sh"; then
        rc=1
      else
        log "the failure could not be recorded in the control plane"
        rc=2
      fi
    else
      log "JOB_ID is missing or unusable: the outcome cannot be recorded"
      rc=2
    fi
  fi
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# step NAME SCRIPT: runs a step script with its outputs in $work/NAME.out.
step() {
  local name=$1 script=$2 rc=0
  : >"$work/$name.out"
  GITHUB_OUTPUT=$work/$name.out "$here/$script" || rc=$?
  if ((rc != 0)); then
    record_error "step $name failed (exit $rc)"
    exit 1
  fi
}
# out NAME KEY: a step's output value.
out() { sed -n "s/^$2=//p" "$work/$1.out" | tail -n 1; }

# A run that cannot take the job must not report on it either (another run may own it).
reported=1
step job start-job.sh
if [[ $(out job duplicate) == true ]]; then
  log "nothing to do: job $JOB_ID belongs to another run or is finished"
  exit 0
fi
reported=0
step validate validate-inputs.sh

if [[ $(out validate create_new_server) == true ]]; then
  step stack stack-name.sh
  STACK=$(out stack stack)
  export STACK
  step create create-server.sh
  NODE_ID=$(out create node_id) HOST=$(out create host) PROVIDER_SERVER_ID=$(out create provider_server_id) \
    step register register-node.sh
  # Only a registered (or resolved) node is named in the /complete call.
  node_id=$(out register node_id)
  host=$(out register host)
else
  step resolve resolve-host.sh
  node_id=$(out resolve node_id)
  host=$(out resolve host)
fi

reported=1
rc=0
OUTCOME=succeeded NODE_ID=$node_id GITHUB_OUTPUT=$work/complete.out "$here/complete-job.sh" || rc=$?
if ((rc != 0)); then
  log "the run succeeded but could not be recorded (complete-job exit $rc)"
  exit 2
fi

GITHUB_OUTPUT=$final_output
emit_output node_id "$node_id"
emit_output host "$host"
emit_output status succeeded
