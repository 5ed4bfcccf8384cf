#!/usr/bin/env bash
# The README's test command: every test. Installs what is missing (idempotent), checks the
# formatting and the lints (warnings denied), then runs the whole workspace's tests: the pure
# core's unit, scenario and property tests, the node agent's tests, the OpenAPI/route-table
# check, and the HTTP suites, which build the Worker, start it under `wrangler dev` (workerd,
# local D1, local Queues) on free ports with fresh state, drive it over HTTP, and always stop it.
# The HTTP suites also run the workflow scripts, the agent and actionlint against it, and hold
# the Worker to openapi.json with requests generated from the document (the contract suite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false DO_NOT_TRACK=1
# The gates first: unformatted code or a lint warning fails the run before any test starts
# (host crates with their tests, then the Worker as it is built, for wasm32).
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p control-plane --locked -- -D warnings
# --no-fail-fast: one failing crate must not hide the results of the others.
exec cargo test --workspace --locked --no-fail-fast "$@"
