#!/usr/bin/env python3
"""An upgrade under load against the same load without one, in one run.

The demo (release build, production mode, default shutdown settings) is
pinned to CPU 0, wrk (2 threads, 64 keep-alive connections, GET /hello) to
CPU 1. Each round runs two windows of S seconds on the same service,
alternating which comes first: a steady one, and one in which
`POST /admin/upgrade` is sent a second in. Per round: the upgrade's time
from the request to the new process serving (the `took_ms` it answers),
the POST's round trip (until the old process stopped accepting), p99 and
max latency of each window, wrk's socket errors and non-2xx answers. The
summary gives the median over rounds and the range (min–max), never the
best run; the p99 ratio is paired within a round.

Usage: scripts/upgrade-bench.py BINARY [--rounds R] [--seconds S]
(scripts/upgrade-bench.sh builds the demo and runs it.)
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

TOKEN = "upgrade-bench-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def version(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=2) as answer:
        return json.load(answer)


def wait_serving(port, deadline=20.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            return version(port)["pid"]
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing serves on port {port} within {deadline}s")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return not stat.read().rsplit(") ", 1)[1].startswith("Z")
    except OSError:
        return False


def to_ms(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def latency_ms(text, label):
    match = re.search(rf"^\s*{label}\s+(\S+)\s*$", text, re.M)
    return to_ms(match.group(1)) if match else float("nan")


def max_latency_ms(text):
    """The third column of wrk's `Latency avg stdev max +/-` line."""
    match = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    return to_ms(match.group(3)) if match else float("nan")


def wrk(port, seconds):
    run = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/hello"],
        capture_output=True, text=True, check=True)
    text = run.stdout
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "p99_ms": latency_ms(text, "99%"),
        "max_ms": max_latency_ms(text),
        "errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def post_upgrade(port, out):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/admin/upgrade", method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    sent = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = json.load(answer)
    out["round_trip_ms"] = (time.monotonic() - sent) * 1e3
    out["took_ms"] = body["took_ms"]
    out["pid"] = body["pid"]


def upgrade_window(port, seconds):
    out = {}
    poster = threading.Timer(1.0, post_upgrade, args=(port, out))
    poster.start()
    result = wrk(port, seconds)
    poster.join()
    if "took_ms" not in out:
        raise SystemExit("the upgrade did not answer")
    result.update(out)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO__") and k not in ("RUST_LOG", "PORT")}
    env.update({
        "MICRO__SITE__HTTP__PORT": str(port),
        "MICRO__SITE__ADMIN__ENABLED": "true",
        "MICRO__SITE__ADMIN__TOKEN": TOKEN,
    })
    first = subprocess.Popen(["taskset", "-c", "0", args.binary, "--production"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids = [first.pid]
    rounds = []
    try:
        wait_serving(port)
        wrk(port, 1)  # warm-up
        for n in range(args.rounds):
            windows = {}
            order = ["steady", "upgrade"] if n % 2 == 0 else ["upgrade", "steady"]
            for kind in order:
                if kind == "steady":
                    windows[kind] = wrk(port, args.seconds)
                else:
                    windows[kind] = upgrade_window(port, args.seconds)
                    pids.append(windows[kind]["pid"])
            rounds.append(windows)
            up, steady = windows["upgrade"], windows["steady"]
            print(f"round {n + 1}: upgrade {up['took_ms']:.1f} ms (POST {up['round_trip_ms']:.1f} ms); "
                  f"p99 steady {steady['p99_ms']:.2f} ms, during upgrade {up['p99_ms']:.2f} ms; "
                  f"max {steady['max_ms']:.2f} / {up['max_ms']:.2f} ms; "
                  f"errors {steady['errors'] + up['errors']}, non-2xx {steady['non_2xx'] + up['non_2xx']}",
                  flush=True)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        first.wait()
        end = time.monotonic() + 40
        while any(alive(pid) for pid in pids) and time.monotonic() < end:
            time.sleep(0.05)

    def summary(values, digits=2):
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    ups = [r["upgrade"] for r in rounds]
    steadies = [r["steady"] for r in rounds]
    print()
    print(f"{args.rounds} rounds, {args.seconds}s windows, 64 connections; median (min–max):")
    print("| measure | value |")
    print("|---|---|")
    print(f"| request → new process serving | {summary([u['took_ms'] for u in ups])} ms |")
    print(f"| POST /admin/upgrade round trip | {summary([u['round_trip_ms'] for u in ups])} ms |")
    print(f"| p99 latency, steady | {summary([s['p99_ms'] for s in steadies])} ms |")
    print(f"| p99 latency, window with an upgrade | {summary([u['p99_ms'] for u in ups])} ms |")
    print(f"| p99 ratio, upgrade ÷ steady (paired) | "
          f"{summary([u['p99_ms'] / s['p99_ms'] for u, s in zip(ups, steadies)])} |")
    print(f"| max latency, steady | {summary([s['max_ms'] for s in steadies])} ms |")
    print(f"| max latency, window with an upgrade | {summary([u['max_ms'] for u in ups])} ms |")
    print(f"| requests per window, steady / upgrade | {summary([s['requests'] for s in steadies], 0)} / "
          f"{summary([u['requests'] for u in ups], 0)} |")
    errors = sum(w["errors"] + w["non_2xx"] for r in rounds for w in r.values())
    print(f"| socket errors and non-2xx, all windows | {errors} |")
    left = [pid for pid in pids if alive(pid)]
    if left:
        print(f"processes still alive: {left}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
