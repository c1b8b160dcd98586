#!/usr/bin/env python3
"""What OpenTelemetry costs a request, in one run beside bare axum.

Variants: bare axum; micro in production defaults built without the cargo
feature `otel`; and micro built with it, exporting over OTLP/HTTP to a
collector that answers (sampling ratio 0, then 1), to one that is down
(nothing listens), and to one that hangs (takes connections, never reads).
The collector here is a small HTTP server in this process answering every
export 200, pinned with wrk to CPU 1; the server runs on CPU 0, so its
exporter thread is counted in its CPU time.

Per variant and round, under `wrk -t2 -c64 --latency /hello`: server CPU per
request, req/s, p50 and p99, and the spans dropped
(`micro_otel_spans_dropped_total`). Rounds alternate the order; the table
gives the median of the rounds and their range. Then callgrind's
instructions per sequential request, the same on every run.

Usage: scripts/bench_telemetry.py PLAIN_TARGET OTEL_TARGET [--rounds R]
[--seconds S] [--instructions N] (scripts/bench-telemetry.sh builds both
and runs it).
"""

import argparse
import http.server
import os
import re
import shutil
import socket
import statistics
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the helpers of scripts/bench.py)


class Collector(http.server.BaseHTTPRequestHandler):
    """OTLP/HTTP: every POST /v1/traces answered 200 with an empty
    ExportTraceServiceResponse (all its fields are optional)."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Quiet(http.server.ThreadingHTTPServer):
    """A server killed at the end of its run resets its export connection:
    no traceback for that."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


def collectors():
    """The endpoints: one that answers, one down, one that hangs."""
    answering = Quiet(("127.0.0.1", 0), Collector)
    threading.Thread(target=answering.serve_forever, daemon=True).start()
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(4096)  # never accepted: connections wait, nothing is read
    down = bench.free_port()  # nothing listens: every export is refused
    url = lambda port: f"http://127.0.0.1:{port}/v1/traces"
    return {"up": url(answering.server_address[1]), "down": url(down),
            "hanging": url(hanging.getsockname()[1])}, (answering, hanging)


def otel_env(endpoint, ratio):
    def env(port):
        e = bench.micro_env(port, bench.OPTIONAL)
        e.update({"MICRO__SITE__TELEMETRY__ENDPOINT": endpoint,
                  "MICRO__SITE__TELEMETRY__PROTOCOL": "http/protobuf",
                  "MICRO__SITE__TELEMETRY__SAMPLING_RATIO": str(ratio)})
        return e
    return env


def variants(plain, otel, endpoints):
    bare = os.path.join(plain, "bare")
    service, traced = os.path.join(plain, "service"), os.path.join(otel, "service")
    V = bench.Variant
    return [
        V("bare axum", lambda p: [bare, "--port", str(p)]),
        V("micro without `otel`", lambda p: [service], lambda p: bench.micro_env(p, bench.OPTIONAL)),
        V("micro `otel`, ratio 0, collector up", lambda p: [traced], otel_env(endpoints["up"], 0)),
        V("micro `otel`, ratio 1, collector up", lambda p: [traced], otel_env(endpoints["up"], 1)),
        V("micro `otel`, ratio 1, collector down", lambda p: [traced], otel_env(endpoints["down"], 1)),
        V("micro `otel`, ratio 1, collector hanging", lambda p: [traced], otel_env(endpoints["hanging"], 1)),
    ]


def dropped(port):
    """`micro_otel_spans_dropped_total` (0 when not exported yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {"dropped": float("nan")}
    match = re.search(r"^micro_otel_spans_dropped_total(?:\{[^}]*\})? ([\d.e+]+)$", text, re.M)
    return {"dropped": float(match.group(1)) if match else 0.0}


def spread(values, fmt):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("plain", help="target dir of bench/ built without `otel`")
    parser.add_argument("otel", help="target dir of bench/ built with `otel`")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--instructions", type=int, default=4000, help="requests under callgrind (0: skip)")
    parser.add_argument("--out", default="target/bench")
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found (scripts/bench-telemetry.sh installs it)")
    os.sched_setaffinity(0, {1})  # the collector beside wrk, off the server's CPU
    endpoints, _held = collectors()
    all_variants = variants(args.plain, args.otel, endpoints)
    runs = {v.name: [] for v in all_variants}
    for round_ in range(args.rounds):
        order = all_variants if round_ % 2 == 0 else list(reversed(all_variants))
        for variant in order:
            probe = dropped if "otel`" in variant.name else None
            runs[variant.name].append(bench.load(variant, args.seconds, probe))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    bare = runs["bare axum"]
    lines = [f"{args.rounds} rounds × {args.seconds} s of `wrk -t2 -c64 --latency /hello` per variant, alternating; "
             "server on CPU 0, wrk and the collector on CPU 1; median of the rounds (range).", "",
             "| variant | CPU/request | ÷ bare | req/s | p50 | p99 | spans dropped |", "|---|---|---|---|---|---|---|"]
    for name, results in runs.items():
        ratio = [r["cpu_us"] / b["cpu_us"] for r, b in zip(results, bare)]
        drops = spread([r["dropped"] for r in results], "{:.0f}") if "dropped" in results[0] else ""
        lines.append(f"| {name} | {spread([r['cpu_us'] for r in results], '{:.2f}')} µs | {spread(ratio, '{:.2f}')} "
                     f"| {spread([r['rps'] for r in results], '{:.0f}')} "
                     f"| {spread([r['p50_ms'] for r in results], '{:.2f}')} ms "
                     f"| {spread([r['p99_ms'] for r in results], '{:.2f}')} ms | {drops} |")
    if args.instructions and shutil.which("valgrind"):
        os.makedirs(args.out, exist_ok=True)
        counted = {v.name: bench.instructions(v, args.instructions, args.out) for v in all_variants}
        base = counted["bare axum"]
        lines += ["", f"Instructions per request (callgrind, {args.instructions} sequential keep-alive requests "
                  "after 200 warm-up ones, the exporter's thread included):", "",
                  "| variant | instructions/request | ÷ bare |", "|---|---|---|"]
        lines += [f"| {name} | {count:.0f} | {count / base:.3f} |" for name, count in counted.items()]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
