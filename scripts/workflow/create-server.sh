#!/usr/bin/env bash
# New-server path: `pulumi up` in the cloned infrastructure repository, then reads the new
# server's address from the stack outputs and names the node.
#
# Env in:  REGION, JOB_ID (required); STACK (default: computed by stack-name.sh from DEDICATED,
#          TENANT_ID, REGION); TENANT_ID, SUBDOMAIN_SLUG, CANONICAL_HOSTNAME (set as stack config
#          on dedicated stacks); PULUMI_DIR (default ./infra, must hold Pulumi.yaml);
#          PULUMI_IP_OUTPUT (default ipv4): the stack output holding the server's IP;
#          PULUMI_SERVER_ID_OUTPUT (unset: not read): a stack output holding the Hetzner server id;
#          PULUMI_INSTALL_DEPS (true: run `pulumi install` first; the workflow sets it);
#          NODE_ID (optional override of the generated id); HCLOUD_TOKEN or HCLOUD_TOKEN_SG
#          (read by the hcloud provider, never by this script); PULUMI_ACCESS_TOKEN (read by
#          pulumi itself: no `pulumi login` here); TRACE_ID (trace events).
# Contract with the infrastructure program: it reads config `region` (and on dedicated stacks
#          `tenant_id`, `subdomain_slug`, `canonical_hostname`) and exports the new server's
#          public IPv4 as the stack output `ipv4`.
# Outputs: node_id=hz-{region}-{short}, host=<ip>, stack=<stack>, provider_server_id=<id> (only
#          when PULUMI_SERVER_ID_OUTPUT is set and the output is non-empty).
#          short = the first 8 hex digits of JOB_ID (its first run of 8), lower-cased; else the
#          first 8 of its [a-z0-9] characters.
# Exit:    0 created; 1 pulumi failed, no usable IP, or bad inputs.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

require_env REGION JOB_ID
case $REGION in sg | us | eu) ;; *) die "REGION must be sg, us or eu (got '$REGION')" ;; esac
stack=${STACK:-}
if [[ -z $stack ]]; then
  stack=$("$here/stack-name.sh" --print)
fi
pulumi_dir=${PULUMI_DIR:-./infra}
ip_output=${PULUMI_IP_OUTPUT:-ipv4}

node_id_for_job() {
  local job=${1,,} short
  if [[ $job =~ [0-9a-f]{8} ]]; then
    short=${BASH_REMATCH[0]}
  else
    short=$(printf '%s' "$job" | tr -cd 'a-z0-9')
    short=${short:0:8}
  fi
  [[ -n $short ]] || die "job_id '$1' has no letters or digits to name a node after"
  printf 'hz-%s-%s' "$REGION" "$short"
}
node_id=${NODE_ID:-$(node_id_for_job "$JOB_ID")}
[[ $node_id =~ $NODE_ID_RE ]] || die "node id '$node_id' is not 1-64 of [A-Za-z0-9._-]"

command -v pulumi >/dev/null 2>&1 || die "pulumi is not on PATH"
[[ -d $pulumi_dir ]] || die "PULUMI_DIR $pulumi_dir does not exist (was the infrastructure repository cloned? see the PULUMI_REPO variable)"
[[ -f $pulumi_dir/Pulumi.yaml || -f $pulumi_dir/Pulumi.yml ]] ||
  die "no Pulumi project (Pulumi.yaml) in $pulumi_dir (is the PULUMI_REPO variable set to the infrastructure repository?)"
if [[ -z ${HCLOUD_TOKEN:-} && -n ${HCLOUD_TOKEN_SG:-} ]]; then
  export HCLOUD_TOKEN=$HCLOUD_TOKEN_SG
fi
export PULUMI_SKIP_UPDATE_CHECK=true

cd "$pulumi_dir"
# pulumi's own chatter goes to stderr so stdout stays key=value when GITHUB_OUTPUT is unset.
run_pulumi() {
  local what=$1
  [[ -z ${2:-} || ${2:-} == -* ]] || what+=" $2"
  log "pulumi $*"
  pulumi "$@" >&2 || die "pulumi $what failed (stack $stack; see the log above)"
}

trace_event workflow.pulumi_up_started started "$(json_obj stack="$stack" region="$REGION" node_id="$node_id")"
if bool_true "${PULUMI_INSTALL_DEPS:-false}"; then
  run_pulumi install
fi
run_pulumi stack select --create "$stack" --non-interactive
run_pulumi config set region "$REGION" --stack "$stack" --non-interactive
if [[ $stack == dedicated-* ]]; then
  # Tenant settings only on a tenant's own stack: on a shared region stack they would clobber.
  [[ -z ${TENANT_ID:-} ]] || run_pulumi config set tenant_id "$TENANT_ID" --stack "$stack" --non-interactive
  [[ -z ${SUBDOMAIN_SLUG:-} ]] || run_pulumi config set subdomain_slug "$SUBDOMAIN_SLUG" --stack "$stack" --non-interactive
  [[ -z ${CANONICAL_HOSTNAME:-} ]] || run_pulumi config set canonical_hostname "$CANONICAL_HOSTNAME" --stack "$stack" --non-interactive
fi
run_pulumi up --yes --skip-preview --non-interactive --stack "$stack"

stack_output() { # NAME -> the output's value, trimmed, or nothing
  local value
  value=$(pulumi stack output "$1" --stack "$stack" --non-interactive) || return 0
  value=$(trim "$value")
  value=${value#\"}
  value=${value%\"}
  printf '%s' "$value"
}
host=$(stack_output "$ip_output")
[[ -n $host ]] || die "stack $stack has no output '$ip_output' after pulumi up (set PULUMI_IP_OUTPUT to the output holding the server IP)"
[[ $host =~ ^[0-9A-Fa-f.:]{2,45}$ || $host =~ ^[A-Za-z0-9.-]{1,253}$ ]] ||
  die "stack output '$ip_output' is not an IP address or host name: '${host:0:100}'"

emit_output node_id "$node_id"
emit_output host "$host"
emit_output stack "$stack"
detail=(stack="$stack" node_id="$node_id" host="$host")
if [[ -n ${PULUMI_SERVER_ID_OUTPUT:-} ]]; then
  server_id=$(stack_output "$PULUMI_SERVER_ID_OUTPUT")
  if [[ -n $server_id ]]; then
    emit_output provider_server_id "$server_id"
    detail+=(provider_server_id="$server_id")
  else
    warn "stack output '$PULUMI_SERVER_ID_OUTPUT' is empty: node registered without provider_server_id"
  fi
fi
log "server for node $node_id is up at $host (stack $stack)"
trace_event workflow.server_created ok "$(json_obj "${detail[@]}")"
