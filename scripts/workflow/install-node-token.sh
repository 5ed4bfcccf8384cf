#!/usr/bin/env bash
# Delivers the push token register-node.sh issued to the new node, so its agent pushes metrics
# with a credential that opens nothing else. The channel is SSH to the new server (the
# infrastructure program authorizes NODE_SSH_PRIVATE_KEY's public key for root, as it does for
# any first configuration); the token travels on stdin, never on a command line, and lands as
# /etc/cp-agent/node-token (root:root, 0600). The runner's copy is removed either way.
#
# Env in:  CONTROL_PLANE_URL, INTERNAL_API_KEY, NODE_ID, HOST, NODE_TOKEN_FILE (required);
#          NODE_SSH_PRIVATE_KEY (secret; unset: not delivered, see below); NODE_SSH_USER (root);
#          NODE_SSH_KNOWN_HOSTS (the server's host key line; unset: accepted on first contact,
#          the server being minutes old); NODE_TOKEN_PATH (/etc/cp-agent/node-token);
#          NODE_SSH_ATTEMPTS (6) and NODE_SSH_RETRY_DELAY (10 s): a server minutes old may not
#          run sshd yet; SSH (the ssh program, default ssh); TRACE_ID (trace events).
# Exit:    0 delivered; 0 with a warning when NODE_SSH_PRIVATE_KEY is unset; 1 delivery failed.
#          When the token is not delivered it is revoked (no live token that nobody holds), and
#          the warning says how to issue and install one by hand (agent/README.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env CONTROL_PLANE_URL INTERNAL_API_KEY NODE_ID HOST NODE_TOKEN_FILE
[[ $NODE_ID =~ $NODE_ID_RE ]] || die "NODE_ID '$NODE_ID' is not 1-64 of [A-Za-z0-9._-]"
[[ -s $NODE_TOKEN_FILE ]] || die "no token in $NODE_TOKEN_FILE (did register-node.sh issue one?)"
work=$(mktemp -d)
trap 'rm -rf "$work"; rm -f "$NODE_TOKEN_FILE"' EXIT
target=${NODE_TOKEN_PATH:-/etc/cp-agent/node-token}
path="/internal/nodes/$(urlencode "$NODE_ID")/token"

not_delivered() {
  warn "$1: the push token of node $NODE_ID is revoked; issue and install one by hand (agent/README.md, \"The node token\")"
  if [[ ${GITHUB_ACTIONS:-} == true ]]; then
    printf '::warning title=%s::%s\n' "$SCRIPT_NAME" "node $NODE_ID has no push token: $1"
  fi
  cp_request DELETE "$path" || warn "revoking the undelivered token failed: $(cp_error)"
  trace_event workflow.node_token_not_installed error "$(json_obj node_id="$NODE_ID" reason="$1")"
}

if [[ -z ${NODE_SSH_PRIVATE_KEY:-} ]]; then
  not_delivered "NODE_SSH_PRIVATE_KEY is not set"
  exit 0
fi
(umask 077 && printf '%s\n' "$NODE_SSH_PRIVATE_KEY" >"$work/key")
ssh_args=(-i "$work/key" -o BatchMode=yes -o ConnectTimeout=20 -o IdentitiesOnly=yes -o "UserKnownHostsFile=$work/known_hosts")
if [[ -n ${NODE_SSH_KNOWN_HOSTS:-} ]]; then
  printf '%s\n' "$NODE_SSH_KNOWN_HOSTS" >"$work/known_hosts"
  ssh_args+=(-o StrictHostKeyChecking=yes)
else
  ssh_args+=(-o StrictHostKeyChecking=accept-new)
fi
# The remote side writes a temporary file under a private umask and renames it into place.
remote="umask 077 && install -d -m 0700 -o root -g root \"\$(dirname '$target')\" && cat > '$target.new' && chown root:root '$target.new' && mv '$target.new' '$target'"
attempts=${NODE_SSH_ATTEMPTS:-6}
attempt=1
until "${SSH:-ssh}" "${ssh_args[@]}" "${NODE_SSH_USER:-root}@$HOST" "$remote" <"$NODE_TOKEN_FILE" 2>"$work/ssh.err"; do
  if ((attempt >= attempts)); then
    not_delivered "ssh to $HOST failed $attempts times: $(redact "$(head -c 300 "$work/ssh.err")")"
    exit 1
  fi
  warn "ssh to $HOST failed (attempt $attempt of $attempts); retrying in ${NODE_SSH_RETRY_DELAY:-10}s"
  sleep "${NODE_SSH_RETRY_DELAY:-10}"
  attempt=$((attempt + 1))
done
log "push token installed on node $NODE_ID ($HOST:$target)"
trace_event workflow.node_token_installed ok "$(json_obj node_id="$NODE_ID" host="$HOST")"
