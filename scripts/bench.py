#!/usr/bin/env python3
"""micro against bare axum, in one run, alternating over rounds.

Variants (release builds of bench/): bare axum; bare axum with micro's
production layers assembled by hand; micro in production defaults; micro
with every optional layer off; micro with one optional layer on at a time.
A second bare instance in every round is the control: bare / bare gives the
noise floor printed beside every ratio.

Per variant and round, under wrk (2 threads, 64 connections) on GET /hello:
server CPU time per request (utime + stime from /proc over the run), req/s,
p50 and p99 latency. The server is pinned to CPU 0, wrk to CPU 1. Ratios are
paired within a round; the mean and its 95% confidence interval over rounds
are printed. Then: exec -> first 200, SIGTERM -> exit (idle and with
requests in flight), idle RSS.

Usage: scripts/bench.py TARGET_DIR [--rounds R] [--seconds S] [--out DIR]
(scripts/bench.sh builds and runs it.)

scripts/bench.py TARGET_DIR --instructions-only [VARIANT ...] counts
instructions per request only, by callgrind, for the variants named (all
when none), e.g. "micro, production defaults" "micro, only metrics"; it
builds nothing: `cargo build --release -p micro-bench --bins` first.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HZ = os.sysconf("SC_CLK_TCK")
OPTIONAL = ["request_id", "trace", "metrics", "catch_panic", "timeout", "limit_body", "header_timeout"]
# Student's t, two-sided 95%, by degrees of freedom.
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
       10: 2.23, 12: 2.18, 15: 2.13, 20: 2.09, 30: 2.04}


def t95(df):
    best = max(k for k in T95 if k <= max(df, 1))
    return T95[best]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def micro_env(port, on):
    """Environment for micro with exactly the optional layers in `on`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO__") and k not in ("RUST_LOG", "PORT")}
    env["MICRO__SITE__HTTP__PORT"] = str(port)
    env["MICRO__SITE__LOGGING__LEVEL"] = "info"
    for layer in OPTIONAL:
        env[f"MICRO__SITE__HTTP__{layer.upper()}"] = "true" if layer in on else "false"
    return env


class Variant:
    def __init__(self, name, command, env=None):
        self.name, self.command, self.env = name, command, env

    def start(self, port, cpu="0"):
        command = ["taskset", "-c", cpu] + self.command(port)
        env = self.env(port) if self.env else {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def variants(target):
    bare = os.path.join(target, "bare")
    service = os.path.join(target, "service")
    out = [
        Variant("bare axum", lambda p: [bare, "--port", str(p)]),
        Variant("bare axum (control)", lambda p: [bare, "--port", str(p)]),
        Variant("bare axum + layers by hand", lambda p: [bare, "--layers", "--port", str(p)]),
        Variant("micro, production defaults", lambda p: [service], lambda p: micro_env(p, OPTIONAL)),
        Variant("micro, optional layers off", lambda p: [service], lambda p: micro_env(p, [])),
    ]
    for layer in OPTIONAL:
        out.append(Variant(f"micro, only {layer}", lambda p: [service], lambda p, l=layer: micro_env(p, [l])))
    return out


def get(port, path="/hello", timeout=2.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.status


def wait_ready(port, deadline=10.0):
    end = time.perf_counter() + deadline
    while time.perf_counter() < end:
        try:
            if get(port, timeout=0.5) == 200:
                return time.perf_counter()
        except OSError:
            time.sleep(0.0005)
    raise SystemExit(f"no 200 on port {port} within {deadline}s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def parse_latency(text, label):
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def load(variant, seconds, probe=None):
    """One run of `variant` under wrk; `probe(port)`, when given, is called
    after the run, before the server is killed, and what it returns is added."""
    port = free_port()
    server = variant.start(port)
    try:
        wait_ready(port)
        subprocess.run(["taskset", "-c", "1", "wrk", "-t2", "-c64", "-d1s", f"http://127.0.0.1:{port}/hello"],
                       capture_output=True, check=True)  # warm-up
        before = cpu_seconds(server.pid)
        run = subprocess.run(["taskset", "-c", "1", "wrk", "-t2", "-c64", f"-d{seconds}s", "--latency",
                              f"http://127.0.0.1:{port}/hello"], capture_output=True, text=True, check=True)
        after = cpu_seconds(server.pid)
        extra = probe(port) if probe else {}
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    text = run.stdout
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if errors or "Socket errors" in text:
        print(f"  warning: {variant.name}: {text.strip().splitlines()[-3:]}", file=sys.stderr)
    return {
        "cpu_us": (after - before) / requests * 1e6,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50_ms": parse_latency(text, "50"),
        "p99_ms": parse_latency(text, "99"),
        **extra,
    }


def lifecycle(variants, repeats):
    """Starts and stops each variant `repeats` times, alternating between
    them (so a slow moment of the machine hits both): exec → first 200,
    SIGTERM → exit, idle RSS, each the median; and the median of the
    start ratios paired by repeat, each variant ÷ the first."""
    runs = {v.name: {"starts": [], "stops": [], "rss": []} for v in variants}
    for _ in range(repeats):
        for variant in variants:
            run = runs[variant.name]
            port = free_port()
            began = time.perf_counter()
            server = variant.start(port, cpu="0,1")
            ready = wait_ready(port)
            run["starts"].append((ready - began) * 1e3)
            time.sleep(0.2)
            run["rss"].append(rss_kib(server.pid) / 1024)
            # Idle: no request for longer than micro's quiet period (1s), so
            # its pre-drain ends at once, as for any idle service.
            time.sleep(1.0)
            began = time.perf_counter()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            run["stops"].append((time.perf_counter() - began) * 1e3)
    base = runs[variants[0].name]["starts"]
    return {name: {"start_ms": statistics.median(run["starts"]), "stop_ms": statistics.median(run["stops"]),
                   "stop_max_ms": max(run["stops"]), "rss_mib": statistics.median(run["rss"]),
                   "start_ratio": statistics.median(m / b for m, b in zip(run["starts"], base))}
            for name, run in runs.items()}


def stop_in_flight(variant, requests=16, sleep_ms=300):
    """SIGTERM with `requests` requests of /sleep/{sleep_ms} in flight: how
    long the exit takes and how many of them were answered 200."""
    port = free_port()
    server = variant.start(port, cpu="0,1")
    wait_ready(port)
    answered = []

    def call():
        try:
            answered.append(get(port, f"/sleep/{sleep_ms}", timeout=10))
        except OSError as err:
            answered.append(str(err))

    threads = [threading.Thread(target=call) for _ in range(requests)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    began = time.perf_counter()
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    took = (time.perf_counter() - began) * 1e3
    for thread in threads:
        thread.join()
    return {"stop_ms": took, "ok": sum(1 for a in answered if a == 200), "of": requests}


def instructions(variant, requests, out_dir):
    """Instructions the server executes per sequential keep-alive GET /hello,
    by valgrind's callgrind: the same count on every run, whatever else the
    machine does. Counters are zeroed after start and 200 warm-up requests
    and dumped after `requests` more, so startup (whose clock calibration
    spins for a time, not a count) and shutdown are not in the figure."""
    port = free_port()
    out = os.path.join(out_dir, f"callgrind.{port}")
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + variant.command(port)
    env = variant.env(port) if variant.env else {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, deadline=60.0)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for counted in (False, True):
            if counted:
                subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True, capture_output=True)
            for _ in range(requests if counted else 200):
                connection.request("GET", "/hello")
                connection.getresponse().read()
        subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True, capture_output=True)
        connection.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    dump = out + ".1"
    with open(dump) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
    for path in (out, dump):
        os.remove(path)
    return total / requests


def interval(values):
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, t95(len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5


def lifecycle_rows(variants_, repeats):
    """The lifecycle table's lines for bare axum and micro's defaults."""
    bare_v, micro_v = variants_[0], variants_[3]
    life = lifecycle([bare_v, micro_v], repeats)
    flight = {"bare axum": stop_in_flight(bare_v), "micro, production defaults": stop_in_flight(micro_v)}
    lines = [f"Lifecycle, median of {repeats} starts each:", "",
             "| | exec → first 200 | SIGTERM → exit, idle (max) | idle RSS | SIGTERM → exit, 16 × /sleep/300 in flight | answered 200 |",
             "|---|---|---|---|---|---|"]
    for name in life:
        l, f = life[name], flight[name]
        lines.append(f"| {name} | {l['start_ms']:.1f} ms | {l['stop_ms']:.1f} ms ({l['stop_max_ms']:.1f}) "
                     f"| {l['rss_mib']:.1f} MiB | {f['stop_ms']:.0f} ms | {f['ok']}/{f['of']} |")
    lm, lb = life["micro, production defaults"], life["bare axum"]
    lines += ["", f"Ratios micro ÷ bare: exec → ready {lm['start_ratio']:.2f}× (median of ratios paired by start), "
              f"idle RSS {lm['rss_mib'] / lb['rss_mib']:.2f}×."]
    return lines


def print_instructions(variants_, names, requests, out_dir):
    """Instructions per request of the variants named (or all), one line
    each, as they are counted."""
    known = {v.name: v for v in variants_ if v.name != "bare axum (control)"}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {list(known)}")
    os.makedirs(out_dir, exist_ok=True)
    for name in names or known:
        print(f"{name}: {instructions(known[name], requests, out_dir):.0f}", flush=True)


def print_lifecycle(variants_, repeats):
    print("\n".join(lifecycle_rows(variants_, repeats)))


def ci(pair, fmt="{:.3f}"):
    mean, half = pair
    return f"{fmt.format(mean)} ± {fmt.format(half)}"


def load_table(variants_, rounds, seconds):
    """Runs every variant under wrk for `rounds` rounds, alternating the
    order: the runs by variant, the rows of the table, and its lines."""
    runs = {v.name: [] for v in variants_}
    for round_ in range(rounds):
        order = variants_ if round_ % 2 == 0 else list(reversed(variants_))
        for variant in order:
            runs[variant.name].append(load(variant, seconds))
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)
    bare = runs["bare axum"]
    rows = []
    for name, results in runs.items():
        row = {"name": name}
        for metric in ("cpu_us", "rps", "p50_ms", "p99_ms"):
            row[metric] = statistics.median(r[metric] for r in results)
            row[metric + "_ratio"] = interval([r[metric] / b[metric] for r, b in zip(results, bare)])
        row["cpu_added"] = interval([r["cpu_us"] - b["cpu_us"] for r, b in zip(results, bare)])
        rows.append(row)
    lines = [
        f"{rounds} rounds × {seconds} s of `wrk -t2 -c64 --latency /hello` per variant, alternating; "
        f"server on CPU 0, wrk on CPU 1; ratios ÷ bare axum paired per round, mean ± 95% CI.",
        "",
        "| variant | CPU/request | ÷ bare | + µs vs bare | req/s | ÷ bare | p50 | p99 | p99 ÷ bare |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['cpu_us']:.2f} µs | {ci(r['cpu_us_ratio'])} | {ci(r['cpu_added'], '{:+.2f}')} "
            f"| {r['rps']:.0f} | {ci(r['rps_ratio'])} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms "
            f"| {ci(r['p99_ms_ratio'])} |")
    return runs, rows, lines


def print_load(variants_, names, rounds, seconds):
    """The load table alone, for bare axum, its control and the variants
    named (micro's production defaults and every optional layer off when
    none are)."""
    names = names or ["micro, production defaults", "micro, optional layers off"]
    known = {v.name for v in variants_}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {sorted(known)}")
    chosen = [v for v in variants_ if v.name in ("bare axum", "bare axum (control)") or v.name in names]
    print("\n".join(load_table(chosen, rounds, seconds)[2]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default="target/bench")
    parser.add_argument("--instructions", type=int, default=4000,
                        help="requests per variant under callgrind (0: skip)")
    parser.add_argument("--lifecycle-only", action="store_true",
                        help="only start, stop and memory, no load")
    parser.add_argument("--overload-only", action="store_true",
                        help="only the overload scenarios")
    parser.add_argument("--load-only", nargs="*", metavar="VARIANT",
                        help="only the load table, for bare axum and the variants named "
                             "(micro's production defaults and every layer off when none)")
    parser.add_argument("--instructions-only", nargs="*", metavar="VARIANT",
                        help="only callgrind's count, for the variants named (all when none); builds nothing")
    args = parser.parse_args()
    if args.instructions_only is not None:
        return print_instructions(variants(args.target), args.instructions_only, args.instructions or 4000, args.out)
    if args.lifecycle_only:
        return print_lifecycle(variants(args.target), args.repeats)
    if args.overload_only:
        return print("\n".join(overload_rows(args.target, args.seconds, args.rounds)))
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found (scripts/bench.sh installs it)")
    os.makedirs(args.out, exist_ok=True)
    all_variants = variants(args.target)
    if args.load_only is not None:
        return print_load(all_variants, args.load_only, args.rounds, args.seconds)
    runs, rows, lines = load_table(all_variants, args.rounds, args.seconds)
    off = runs["micro, optional layers off"]
    layer_cost = {layer: interval([r["cpu_us"] - o["cpu_us"] for r, o in zip(runs[f"micro, only {layer}"], off)])
                  for layer in OPTIONAL}
    hand = runs["bare axum + layers by hand"]
    micro_vs_hand = interval([m["cpu_us"] / h["cpu_us"] for m, h in zip(runs["micro, production defaults"], hand)])

    lines += ["", "Each optional layer alone, CPU per request over micro with every optional layer off:", "",
              "| layer | + µs per request |", "|---|---|"]
    lines += [f"| {layer} | {ci(cost, '{:+.2f}')} |" for layer, cost in layer_cost.items()]
    lines += ["", f"micro production defaults ÷ the same layers by hand on bare axum (CPU/request): {ci(micro_vs_hand)}", ""]
    lines += lifecycle_rows(all_variants, args.repeats)
    lines += [""] + overload_rows(args.target, args.seconds, args.rounds)
    if args.instructions and shutil.which("valgrind"):
        counted = {v.name: instructions(v, args.instructions, args.out)
                   for v in all_variants if v.name != "bare axum (control)"}
        base, off_count = counted["bare axum"], counted["micro, optional layers off"]
        lines += ["", f"Instructions per request (valgrind --tool=callgrind, counters zeroed after 200 warm-up "
                  f"requests, then {args.instructions} sequential keep-alive requests; user space only, "
                  "independent of the machine's load):", "",
                  "| variant | instructions/request | ÷ bare | + over micro with optional layers off |", "|---|---|---|---|"]
        for name, count in counted.items():
            extra = f"{count - off_count:+.0f}" if name.startswith("micro, only") or name == "micro, production defaults" else ""
            lines.append(f"| {name} | {count:.0f} | {count / base:.3f} | {extra} |")
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"runs": runs}, f, indent=1)
    chart(rows, layer_cost, os.path.join(args.out, "bench.png"))


OVERLOAD_LIMIT = 64
OVERLOAD_CONNECTIONS = 4 * OVERLOAD_LIMIT


def overload_run(variant, probe, path, connections, seconds, tool, retry_ms):
    """One closed-loop run of `tool` (bench/src/bin/overload.rs) against a
    fresh server: its JSON, with the server's peak RSS."""
    port = free_port()
    server = variant.start(port)
    try:
        wait_ready(port)
        run = subprocess.run(["taskset", "-c", "1", tool, f"127.0.0.1:{port}", path, str(connections),
                              str(seconds), probe, str(retry_ms)], capture_output=True, text=True, check=True)
        with open(f"/proc/{server.pid}/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    result = json.loads(run.stdout)
    result["peak_rss_mib"] = peak / 1024
    return result


def overload_rows(target, seconds, rounds):
    """`/sleep/50` and `/pool/50` (64 permits) offered by 4 × 64 closed-loop
    connections, bare axum against micro with `max_in_flight: 64`; each
    also unloaded (16 connections) for its p99. Median over rounds (min–max)."""
    tool = os.path.join(target, "overload")
    bare = os.path.join(target, "bare")
    service = os.path.join(target, "service")

    def limited(port):
        env = micro_env(port, OPTIONAL)
        env["MICRO__SITE__HTTP__MAX_IN_FLIGHT"] = str(OVERLOAD_LIMIT)
        return env

    micro = Variant(f"micro, max_in_flight {OVERLOAD_LIMIT}", lambda p: [service], limited)
    # (variant, probe path, pause before a refused request is sent again)
    contenders = [
        (Variant("bare axum", lambda p: [bare, "--port", str(p)]), "/hello", 10),
        (micro, "/health/live", 10),
        (micro, "/health/live", 0),
    ]
    lines = [f"Overload: {OVERLOAD_CONNECTIONS} closed-loop keep-alive connections, each sending again once "
             f"answered (a refused request after 10 ms, or at once), {seconds} s per run, {rounds} rounds; "
             "unloaded: 16 connections. Server on CPU 0, load on CPU 1. Median (min–max) over rounds.", "",
             "| path | variant | answered 200/s | p99 of 200 | ÷ unloaded p99 | refused 503/s | p99 of 503 "
             "| probe max (every 10 ms) | peak RSS | errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def spread(values, fmt):
        values = [v for v in values if v == v]
        if not values:
            return "–"
        return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"

    for path in ("/sleep/50", "/pool/50"):
        for variant, probe, retry_ms in contenders:
            runs = []
            for _ in range(rounds):
                quiet = overload_run(variant, probe, path, 16, seconds, tool, retry_ms)
                loaded = overload_run(variant, probe, path, OVERLOAD_CONNECTIONS, seconds, tool, retry_ms)
                runs.append((quiet, loaded))
            ok = [loaded["statuses"].get("200", {}) for _, loaded in runs]
            shed = [loaded["statuses"].get("503", {}) for _, loaded in runs]
            ratio = [o.get("p99_ms", float("nan")) / quiet["statuses"]["200"]["p99_ms"]
                     for o, (quiet, _) in zip(ok, runs)]
            lines.append(
                f"| `{path}` | {variant.name}, refused sent again {'at once' if retry_ms == 0 else f'after {retry_ms} ms'} | {spread([o.get('per_second', 0) for o in ok], '{:.0f}')} "
                f"| {spread([o.get('p99_ms', float('nan')) for o in ok], '{:.1f}')} ms "
                f"| {spread(ratio, '{:.2f}')} "
                f"| {spread([s_.get('per_second', 0) for s_ in shed], '{:.0f}')} "
                f"| {spread([s_.get('p99_ms', float('nan')) for s_ in shed], '{:.2f}')} ms "
                f"| {spread([loaded['probe']['max_ms'] for _, loaded in runs], '{:.1f}')} ms "
                f"| {spread([loaded['peak_rss_mib'] for _, loaded in runs], '{:.1f}')} MiB "
                f"| {sum(loaded['errors'] + loaded['probe_errors'] for _, loaded in runs)} |")
            print(f"overload {path} {variant.name} (retry {retry_ms} ms) done", file=sys.stderr)
    # The floor: bare axum refusing every request at once (`/busy`), under
    # the same connections and the same client, with nothing admitted.
    floor = Variant("bare axum", lambda p: [bare, "--port", str(p)])
    for retry_ms in (10, 0):
        runs = [overload_run(floor, "/hello", "/busy", OVERLOAD_CONNECTIONS, seconds, tool, retry_ms)
                for _ in range(rounds)]
        shed = [run["statuses"].get("503", {}) for run in runs]
        lines.append(
            f"| `/busy` | bare axum answering every request 503 at once (the floor), sent again "
            f"{'at once' if retry_ms == 0 else f'after {retry_ms} ms'} | – | – | – "
            f"| {spread([s_.get('per_second', 0) for s_ in shed], '{:.0f}')} "
            f"| {spread([s_.get('p99_ms', float('nan')) for s_ in shed], '{:.2f}')} ms "
            f"| {spread([run['probe']['max_ms'] for run in runs], '{:.1f}')} ms "
            f"| {spread([run['peak_rss_mib'] for run in runs], '{:.1f}')} MiB "
            f"| {sum(run['errors'] + run['probe_errors'] for run in runs)} |")
        print(f"overload /busy bare axum (retry {retry_ms} ms) done", file=sys.stderr)
    capacity = OVERLOAD_LIMIT * 1000 / 50
    lines += ["", f"The limit's capacity on `/pool/50` (and micro's on `/sleep/50`): {OVERLOAD_LIMIT} in flight "
              f"÷ 50 ms = {capacity:.0f} answers/s."]
    return lines


def chart(rows, layer_cost, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart (scripts/bench.sh installs it)", file=sys.stderr)
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    names = [r["name"] for r in rows]
    values = [r["cpu_us"] for r in rows]
    colors = ["#888888" if n.startswith("bare") else "#2a6fb0" for n in names]
    left.barh(names, values, color=colors)
    left.invert_yaxis()
    left.set_xlabel("server CPU µs per request (median of rounds)")
    left.set_title("GET /hello under wrk -t2 -c64")
    for y, v in enumerate(values):
        left.text(v, y, f" {v:.1f}", va="center", fontsize=8)
    layers = list(layer_cost)
    means = [layer_cost[l][0] for l in layers]
    halves = [layer_cost[l][1] for l in layers]
    right.barh(layers, means, xerr=halves, color="#2a6fb0")
    right.invert_yaxis()
    right.axvline(0, color="black", linewidth=0.5)
    right.set_xlabel("+ µs per request, one layer on (95% CI)")
    right.set_title("each optional layer alone")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"chart: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
