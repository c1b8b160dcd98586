#!/usr/bin/env bash
# An upgrade under load against the same load without one: builds the demo
# in release, installs wrk when missing, runs scripts/upgrade-bench.py.
# Usage: scripts/upgrade-bench.sh [--rounds R] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update && apt-get install -y --no-install-recommends wrk
fi
cargo build --release -p micro-demo
exec python3 scripts/upgrade-bench.py target/release/micro "$@"
