#!/usr/bin/env python3
"""One client drips a chunked body into `mlrepo serve`; how slow does /ping get for others?

usage: bench/serve_drip.py PORT   (start the server with --workers 1 so both share a loop:
       mlrepo serve MODEL --port 0 --log /dev/null --workers 1)

The dripping client sends a 16 MB chunked text/csv body in 16 KiB chunks, then a one-byte
chunk every millisecond; meanwhile a second client sends GET /ping on a kept-alive connection
every 5 ms, 200 times, and this prints its p50/p99/max. A server that re-decodes the chunked
body from its start on every read spends each millisecond copying 16 MB (issue 13, found
while fixing #2); one that resumes where it stopped answers /ping as if alone.
"""
import socket, sys, threading, time

port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n")
piece = b"5.1,3.5,1.4,0.2\n" * 1024
for _ in range(1000):
    s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
stop = [False]


def drip():
    while not stop[0]:
        s.send(b"1\r\n\n\r\n")
        time.sleep(0.001)


t = threading.Thread(target=drip)
t.start()
time.sleep(0.5)
c = socket.create_connection(("127.0.0.1", port))
lat = []
for _ in range(200):
    t0 = time.perf_counter()
    c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    c.recv(4096)
    lat.append(time.perf_counter() - t0)
    time.sleep(0.005)
stop[0] = True
t.join()
lat.sort()
print("GET /ping while another client drips a chunked body: p50 %.2f ms, p99 %.2f ms, max %.1f ms"
      % (lat[100] * 1e3, lat[197] * 1e3, lat[-1] * 1e3))
