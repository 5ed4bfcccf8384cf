# shellcheck shell=bash
# Shared helpers for the provisioning workflow scripts (sourced, never run).
#
# Why it exists: every step of provision-tenant.yml talks to the control plane the same way
# (Bearer auth, timeouts, retries on 5xx, errors that name the route but never the key), posts
# best-effort trace events, and hands outputs to later steps. Keeping that here lets each step
# script stay a short, readable sequence that also runs locally against `wrangler dev`.
#
# Environment read here:
#   CONTROL_PLANE_URL      base URL of the Worker, e.g. http://127.0.0.1:8787 (no trailing path)
#   INTERNAL_API_KEY       Bearer key for /internal/*; never printed, never put on a command line
#   TRACE_ID, JOB_ID, TENANT_ID   used by trace_event (trace posting is skipped without TRACE_ID)
#   GITHUB_OUTPUT          when set, emit_output appends key=value there; else prints to stdout
#   PROVISION_ERROR_FILE   die() records the first error there for complete-job.sh (default on
#                          GitHub: $RUNNER_TEMP/provision-error.txt, shared by the job's steps)
#   CP_MAX_ATTEMPTS (4), CP_RETRY_DELAY (2 s, doubled per retry), CP_MAX_TIME (30 s per try)

if [[ -z ${SCRIPT_NAME:-} ]]; then
  SCRIPT_NAME=${BASH_SOURCE[1]:-$0}
  SCRIPT_NAME=${SCRIPT_NAME##*/}
  SCRIPT_NAME=${SCRIPT_NAME%.sh}
fi
PROVISION_ERROR_FILE=${PROVISION_ERROR_FILE:-${RUNNER_TEMP:+$RUNNER_TEMP/provision-error.txt}}
# Byte semantics everywhere: [a-z0-9] and [[:graph:]] mean ASCII, as in the Worker's rules.
export LC_ALL=C

# Used by the scripts that source this file.
# shellcheck disable=SC2034
NODE_ID_RE='^[A-Za-z0-9._-]{1,64}$'
EVENT_RE='^[a-z0-9_.-]{1,64}$'
# shellcheck disable=SC2034
TENANT_ID_RE='^[A-Za-z0-9._-]{1,128}$'
TRACE_ID_RE='^trace_[[:graph:]]{0,122}$'

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$SCRIPT_NAME" "$*" >&2; }

# On GitHub the ::error:: line shows up as an annotation on the run page.
die() {
  local msg
  msg=$(redact "$*")
  msg=${msg//$'\n'/ }
  if [[ ${GITHUB_ACTIONS:-} == true ]]; then
    printf '::error title=%s::%s\n' "$SCRIPT_NAME" "$msg" >&2
  fi
  printf '%s: error: %s\n' "$SCRIPT_NAME" "$msg" >&2
  record_error "$msg"
  exit 1
}

# Keeps the first (root-cause) error of a run so the final /complete call can report it.
record_error() {
  local file=${PROVISION_ERROR_FILE:-}
  [[ -n $file ]] || return 0
  if [[ ! -s $file ]]; then
    printf '%s: %s\n' "$SCRIPT_NAME" "$1" >"$file" 2>/dev/null || true
  fi
}

# Replaces every occurrence of the API key in its argument (for echoing response bodies or
# error text that might, through some bug upstream, contain it).
redact() {
  local text=$1 key=${INTERNAL_API_KEY:-}
  if [[ -n $key ]]; then
    text=${text//"$key"/***}
  fi
  printf '%s' "$text"
}

trim() {
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  s=${s%"${s##*[![:space:]]}"}
  printf '%s' "$s"
}

# bool_true VALUE: true when VALUE is `true` in any case, also as the JSON string "true"
# (GitHub hands a boolean input over as true/false; a dispatcher may send "true").
bool_true() {
  local v
  v=$(trim "${1:-}")
  v=${v#\"}
  v=${v%\"}
  [[ ${v,,} == true ]]
}

# bool_valid VALUE: VALUE is true or false in the sense of bool_true.
bool_valid() {
  local v
  v=$(trim "${1:-}")
  v=${v#\"}
  v=${v%\"}
  [[ ${v,,} == true || ${v,,} == false ]]
}

bool_word() { if bool_true "${1:-}"; then printf true; else printf false; fi; }

require_env() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || die "environment variable $name is required"
  done
}

urlencode() { jq -rn --arg v "$1" '$v | @uri'; }

# emit_output KEY VALUE: a step output for later workflow steps (single-line values only).
emit_output() {
  local key=$1 value=$2
  [[ $value != *$'\n'* && $value != *$'\r'* ]] || die "output $key must be a single line"
  if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf '%s=%s\n' "$key" "$value" >>"$GITHUB_OUTPUT"
  else
    printf '%s=%s\n' "$key" "$value"
  fi
}

# cp_request METHOD PATH [JSON_BODY]
# Calls the control plane. Sets CP_STATUS (HTTP status, 000 when no response) and CP_BODY.
# Returns 0 for a 2xx answer, 1 otherwise. Retries network errors, 429 and 5xx with backoff.
# The key travels in a header read from a file descriptor, so it is never in argv (ps) or logs.
cp_request() {
  local method=$1 path=$2 body=${3-}
  CP_STATUS=000
  CP_BODY=
  if [[ -z ${CONTROL_PLANE_URL:-} ]]; then
    CP_BODY='CONTROL_PLANE_URL is not set'
    return 1
  fi
  if [[ -z ${INTERNAL_API_KEY:-} ]]; then
    CP_BODY='INTERNAL_API_KEY is not set'
    return 1
  fi
  local url="${CONTROL_PLANE_URL%/}$path"
  local max=${CP_MAX_ATTEMPTS:-4} delay=${CP_RETRY_DELAY:-2} attempt=1 rc out
  out=$(mktemp)
  local -a args=(--silent --show-error --fail-with-body
    --connect-timeout "${CP_CONNECT_TIMEOUT:-10}" --max-time "${CP_MAX_TIME:-30}"
    --request "$method" --output "$out" --write-out '%{http_code}'
    --header 'Accept: application/json' --header 'User-Agent: prego-provision-workflow')
  if [[ -n $body ]]; then
    args+=(--header 'Content-Type: application/json' --data-binary @-)
  fi
  while :; do
    rc=0
    CP_STATUS=$(curl "${args[@]}" \
      --header @<(printf 'Authorization: Bearer %s\n' "$INTERNAL_API_KEY") \
      "$url" <<<"$body" 2>"$out.err") || rc=$?
    CP_BODY=$(cat "$out" 2>/dev/null || true)
    [[ $CP_STATUS =~ ^[0-9]{3}$ ]] || CP_STATUS=000
    if [[ $CP_STATUS == 2* && $rc -eq 0 ]]; then
      rm -f "$out" "$out.err"
      return 0
    fi
    if [[ $CP_STATUS == 000 && -z $CP_BODY ]]; then
      CP_BODY=$(redact "$(cat "$out.err" 2>/dev/null || true)")
    fi
    # Retry only what may succeed later: no answer at all, 429, 5xx.
    if [[ $CP_STATUS == 000 || $CP_STATUS == 429 || $CP_STATUS == 5* ]] && ((attempt < max)); then
      warn "$method $path: ${CP_STATUS/#000/no response}; retry $attempt of $((max - 1)) in ${delay}s"
      sleep "$delay"
      attempt=$((attempt + 1))
      delay=$((delay * 2))
      continue
    fi
    rm -f "$out" "$out.err"
    return 1
  done
}

# The control plane's error message for the last failed request, for humans.
cp_error() {
  local msg
  msg=$(jq -r '(.error.code // empty) as $c | (.error.message // empty) as $m
               | if $c != "" and $m != "" then "\($c): \($m)" else ($m + $c) end' \
    <<<"$CP_BODY" 2>/dev/null || true)
  if [[ -z $msg ]]; then
    msg=${CP_BODY:0:300}
  fi
  if [[ $CP_STATUS == 000 ]]; then
    printf 'no response from %s (%s)' "${CONTROL_PLANE_URL:-?}" "$(redact "${msg:-unknown error}")"
  else
    printf 'HTTP %s: %s' "$CP_STATUS" "$(redact "${msg:-empty body}")"
  fi
}

# trace_event EVENT STATUS [DETAIL_JSON_OBJECT]
# Best effort: skipped without TRACE_ID, and a failure only warns. Never fails the step.
trace_event() {
  local event=$1 status=$2 detail=${3:-'{}'} trace_id payload
  trace_id=$(trim "${TRACE_ID:-}")
  [[ -n $trace_id ]] || return 0
  if [[ ! $trace_id =~ $TRACE_ID_RE ]]; then
    warn "trace event $event skipped: TRACE_ID must be trace_ and visible ASCII, at most 128 characters"
    return 0
  fi
  if [[ ! $event =~ $EVENT_RE ]]; then
    warn "trace event skipped: bad event name $event"
    return 0
  fi
  if ! payload=$(jq -cn --arg trace_id "$trace_id" --arg event "$event" --arg status "$status" \
    --arg job_id "${JOB_ID:-}" --arg tenant_id "${TENANT_ID:-}" --argjson detail "$detail" '
      {trace_id: $trace_id, event: $event, status: $status, detail: $detail}
      + (if $job_id != "" then {job_id: $job_id} else {} end)
      + (if $tenant_id != "" then {tenant_id: $tenant_id} else {} end)' 2>/dev/null); then
    warn "trace event $event skipped: detail is not a JSON object"
    return 0
  fi
  if CP_MAX_ATTEMPTS=${TRACE_MAX_ATTEMPTS:-2} cp_request POST /internal/trace-events "$payload"; then
    return 0
  fi
  warn "trace event $event not recorded: $(cp_error)"
  return 0
}

# A JSON object from name=value pairs (all values strings), for trace details.
json_obj() {
  local -a args=()
  local pair
  for pair in "$@"; do
    args+=(--arg "${pair%%=*}" "${pair#*=}")
  done
  jq -cn "${args[@]}" '$ARGS.named'
}
