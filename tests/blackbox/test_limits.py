"""Abuse limits of a running bookd: the per-address connection cap and the per-key rate limit.

Each test starts its own server with small limits, so that a few connections or requests
reach them, and checks both the client's view (a closed connection, a 429 problem with
Retry-After) and the counters in /metrics. Also how a connection that must close ends: with
the answer and a clean end of stream, never a reset.
"""

import re
import socket
import time

from bbutil import HOST, Client, assert_problem, raw_exchange


def metric(port, name, labels=""):
    text = Client(port, timeout=10).get("/metrics").body.decode()
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert m, f"{name}{labels} missing from /metrics"
    return float(m.group(1))


def closed_without_answer(sock, timeout=5.0):
    """True when the server closes `sock` (EOF or reset) without sending a byte."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_connections_over_the_per_address_cap_are_closed(server_factory):
    srv = server_factory(extra_args=["--connections-per-address", "4"])
    refused_before = metric(srv.port, "bookd_connections_refused_total", '{reason="per_address"}')
    # The metrics request's own connection counts against the cap until the
    # server has seen it close; a slow (sanitized) server may not have yet.
    time.sleep(1.0)
    held = [socket.create_connection((HOST, srv.port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)  # the server has accepted all four
        extra = socket.create_connection((HOST, srv.port), timeout=5)
        assert closed_without_answer(extra), "a fifth connection from one address was served"
        extra.close()
    finally:
        for s in held:
            s.close()

    # The held connections are gone, so /metrics (a connection of its own) gets through.
    deadline = time.monotonic() + 5
    while True:
        try:
            refused = metric(srv.port, "bookd_connections_refused_total", '{reason="per_address"}')
            break
        except (ConnectionError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert refused >= refused_before + 1
    assert Client(srv.port).get("/healthz").status == 200


def test_a_key_over_its_rate_gets_429_with_retry_after(server_factory):
    # One token every ten seconds after a burst of three: nothing refills during the test.
    srv = server_factory(extra_args=["--rate-limit", "0.1", "--rate-burst", "3"])
    admin, booker = srv.admin(), srv.booker()
    limited_before = metric(srv.port, "bookd_rate_limited_total")

    for i in range(3):
        r = admin.get("/v1/resources")
        assert r.status == 200, f"request {i} within the burst: {r!r}"
    r = admin.get("/v1/resources")
    assert_problem(r, 429, "too_many_requests")
    retry_after = int(r.header("Retry-After"))
    assert 1 <= retry_after <= 10, r.header("Retry-After")

    # Other keys have their own bucket; public routes need no key and are not limited.
    assert booker.get("/v1/resources").status == 200
    for _ in range(5):
        assert Client(srv.port).get("/healthz").status == 200
    assert metric(srv.port, "bookd_rate_limited_total") == limited_before + 1


def test_rate_limit_is_off_by_default(server):
    admin = server.admin()
    for _ in range(100):
        assert admin.get("/v1/resources?limit=1").status == 200


def test_answers_made_by_the_http_layer_are_counted(server_factory):
    """400, 413 and 431 come from the HTTP layer before any route: /metrics counts them too,
    under route "unmatched" (method "-" when the request line did not parse), and a method HTTP does
    not know is one label, not one per name."""
    srv = server_factory()

    def requests(method, status):
        try:
            return metric(srv.port, "bookd_http_requests_total",
                          f'{{method="{method}",route="unmatched",status="{status}"}}')
        except AssertionError:  # not answered yet: no line
            return 0.0

    before = {k: requests(*k) for k in [("-", 400), ("GET", 431), ("POST", 413),
                                         ("OTHER", 404)]}
    assert raw_exchange(srv.port, b"GARBAGE\r\n\r\n").status == 400
    big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (17 * 1024) + b"\r\n\r\n"
    assert raw_exchange(srv.port, big_header).status == 431
    big_body = b"POST /v1/resources HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"
    assert raw_exchange(srv.port, big_body).status == 413
    for name in ("FROB", "FRAB"):
        r = raw_exchange(srv.port, f"{name} /nowhere HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert r.status == 404, r
    assert requests("-", 400) == before[("-", 400)] + 1
    assert requests("GET", 431) == before[("GET", 431)] + 1
    assert requests("POST", 413) == before[("POST", 413)] + 1
    assert requests("OTHER", 404) == before[("OTHER", 404)] + 2
    text = Client(srv.port, timeout=10).get("/metrics").body.decode()
    assert 'method="FROB"' not in text and 'method="FRAB"' not in text


def test_connection_close_with_unread_input_ends_cleanly(server):
    """A client that asks to close but has already sent more (here a pipelined request with a
    large body) must still read its answer and a clean end of stream: closing with unread input
    makes the kernel reset the connection, which loses or garbles the answer (RFC 9112, 9.6)."""
    body = b"x" * 200_000
    sock = socket.create_connection((HOST, server.port), timeout=10)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     b"POST /v1/bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.5)  # the server answers and closes before this client reads anything
        data = b""
        while True:
            chunk = sock.recv(65536)  # a reset raises ConnectionResetError here
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert data.count(b"HTTP/1.1 ") == 1, "the request after Connection: close was answered"
