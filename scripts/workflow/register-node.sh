#!/usr/bin/env bash
# Registers the server create-server.sh made as a node, so placement and the metrics agent see it.
# Env in:  CONTROL_PLANE_URL, INTERNAL_API_KEY, NODE_ID, REGION, HOST (required);
#          JOB_ID, TENANT_ID, STACK (become labels job_id, tenant_id, stack when set);
#          PROVIDER_SERVER_ID (optional, the Hetzner server id); TRACE_ID (trace events).
#          NODE_TOKEN_FILE (optional): when set, the node's push token is issued
#          (POST /internal/nodes/:id/token, which revokes any earlier one) and written there,
#          mode 0600, for install-node-token.sh to deliver; it is never printed.
# Outputs: node_id=<NODE_ID>, host=<HOST>, token_version=<N> (only when a token was issued).
# Exit:    0 registered (201 created, or 200 when the same server was registered before, e.g.
#          a re-run); 1 refused, unreachable, NODE_ID already names a node at another host (a
#          node id collision: nothing is overwritten), HOST is already another node, or the
#          token could not be issued or written.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env CONTROL_PLANE_URL INTERNAL_API_KEY NODE_ID REGION HOST
[[ $NODE_ID =~ $NODE_ID_RE ]] || die "NODE_ID '$NODE_ID' is not 1-64 of [A-Za-z0-9._-]"
path="/internal/nodes/$(urlencode "$NODE_ID")"

# POST /internal/nodes is an upsert: never let a generated id silently take over another node.
if cp_request GET "$path"; then
  existing=$(jq -r '.host // empty' <<<"$CP_BODY" 2>/dev/null || true)
  if [[ $existing != "$HOST" ]]; then
    die "node id $NODE_ID is already registered at host '$existing', not $HOST: refusing to overwrite it; the new server at $HOST is not registered (register it by hand with another NODE_ID)"
  fi
  log "node $NODE_ID is already registered at $HOST (a re-run): updating it"
elif [[ $CP_STATUS != 404 ]]; then
  die "checking node $NODE_ID failed: $(cp_error)"
fi

# One machine must not become two nodes (placement would count its capacity twice): refuse when
# another node already has this host, e.g. a shared stack's `pulumi up` that created nothing new.
cp_request GET "/internal/nodes?region=$(urlencode "$REGION")" || die "listing the nodes of $REGION failed: $(cp_error)"
twin=$(jq -r --arg host "$HOST" --arg id "$NODE_ID" \
  '[.nodes[]? | select(.host == $host and .node_id != $id) | .node_id] | first // empty' <<<"$CP_BODY")
[[ -z $twin ]] || die "host $HOST is already registered as node $twin: refusing to register it again as $NODE_ID (did pulumi up create a new server?)"

body=$(jq -cn --arg node_id "$NODE_ID" --arg region "$REGION" --arg host "$HOST" \
  --arg provider_server_id "${PROVIDER_SERVER_ID:-}" \
  --arg job_id "${JOB_ID:-}" --arg tenant_id "${TENANT_ID:-}" --arg stack "${STACK:-}" '
  {node_id: $node_id, region: $region, host: $host, status: "active",
   labels: ({job_id: $job_id, tenant_id: $tenant_id, stack: $stack}
            | with_entries(select(.value != "")))}
  + (if $provider_server_id != "" then {provider_server_id: $provider_server_id} else {} end)')

cp_request POST /internal/nodes "$body" || die "registering node $NODE_ID failed, the server at $HOST is not registered: $(cp_error)"
case $CP_STATUS in
  201) log "node $NODE_ID registered at $HOST" ;;
  *) log "node $NODE_ID updated at $HOST (HTTP $CP_STATUS)" ;;
esac

emit_output node_id "$NODE_ID"
emit_output host "$HOST"

# The node's push token (least privilege: the agent never holds INTERNAL_API_KEY). Written with a
# private umask, then the body is dropped; on GitHub it is also masked in case anything echoes it.
if [[ -n ${NODE_TOKEN_FILE:-} ]]; then
  cp_request POST "$path/token" || die "issuing the push token of node $NODE_ID failed: $(cp_error)"
  token=$(jq -r '.token // empty' <<<"$CP_BODY")
  version=$(jq -r '.token_version // empty' <<<"$CP_BODY")
  CP_BODY=
  [[ $token == cpn1.* && -n $version ]] || die "the control plane answered no token for node $NODE_ID"
  if [[ ${GITHUB_ACTIONS:-} == true ]]; then
    printf '::add-mask::%s\n' "$token"
  fi
  (umask 077 && printf '%s\n' "$token" >"$NODE_TOKEN_FILE") || die "cannot write the node token to $NODE_TOKEN_FILE"
  token=
  log "push token version $version issued for node $NODE_ID (in $NODE_TOKEN_FILE, not printed)"
  emit_output token_version "$version"
fi
trace_event workflow.node_registered ok "$(json_obj node_id="$NODE_ID" host="$HOST" region="$REGION" http_status="$CP_STATUS")"
