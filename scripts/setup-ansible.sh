#!/usr/bin/env bash
# Installs Ansible (ansible-core + ansible-lint, pinned) into a venv outside the clone, for the
# tests of the cp_agent role (deploy/ansible/). Called by scripts/setup.sh; safe to run again: it
# does nothing when the venv already holds the pinned versions, and never re-downloads them.
# Override the place with CP_TOOLS_DIR (default ~/.cache/cp-tools).
set -euo pipefail

ANSIBLE_CORE_VERSION=2.19.14
ANSIBLE_LINT_VERSION=26.10.1
VENV="${CP_TOOLS_DIR:-$HOME/.cache/cp-tools}/ansible-venv"

log() { printf 'setup: %s\n' "$*" >&2; }

pinned() { # true when the venv holds exactly the pinned versions
  [ -x "$VENV/bin/ansible-playbook" ] && [ -x "$VENV/bin/ansible-lint" ] || return 1
  local core lint
  core=$("$VENV/bin/ansible-playbook" --version 2>/dev/null) || return 1
  # --offline: no look-up of newer releases (the network may be closed); NO_COLOR: plain text.
  lint=$(PATH="$VENV/bin:$PATH" NO_COLOR=1 "$VENV/bin/ansible-lint" --offline --version 2>/dev/null) || return 1
  [[ $core == *"core $ANSIBLE_CORE_VERSION]"* ]] && [[ $lint == "ansible-lint $ANSIBLE_LINT_VERSION "* ]]
}

if pinned; then
  exit 0
fi

log "installing ansible-core $ANSIBLE_CORE_VERSION and ansible-lint $ANSIBLE_LINT_VERSION into $VENV (about a minute, once)"
command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
if [ ! -x "$VENV/bin/pip" ]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "ansible-core==$ANSIBLE_CORE_VERSION" "ansible-lint==$ANSIBLE_LINT_VERSION"
pinned || { log "ansible in $VENV is not at the pinned versions after installing"; exit 1; }
