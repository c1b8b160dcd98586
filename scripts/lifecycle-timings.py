#!/usr/bin/env python3
# Times the demo binary from outside: exec -> first 200 on /healthcheck,
# SIGTERM -> exit (idle), and idle RSS, over 30 runs.
# Usage: cargo build --release && scripts/lifecycle-timings.py target/release/micro
import subprocess, time, socket, statistics, signal, os, re, sys
BIN = sys.argv[1]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
ready, stop, rss = [], [], []
for i in range(30):
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "--port", str(port)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    while True:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=1)
            c.sendall(b"GET /healthcheck HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            data = c.recv(100); c.close()
            if data.startswith(b"HTTP/1.1 200"): break
        except OSError:
            pass
        if time.perf_counter() - t0 > 10: raise SystemExit("not ready in 10s")
        time.sleep(0.0005)
    ready.append((time.perf_counter() - t0) * 1e3)
    with open(f"/proc/{p.pid}/status") as f:
        rss.append(int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)))
    t1 = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=10)
    stop.append((time.perf_counter() - t1) * 1e3)
    assert rc == 0, rc
q = lambda xs: f"median {statistics.median(xs):.1f}, max {max(xs):.1f}"
print(f"exec -> first 200 on /healthcheck (ms): {q(ready)}")
print(f"SIGTERM -> exit, idle (ms): {q(stop)}")
print(f"idle RSS after start (KiB): median {statistics.median(rss):.0f}")
