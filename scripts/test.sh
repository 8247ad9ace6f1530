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

if ! command -v tmux >/dev/null 2>&1; then
  echo "==> installing tmux (the TUI's end-to-end test drives the real binary inside it)"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q tmux >/dev/null \
      || { $SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q tmux >/dev/null; }
  fi
  if ! command -v tmux >/dev/null 2>&1; then
    echo "error: tmux is needed for the TUI's end-to-end test; install it (apt-get install tmux, brew install tmux) and run this again" >&2
    exit 1
  fi
fi
tmux -V

if ! command -v python3 >/dev/null 2>&1; then
  echo "==> installing python3 (the sandbox's network test runs a small Python client inside it)"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
    $SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3 >/dev/null
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    echo "error: python3 is needed for the sandbox's network test; install it and run this again" >&2
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
