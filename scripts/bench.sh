#!/usr/bin/env bash
# micro against bare axum in one run: builds bench/ in release, installs wrk
# (and matplotlib for the chart) when missing, runs scripts/bench.py.
# Usage: scripts/bench.sh [--rounds R] [--seconds S] [--repeats N]
# Writes target/bench/results.md, results.json and bench.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update && apt-get install -y --no-install-recommends wrk
fi
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install --quiet matplotlib
cargo build --release -p micro-bench --bins
exec python3 scripts/bench.py target/release "$@"
