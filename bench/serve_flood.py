#!/usr/bin/env python3
"""Connection-flood driver for bench/serve_flood.sh (issue 13 #3).

attacker: holds --idle connections that never send a byte and --slow connections that send a
request head one byte per --slow-interval seconds (slowloris), from 127.0.0.1. A connection the
server closes is opened again at once (an attacker keeps the pressure on), so "2,000 open" means
2,000 the attacker tries to hold. Writes its counters as JSON to --stats when it ends.

client: a well-behaved client that waits until the attacker holds its connections, then sends
--requests POST /invocations (one row), alternating a kept-alive connection and a fresh one,
with --pause seconds between requests, and prints latency percentiles and status counts.
"""
import argparse, json, os, selectors, signal, socket, sys, time

BODY = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
REQUEST = (b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY
SLOW_HEAD = b"GET /ping HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 100000


def attacker(a):
    sel = selectors.DefaultSelector()
    conns = {}  # sock -> [kind, bytes sent]
    stats = {"opened": 0, "closed_by_server": 0, "connect_errors": 0, "answered_503": 0, "answered_408": 0}

    def open_one(kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect_ex(("127.0.0.1", a.port))
        except OSError:
            stats["connect_errors"] += 1
            s.close()
            return
        conns[s] = [kind, 0]
        sel.register(s, selectors.EVENT_READ)
        stats["opened"] += 1

    for i in range(a.idle):
        open_one("idle")
    for i in range(a.slow):
        open_one("slow")
    ready_written = False
    stop = time.monotonic() + a.duration
    next_trickle = time.monotonic()
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    while running[0] and time.monotonic() < stop:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 503"):
                stats["answered_503"] += 1
            elif data.startswith(b"HTTP/1.1 408"):
                stats["answered_408"] += 1
            if not data or data.startswith(b"HTTP/"):
                kind = conns.pop(s)[0]
                sel.unregister(s)
                s.close()
                stats["closed_by_server"] += 1
                if a.reconnect:
                    open_one(kind)
        now = time.monotonic()
        if now >= next_trickle:
            next_trickle = now + a.slow_interval
            for s, st in list(conns.items()):
                if st[0] == "slow" and st[1] < len(SLOW_HEAD):
                    try:
                        s.send(SLOW_HEAD[st[1]:st[1] + 1])
                        st[1] += 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        pass  # the read side notices the close
        if not ready_written and stats["opened"] >= a.idle + a.slow:
            with open(a.ready, "w") as f:
                f.write(str(len(conns)))
            ready_written = True
    stats["held_at_end"] = len(conns)
    with open(a.stats, "w") as f:
        json.dump(stats, f)


def client(a):
    deadline = time.monotonic() + 60
    while not os.path.exists(a.ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    if a.settle:
        time.sleep(a.settle)  # let the attacker's connections reach the server's loops

    def connect():
        s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def read_reply(s):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return status

    lat = {"keep-alive": [], "new connection": []}
    statuses = {}
    keep = None
    for i in range(a.requests):
        mode = "keep-alive" if i % 2 == 0 else "new connection"
        t0 = time.perf_counter()
        try:
            if mode == "keep-alive":
                if keep is None:
                    keep = connect()
                keep.sendall(REQUEST)
                st = read_reply(keep)
                if st is None:
                    keep.close(); keep = None
            else:
                s = connect()
                s.sendall(REQUEST)
                st = read_reply(s)
                s.close()
        except OSError as e:
            st = "error: " + type(e).__name__
            if mode == "keep-alive" and keep is not None:
                keep.close(); keep = None
        dt = time.perf_counter() - t0
        lat[mode].append(dt)
        statuses[str(st)] = statuses.get(str(st), 0) + 1
        if a.pause:
            time.sleep(a.pause)

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, max(0, int(len(v) * p + 0.999999) - 1))] * 1000

    allv = lat["keep-alive"] + lat["new connection"]
    out = {"requests": a.requests, "statuses": statuses, "503": statuses.get("503", 0),
           "p50_ms": pct(allv, 0.5), "p99_ms": pct(allv, 0.99), "max_ms": max(allv) * 1000}
    for k, v in lat.items():
        out[k] = {"p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99), "max_ms": max(v) * 1000}
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["attacker", "client"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--slow", type=int, default=1000)
    p.add_argument("--slow-interval", type=float, default=1.0)
    p.add_argument("--no-reconnect", dest="reconnect", action="store_false")
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--pause", type=float, default=0.002)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--ready", required=True)
    p.add_argument("--stats", default="/dev/null")
    a = p.parse_args()
    attacker(a) if a.role == "attacker" else client(a)


if __name__ == "__main__":
    main()
