#!/usr/bin/env bash
# The README's run command: installs what is missing, applies the D1 migrations to the local
# database, starts the local stand-in for GitHub's workflow_dispatch API on 127.0.0.1:8788, and
# serves the Worker on 127.0.0.1:8787 with local D1 and Queues. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false DO_NOT_TRACK=1

PORT="${PORT:-8787}"
GITHUB_PORT="${GITHUB_PORT:-8788}"
STATE="${STATE_DIR:-.wrangler/state}"

[ -f .dev.vars ] || { cp .dev.vars.example .dev.vars; echo "run: created .dev.vars from .dev.vars.example (development key: dev-internal-key)"; }

wrangler d1 migrations apply DB --local --persist-to "$STATE" </dev/null

mkdir -p .wrangler
python3 scripts/fake_github.py --port "$GITHUB_PORT" --log .wrangler/fake-github.log &
github_pid=$!
trap 'kill "$github_pid" 2>/dev/null || true' EXIT INT TERM

echo "run: local GitHub stand-in on http://127.0.0.1:$GITHUB_PORT (GET /__requests lists what it received)"
wrangler dev --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" --test-scheduled \
  --var ENVIRONMENT:development \
  --var "GITHUB_WORKFLOW_DISPATCH_URL:http://127.0.0.1:$GITHUB_PORT/repos/local/control-plane/actions/workflows/provision-tenant.yml/dispatches"
