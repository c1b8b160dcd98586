#!/usr/bin/env python3
"""Config propagation across a fleet: N demo instances watch one etcd prefix;
each round puts a new greeting and measures, for every instance, the time
from the put to the instance serving it (the instance's own log line
"config reloaded", stamped when the new snapshot is in force). At the end
every instance must be on the same generation and answer the last greeting.

Usage: scripts/fleet.py BINARY N [--rounds R]  (scripts/fleet.sh builds and runs it)
"""

import argparse
import base64
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

PREFIX = "/micro/fleet/"
KEY = PREFIX + "demo"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def put(client_url, key, value):
    """A put through etcd's JSON gateway: no process start in the measurement."""
    body = json.dumps({
        "key": base64.b64encode(key.encode()).decode(),
        "value": base64.b64encode(value.encode()).decode(),
    }).encode()
    request = urllib.request.Request(client_url + "/v3/kv/put", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def wait_for(what, probe, deadline=30.0):
    end = time.time() + deadline
    while time.time() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    sys.exit(f"gave up waiting for {what} after {deadline}s")


class Instance:
    def __init__(self, binary, endpoint, index):
        self.lines = []
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            [binary, "--production", "--port", "0", "--etcd", endpoint, "--etcd-prefix", PREFIX],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("MICRO__") and k not in ("RUST_LOG", "PORT")},
        )
        self.index = index
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.process.stderr:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            with self.lock:
                self.lines.append(event)

    def find(self, needle, after=0):
        with self.lock:
            for event in self.lines[after:]:
                if needle in event.get("message", ""):
                    return event
        return None

    def count(self):
        with self.lock:
            return len(self.lines)

    def address(self):
        event = self.find("listening on ")
        return event and event["message"].rsplit("listening on ", 1)[1].split()[0]

    def get(self, path):
        with urllib.request.urlopen(f"http://{self.address()}{path}", timeout=5) as response:
            return response.read().decode()


def stamp(event):
    ts = event["timestamp"].rstrip("Z")
    whole, _, fraction = ts.partition(".")
    parsed = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp() + float("0." + (fraction or "0"))


def percentile(values, p):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("n", type=int)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if not shutil.which("etcd"):
        sys.exit("etcd not found: apt-get install etcd-server")

    data = tempfile.mkdtemp(prefix="fleet-etcd-")
    client, peer = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{client}"
    etcd = subprocess.Popen(
        ["etcd", "--data-dir", data, "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    instances = []
    try:
        def etcd_up():
            try:
                put(endpoint, KEY, "greeting: round 0")
                return True
            except OSError:
                return False
        wait_for("etcd", etcd_up)
        instances = [Instance(args.binary, endpoint, i) for i in range(args.n)]
        for instance in instances:
            wait_for(f"instance {instance.index} to watch", lambda i=instance: i.find("etcd watch on"))
        latencies = []
        for round_ in range(1, args.rounds + 1):
            marks = [i.count() for i in instances]
            greeting = f"round {round_}"
            started = time.time()
            put(endpoint, KEY, f"greeting: {greeting}")
            for instance, mark in zip(instances, marks):
                event = wait_for(f"instance {instance.index} to reload round {round_}",
                                 lambda i=instance, m=mark: i.find("config reloaded", m))
                latencies.append((stamp(event) - started) * 1e3)
            time.sleep(0.1)
        final = f"round {args.rounds}"
        hellos = {i.get("/hello") for i in instances}
        generations = {json.loads(i.get("/version"))["config_generation"] for i in instances}
        converged = hellos == {final} and len(generations) == 1
        print(f"instances: {args.n}, rounds: {args.rounds}, samples: {len(latencies)}")
        print(f"put -> serving: p50 {statistics.median(latencies):.1f} ms, "
              f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms")
        print(f"converged: {'yes' if converged else 'NO'} "
              f"(every instance answers {sorted(hellos)}, generations {sorted(generations)})")
        sys.exit(0 if converged else 1)
    finally:
        for instance in instances:
            instance.process.terminate()
        for instance in instances:
            try:
                instance.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                instance.process.kill()
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
