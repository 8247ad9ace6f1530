#!/usr/bin/env bash
# Installs what Sortie's tests need, then runs the whole suite.
# Safe to run with no terminal (CI=true, no stdin): nothing here prompts.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs and run this again" >&2
  exit 1
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: Node.js and npm are needed for the test OAuth server (tests/oauth-server) and the Claude Code CLI (tests/claude-code); install them and run this again" >&2
  exit 1
fi

# ensure COMMAND PACKAGE WHY: installs the Debian package PACKAGE when COMMAND is missing.
ensure() {
  local cmd=$1 pkg=$2 why=$3
  if command -v "$cmd" >/dev/null 2>&1; then return 0; fi
  echo "==> installing $pkg ($why)"
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""
    if [ "$(id -u)" != "0" ]; then sudo="sudo -n"; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$pkg" >/dev/null \
      || { $sudo apt-get update -q >/dev/null \
           && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$pkg" >/dev/null; } \
      || true
  fi
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "error: $cmd is needed ($why); install the package $pkg (or its equivalent) and run this again" >&2
    exit 1
  fi
}

ensure tmux tmux "the TUI's end-to-end test drives the real binary inside it"
tmux -V
ensure python3 python3 "the sandbox's network test runs a small Python client inside it"
ensure dbus-daemon dbus-daemon "the OS keyring test runs a private session bus"
ensure dbus-send dbus-bin "the OS keyring test waits for the Secret Service on its bus"
ensure gnome-keyring-daemon gnome-keyring "the OS keyring test keeps the store's key in a real Secret Service"

# PostgreSQL for the store tests: tests/src/postgres.rs makes its own cluster with initdb
# and pg_ctl in a temporary directory, as an unprivileged user (the `postgres` user
# Debian's package adds). Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH.
have_postgres() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then return 0; fi
  local bin
  for bin in /usr/lib/postgresql/*/bin; do
    if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ]; then return 0; fi
  done
  return 1
}
if ! have_postgres; then
  echo "==> installing postgresql (the store tests run a real PostgreSQL server)"
  if command -v apt-get >/dev/null 2>&1; then
    pg_sudo=""
    if [ "$(id -u)" != "0" ]; then pg_sudo="sudo -n"; fi
    DEBIAN_FRONTEND=noninteractive $pg_sudo apt-get install -y -q --no-install-recommends postgresql >/dev/null \
      || { $pg_sudo apt-get update -q >/dev/null \
           && DEBIAN_FRONTEND=noninteractive $pg_sudo apt-get install -y -q --no-install-recommends postgresql >/dev/null; } \
      || true
  fi
  if ! have_postgres; then
    echo "error: PostgreSQL's initdb and pg_ctl are needed (the store tests run a real server); install the package postgresql (or set SORTIE_PG_BINDIR to their directory) and run this again" >&2
    exit 1
  fi
fi

echo "==> installing the test OAuth authorization server (oidc-provider, pinned in package-lock.json)"
npm ci --prefix tests/oauth-server --no-audit --no-fund --loglevel=error

echo "==> installing the Claude Code CLI the transport tests run (@anthropic-ai/claude-code, pinned)"
npm ci --prefix tests/claude-code --no-audit --no-fund --loglevel=error
tests/claude-code/node_modules/.bin/claude --version

echo "==> installing the reference MCP server the MCP tests run (@modelcontextprotocol/server-everything, pinned)"
npm ci --prefix tests/mcp-servers --no-audit --no-fund --loglevel=error

echo "==> installing the official MCP Python SDK for the test server tests/mcp-servers/faulty_server.py (pinned)"
if [ ! -x tests/mcp-servers/.venv/bin/python ]; then
  if ! python3 -m venv tests/mcp-servers/.venv && command -v apt-get >/dev/null 2>&1; then
    rm -rf tests/mcp-servers/.venv
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
    $SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-venv >/dev/null || true
    python3 -m venv tests/mcp-servers/.venv || true
  fi
  if [ ! -x tests/mcp-servers/.venv/bin/python ]; then
    echo "error: python3 cannot make a venv; install python3-venv (apt-get install python3-venv) and run this again" >&2
    exit 1
  fi
fi
tests/mcp-servers/.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input \
  -r tests/mcp-servers/requirements.txt

echo "==> fetching Rust crates (Cargo.lock)"
cargo fetch --locked

echo "==> building the workspace and the sortie binary"
cargo build --locked --workspace --all-targets

echo "==> checking formatting and lints (cargo fmt, cargo clippy -D warnings)"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "==> running the tests"
cargo test --locked --workspace --no-fail-fast
