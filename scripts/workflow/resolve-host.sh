#!/usr/bin/env bash
# Use-existing path: finds the host of the node placement chose, from the control plane's registry.
# Env in:  CONTROL_PLANE_URL, INTERNAL_API_KEY, TARGET_SERVER_ID (required);
#          TRACE_ID, JOB_ID, TENANT_ID (trace event workflow.host_resolved).
# Outputs: host=<IP or DNS name>, node_id=<TARGET_SERVER_ID>.
# Exit:    0 resolved; 1 unknown node (404), unusable answer, or the control plane unreachable.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env CONTROL_PLANE_URL INTERNAL_API_KEY TARGET_SERVER_ID
node_id=$(trim "$TARGET_SERVER_ID")
[[ $node_id =~ $NODE_ID_RE ]] || die "target_server_id '$node_id' is not a node id (1-64 of [A-Za-z0-9._-])"

if ! cp_request GET "/internal/nodes/$(urlencode "$node_id")"; then
  if [[ $CP_STATUS == 404 ]]; then
    die "node $node_id is not registered in the control plane (GET /internal/nodes/$node_id: 404)"
  fi
  die "looking up node $node_id failed: $(cp_error)"
fi

host=$(jq -r '.host // empty | strings' <<<"$CP_BODY" 2>/dev/null || true)
status=$(jq -r '.status // empty | strings' <<<"$CP_BODY" 2>/dev/null || true)
[[ -n $host ]] || die "node $node_id has no host in the control plane's answer"
[[ $host =~ ^[A-Za-z0-9.:-]{1,253}$ ]] || die "node $node_id has an unusable host '${host:0:100}'"
if [[ -n $status && $status != active ]]; then
  warn "node $node_id is $status; provisioning onto it anyway, as placement chose it"
fi

emit_output host "$host"
emit_output node_id "$node_id"
log "node $node_id -> $host"
trace_event workflow.host_resolved ok "$(json_obj node_id="$node_id" host="$host" node_status="$status")"
