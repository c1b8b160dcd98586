#!/usr/bin/env bash
# Config propagation across a fleet: N demo instances (release build) watch
# one etcd prefix; puts a change 20 times and reports put -> serving
# latency over every instance (p50, p99, max) and whether all converge.
# Usage: scripts/fleet.sh N [--rounds R]   (needs etcd: apt-get install etcd-server)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:?usage: scripts/fleet.sh N [--rounds R]}"
shift
cargo build --release --features etcd --bin micro
exec python3 scripts/fleet.py target/release/micro "$n" "$@"
