#!/usr/bin/env bash
# The local Ethereum JSON-RPC node (anvil, pinned in tools/chain-node/package-lock.json) for the ledger's
# tests and for development against CELLORG_CHAIN_RPC_URL.
#
#   scripts/chain-node.sh               install it if missing; print the path of the anvil executable
#   scripts/chain-node.sh run [ARGS]    install it if missing, then run anvil (e.g. run --port 8545)
#
# Idempotent: when the pinned version is already installed it only asks the binary for its version.
set -euo pipefail

DIR="$(cd "$(dirname "$0")/../tools/chain-node" && pwd)"
ANVIL="$DIR/node_modules/.bin/anvil"

if ! command -v npm >/dev/null; then
  echo "chain-node: needs Node.js and npm (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
pinned=$(node -p 'require(process.argv[1]).dependencies["@foundry-rs/anvil"]' "$DIR/package.json")
installed() { [[ "$("$ANVIL" --version 2>/dev/null)" == *"anvil Version: $pinned"* ]]; }

if ! installed; then
  echo "chain-node: installing @foundry-rs/anvil@$pinned into $DIR/node_modules" >&2
  # The binary comes in the platform's optional dependency; the postinstall script is only a fallback
  # downloader for platforms without one, so it is not run.
  npm ci --prefix "$DIR" --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2
  if ! installed; then
    echo "chain-node: anvil $pinned does not run after installing it (platform $(uname -s) $(uname -m))" >&2
    exit 1
  fi
fi

case "${1:-}" in
  "") echo "$ANVIL" ;;
  run) shift; exec "$ANVIL" "$@" ;;
  *) echo "usage: $0 [run [ANVIL_ARGS...]]" >&2; exit 2 ;;
esac
