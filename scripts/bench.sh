#!/usr/bin/env bash
# The benchmark: `bash scripts/bench.sh`. One run on this machine; prints a table and writes
# bench-results/latest.json (plus a time-stamped copy). Steps:
#   1. setup (idempotent) and the Worker build; build/index_bg.wasm raw and gzip -9 size;
#   2. the native placement benchmark (cargo run --release -p cp-core --example bench_placement);
#   3. cold start: a fresh local state, migrations applied, then the time from launching
#      `wrangler dev` (a temp config without [build], as the HTTP tests use) to the first 200 from
#      /health;
#   4. bounded load to 127.0.0.1 with the load client in bench/ (fixed concurrency, warm-up, then a
#      fixed measured window): GET /health; 1,000 node registrations over HTTP; metrics pushes
#      round-robin over those 1,000 nodes; placement/compute with 1,000 nodes; 9,000 more nodes
#      (with fresh metrics, same region) seeded straight into the local D1 file; compute with
#      10,000 nodes; metrics pushes round-robin over all 10,000; a few sequential computes right
#      after every node of the region changed (bench/region_changed.py: the kept fleet's worst
#      case). The workerd processes' CPU time is read from /proc over each measured window;
#   5. a probe: the Worker restarted on the same state with wrangler's local trace collector on, a
#      few sequential requests, and a look at what workerd reports (cpuTime, span and D1 times).
# The wrangler process group is always stopped on exit. Knobs (environment): BENCH_CONCURRENCY (8),
# BENCH_DURATION_S (8), BENCH_WARMUP_S (1), BENCH_LOCAL_OBSERVABILITY (false: wrangler's local
# trace collector, a dev-only cost of about half the /health throughput, is off during load),
# BENCH_KEEP_STATE=1 keeps the temp folder (state, logs, raw JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export BENCH_START_NS BENCH_REPO="$REPO"
BENCH_START_NS=$(date +%s%N)
export BENCH_LOADAVG_START
BENCH_LOADAVG_START=$(cut -d" " -f1 /proc/loadavg)
export BENCH_CONCURRENCY="${BENCH_CONCURRENCY:-8}"
export BENCH_DURATION_S="${BENCH_DURATION_S:-8}"
export BENCH_WARMUP_S="${BENCH_WARMUP_S:-1}"
export BENCH_LOCAL_OBSERVABILITY="${BENCH_LOCAL_OBSERVABILITY:-false}"
KEY=bench-key
REGION=sg
PREFIX=bench-
CLK=$(getconf CLK_TCK)

log() { printf 'bench: %s\n' "$*" >&2; }

RUN=$(mktemp -d "${TMPDIR:-/tmp}/cp-bench.XXXXXX")
PG=""
stop_wrangler() {
  [ -n "$PG" ] || return 0
  kill -TERM -- "-$PG" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 -- "-$PG" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$PG" 2>/dev/null || true
  PG=""
}
cleanup() {
  stop_wrangler
  if [ -n "${BENCH_KEEP_STATE:-}" ]; then log "kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash scripts/setup.sh
export PATH="$REPO/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false DO_NOT_TRACK=1 CI=true

# ---- 1. build and wasm size ----
log "building the Worker"
mkdir -p target
# The same lock as the HTTP test harness: one worker-build at a time in this checkout. The run
# serves a snapshot of build/ taken under that lock: wrangler dev watches its `main` and restarts
# the Worker when it changes, and others rebuilding build/ mid-run would otherwise restart it.
# shellcheck disable=SC2016 # $1 belongs to the inner shell
if ! flock target/.worker-build.lock bash -c 'env -u CP_SKIP_BUILD bash scripts/build.sh && cp -r build "$1"' _ "$RUN/build" \
  >"$RUN/build.log" 2>&1; then
  cat "$RUN/build.log" >&2
  exit 1
fi
WASM="$RUN/build/index_bg.wasm"
printf '{"path":"%s","raw_bytes":%d,"gzip_bytes":%d}\n' build/index_bg.wasm "$(wc -c <"$WASM")" "$(gzip -9 -c "$WASM" | wc -c)" >"$RUN/wasm.json"

log "building the load client (bench/) and running the native placement benchmark"
cargo build --release --quiet -p cp-bench
CPBENCH="$REPO/target/release/cp-bench"
cargo run --release --quiet -p cp-core --example bench_placement | tee "$RUN/native.txt" | grep -v '^{' >&2 || true
grep '^{' "$RUN/native.txt" | tail -1 >"$RUN/native.json"

# ---- 2. a fresh local state and a config without [build] (as tests/http/harness.rs), serving the
# build snapshot ----
awk -v repo="$REPO" -v run="$RUN" '
  /^\[/ { skip = ($0 == "[build]") }
  skip { next }
  /^main = / { print "main = \"" run "/build/index.js\""; next }
  /^migrations_dir = / { print "migrations_dir = \"" repo "/migrations\""; next }
  { print }' wrangler.toml >"$RUN/wrangler.toml"
STATE="$RUN/state"
(cd "$RUN" && wrangler d1 migrations apply DB --local --persist-to "$STATE" --config "$RUN/wrangler.toml" </dev/null >"$RUN/migrate.log" 2>&1) ||
  { cat "$RUN/migrate.log" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"

start_wrangler() { # observability(true|false) log-file
  # setsid: wrangler, its workerd processes and esbuild in one new process group ($! is its id).
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
  X_LOCAL_OBSERVABILITY="$1" setsid bash -c 'cd "$1" && shift && exec "$@"' _ "$RUN" \
    wrangler dev --ip 127.0.0.1 --port "$PORT" --inspector-port "$(free_port)" \
    --show-interactive-dev-session=false --persist-to "$STATE" --config "$RUN/wrangler.toml" \
    --var "INTERNAL_API_KEY:$KEY" </dev/null >>"$2" 2>&1 &
  PG=$!
  # The child runs setsid a moment after the fork; on a loaded machine that can take a while.
  for _ in $(seq 100); do
    [ "$(ps -o pgid= -p "$PG" | tr -d ' ')" = "$PG" ] && break
    sleep 0.1
  done
  if [ "$(ps -o pgid= -p "$PG" | tr -d ' ')" != "$PG" ]; then
    log "wrangler dev is not in its own process group"
    exit 1
  fi
}

# The workerd processes of the group: the one listening on the Worker's port is wrangler's dev
# proxy (local only); the other runs the Worker, local D1 and Queues ("runtime").
CPU_ARGS=()
scan_pids() {
  local proxy="" p n=0
  proxy=$(ss -ltnpH "sport = :$PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
  [ -n "$proxy" ] || proxy=$(lsof -t -iTCP:"$PORT" -sTCP:LISTEN 2>/dev/null | head -1 || true)
  CPU_ARGS=()
  for p in $(ps -eo pid=,pgid=,comm= | awk -v pg="$PG" '$2 == pg && $3 == "workerd" { print $1 }'); do
    if [ "$p" = "$proxy" ]; then
      CPU_ARGS+=(--cpu-pid "proxy=$p")
    elif [ "$n" = 0 ]; then
      CPU_ARGS+=(--cpu-pid "runtime=$p")
      n=1
    else
      CPU_ARGS+=(--cpu-pid "workerd_$p=$p")
    fi
  done
  # wrangler's node processes (they relay the Worker's log lines): in the JSON only.
  for p in $(ps -eo pid=,pgid=,comm= | awk -v pg="$PG" '$2 == pg && $3 == "node" { print $1 }'); do
    CPU_ARGS+=(--cpu-pid "node_$p=$p")
  done
}

phase() { # name, then cp-bench load arguments
  local name=$1
  shift
  scan_pids
  log "phase $name"
  "$CPBENCH" load --label "$name" --url "$BASE${1}" "${@:2}" --concurrency "$BENCH_CONCURRENCY" \
    --clk-tck "$CLK" "${CPU_ARGS[@]}" >"$RUN/$name.json"
}
TIMED=(--warmup-s "$BENCH_WARMUP_S" --duration-s "$BENCH_DURATION_S")

fleet_check() { # output file
  curl -sS -X POST -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "{\"plan_tier\":\"basic\",\"region\":\"$REGION\"}" "$BASE/internal/placement/compute" |
    python3 -c 'import json, sys; d = json.load(sys.stdin); c = d["cluster"]; c["selected_node_id"] = d.get("selected_node_id"); print(json.dumps(c))' >"$1"
}

# ---- 3. cold start ----
log "cold start: launching wrangler dev on $BASE"
T0=$(date +%s%N)
start_wrangler "$BENCH_LOCAL_OBSERVABILITY" "$RUN/wrangler.log"
"$CPBENCH" wait --url "$BASE/health" --since-ns "$T0" --timeout-s 180 >"$RUN/cold.json" ||
  { tail -50 "$RUN/wrangler.log" >&2; exit 1; }

# ---- 4. load phases ----
phase health /health "${TIMED[@]}"
phase register /internal/nodes --auth "$KEY" --body register --nodes 1000 --node-prefix "$PREFIX" --region "$REGION" --requests 1000
phase metrics /internal/server-metrics --auth "$KEY" --body metrics --nodes 1000 --node-prefix "$PREFIX" "${TIMED[@]}"
fleet_check "$RUN/cluster1k.json"
phase compute1k /internal/placement/compute --auth "$KEY" --body compute --region "$REGION" "${TIMED[@]}"
log "seeding 9,000 more nodes into the local D1 file"
python3 bench/seed.py "$STATE" --region "$REGION" --prefix "$PREFIX" --from 1000 --to 10000 >"$RUN/seed.json"
fleet_check "$RUN/cluster10k.json"
phase compute10k /internal/placement/compute --auth "$KEY" --body compute --region "$REGION" "${TIMED[@]}"
phase metrics10k /internal/server-metrics --auth "$KEY" --body metrics --nodes 10000 --node-prefix "$PREFIX" "${TIMED[@]}"
# Last of the load phases: its 10,000-row update must not weigh on the pushes' WAL.
log "compute right after the whole region changed (the kept fleet's worst case), sequential"
RUNTIME_PID=$(printf '%s\n' "${CPU_ARGS[@]}" | sed -n 's/^runtime=//p' | head -1)
python3 bench/region_changed.py "$STATE" "$BASE" "$KEY" "$REGION" "$RUNTIME_PID" >"$RUN/changed.json"

# ---- 5. what local workerd reports per request ----
log "probe: restarting with the local trace collector on, sequential requests"
stop_wrangler
start_wrangler true "$RUN/wrangler-probe.log"
"$CPBENCH" wait --url "$BASE/health" --timeout-s 180 >/dev/null || { tail -50 "$RUN/wrangler-probe.log" >&2; exit 1; }
for _ in $(seq 10); do
  curl -sS -o /dev/null "$BASE/health"
  curl -sS -o /dev/null -X POST -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "{\"node_id\":\"${PREFIX}00001\",\"cpu_pct\":10,\"memory_pct\":40,\"disk_pct\":30,\"tenant_count\":3}" "$BASE/internal/server-metrics"
  curl -sS -o /dev/null -X POST -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "{\"plan_tier\":\"basic\",\"region\":\"$REGION\"}" "$BASE/internal/placement/compute"
done
sleep 2 # the collector writes in batches
stop_wrangler
python3 bench/probe_trace.py "$STATE" >"$RUN/probe.json" || true

# ---- report ----
mkdir -p bench-results
python3 bench/report.py "$RUN" "$REPO/bench-results/latest.json"
