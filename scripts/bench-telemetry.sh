#!/usr/bin/env bash
# What OpenTelemetry costs a request: builds bench/ in release twice, without
# and with micro's cargo feature `otel` (the second into target/otel, so
# neither build's features leak into the other), installs wrk when missing,
# runs scripts/bench_telemetry.py.
# Usage: scripts/bench-telemetry.sh [--rounds R] [--seconds S] [--instructions N]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update && apt-get install -y --no-install-recommends wrk
fi
cargo build --release -p micro-bench --bins
cargo build --release -p micro-bench --bins --features otel --target-dir target/otel
exec python3 scripts/bench_telemetry.py target/release target/otel/release "$@"
