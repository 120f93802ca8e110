"""Slowloris: thousands of connections that trickle a request must not starve normal clients.

Goal: 2,000 connections from this process each send one byte of a never-ending request
header per second for about 12 s, while a normal client keeps making requests (some on new
connections). Every normal request must succeed, 99% of them within a second, because a
trickling connection costs the server a suspended coroutine, never a thread. The server's
header deadline (10 s from the first byte, however the bytes trickle) must then cut every
trickler off with 408 or a close, and /metrics must show the open connections back near 0.

The server is started with a per-address cap above 2,000, since every connection here comes
from 127.0.0.1. Runs in about 25 s.
"""

import multiprocessing
import re
import resource
import selectors
import socket
import time

from bbutil import HOST, Client

TRICKLERS = 2000
TRICKLE_S = 12.0
HEADER_DEADLINE_S = 10.0
LATENCY_P99_MAX_S = 1.0
# A request header that never ends, one byte a second.
TRICKLE = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 64


def raise_descriptor_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= needed, f"RLIMIT_NOFILE {soft} < {needed}: raise `ulimit -n`"


def open_connections(port):
    text = Client(port, timeout=10).get("/metrics").body.decode()
    m = re.search(r"^bookd_open_connections (\d+)$", text, re.M)
    assert m, "bookd_open_connections missing from /metrics"
    return int(m.group(1))


def normal_client(port, key, stop, out):
    """Requests /healthz and an authenticated listing in turn until `stop` is set, and sends
    (latencies, failures) to `out`. Every fifth request goes on a new connection, so that
    accepting is measured too. Runs in a process of its own, so that the trickling loop
    in this one does not delay it."""
    client = Client(port, key, timeout=10.0)
    latencies, failures = [], []
    n = 0
    while not stop.is_set() and n < 100000:
        n += 1
        if n % 5 == 0:
            client.close()
        path = "/healthz" if n % 2 else "/v1/resources?limit=1"
        started = time.monotonic()
        try:
            r = client.get(path)
            if r.status != 200:
                failures.append(f"{path}: {r!r}")
        except OSError as e:
            failures.append(f"{path}: {e!r}")
            client.close()
        latencies.append(time.monotonic() - started)
        time.sleep(0.02)
    client.close()
    out.send((latencies, failures))


def test_trickling_connections_do_not_starve_normal_clients(server_factory):
    raise_descriptor_limit(TRICKLERS + 256)
    srv = server_factory(extra_args=["--connections-per-address", str(TRICKLERS + 1000)])

    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    results, results_in = ctx.Pipe(duplex=False)
    normal = ctx.Process(target=normal_client, args=(srv.port, srv.admin_key, stop, results_in),
                         daemon=True)
    normal.start()
    socks = []
    try:
        for _ in range(TRICKLERS):
            s = socket.create_connection((HOST, srv.port), timeout=10)
            s.setblocking(False)
            socks.append(s)
        assert open_connections(srv.port) >= TRICKLERS, "the server did not accept every trickler"

        # One byte per connection per second. A send fails once the server has given up
        # on that connection: it is then left alone.
        alive = {s: 0 for s in socks}
        started = time.monotonic()
        rounds = 0
        while time.monotonic() - started < TRICKLE_S and rounds < 100:
            rounds += 1
            for s in list(alive):
                try:
                    s.send(TRICKLE[alive[s]:alive[s] + 1])
                    alive[s] += 1
                except OSError:
                    del alive[s]
            time.sleep(max(0.0, started + rounds - time.monotonic()))
        trickle_elapsed = time.monotonic() - started
    finally:
        stop.set()
        latencies, failures = results.recv() if results.poll(30) else ([], ["no results"])
        normal.join(10)

    # Every trickler is answered 408 and closed, or just closed, once its header deadline
    # (plus the server's short farewell) has passed.
    answered_408 = closed = 0
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        pending[s] = b""
    deadline = time.monotonic() + HEADER_DEADLINE_S
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                pending[s] += data
                continue
            if pending[s].startswith(b"HTTP/1.1 408"):
                answered_408 += 1
            else:
                assert pending[s] == b"", f"a trickler got {pending[s][:200]!r}"
                closed += 1
            sel.unregister(s)
            del pending[s]
    sel.close()
    for s in socks:
        s.close()

    assert not pending, f"{len(pending)} trickling connections still open after the deadline"
    assert answered_408 + closed == TRICKLERS
    assert answered_408 > 0, "no trickler was answered 408"

    assert not failures, f"normal requests failed: {failures[:5]}"
    lat = sorted(latencies)
    assert len(lat) >= 50, f"only {len(lat)} normal requests in {trickle_elapsed:.1f} s"
    p99 = lat[int(len(lat) * 0.99) - 1]
    print(f"tricklers={TRICKLERS} answered_408={answered_408} closed={closed} "
          f"normal_requests={len(lat)} p50={lat[len(lat) // 2]:.4f}s p99={p99:.4f}s "
          f"max={lat[-1]:.4f}s")
    assert p99 <= LATENCY_P99_MAX_S, f"normal p99 {p99:.3f} s (max {lat[-1]:.3f} s)"

    deadline = time.monotonic() + 5
    while open_connections(srv.port) > 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert open_connections(srv.port) <= 5
