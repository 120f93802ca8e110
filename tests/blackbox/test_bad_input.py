"""Hostile and malformed requests: each gets the right problem answer, the server keeps
serving, and the data is unchanged.

Each case is sent over a fresh raw socket (so the server cannot lean on a client
library's politeness), then /healthz must answer and a snapshot of the data (the
resource list, one resource and its bookings) must equal the one taken before.
"""

import json
import socket
import threading
import time

import pytest

from bbutil import (HOST, Client, assert_problem, error_parameters, error_pointers,
                    raw_exchange, unique)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def world(server):
    admin = server.admin()
    rid = unique("victim")
    r = admin.post("/v1/resources", {"id": rid, "name": "victim", "capacity": 2})
    assert r.status == 201, r
    r = server.booker().post("/v1/bookings", {"items": [
        {"resource_id": rid, "start": "2027-03-01T09:00:00Z", "end": "2027-03-01T10:00:00Z"}]})
    assert r.status == 201, r
    return {"rid": rid}


def snapshot(server, rid):
    admin = server.admin()
    resources = admin.get("/v1/resources?limit=1000")
    resource = admin.get(f"/v1/resources/{rid}")
    bookings = admin.get(f"/v1/bookings?resource_id={rid}&limit=1000")
    return resources.body, resource.body, resource.etag, bookings.body


def request_bytes(method, path, body=b"", key=None, ctype="application/json", extra=None,
                  length=True):
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if ctype and body:
        lines.append(f"Content-Type: {ctype}")
    if length and (body or method in ("POST", "PATCH", "PUT")):
        lines.append(f"Content-Length: {len(body)}")
    lines += extra or []
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def resource_json(**fields):
    body = {"id": unique("bad"), "name": "x"}
    body.update(fields)
    return json.dumps(body).encode()


def booking_item(rid, **fields):
    it = {"resource_id": rid, "start": "2027-03-02T09:00:00Z", "end": "2027-03-02T10:00:00Z"}
    it.update(fields)
    return it


# Each case: (name, builder(server, rid) -> raw request bytes, status(es), code, check)
# `check(problem)` verifies extra members, e.g. the JSON pointer of a validation error.
def pointer(p):
    return lambda prob: p in error_pointers(prob) or pytest.fail(f"no pointer {p}: {prob}")


def pointer_prefix(p):
    return lambda prob: any((q or "").startswith(p) for q in error_pointers(prob)) or pytest.fail(
        f"no pointer under {p}: {prob}")


def parameter(name):
    return lambda prob: name in error_parameters(prob) or pytest.fail(
        f"no parameter {name}: {prob}")


def post_resource(body, ctype="application/json"):
    return lambda s, rid: request_bytes("POST", "/v1/resources", body, s.admin_key, ctype)


def post_booking(body_fn):
    return lambda s, rid: request_bytes("POST", "/v1/bookings",
                                        json.dumps(body_fn(rid)).encode(), s.booking_key)


def get(path_fn, key="booking"):
    return lambda s, rid: request_bytes(
        "GET", path_fn(rid), key=s.booking_key if key == "booking" else key)


CASES = [
    ("malformed json", post_resource(b'{"name": '), 400, "bad_request", None),
    ("trailing garbage", post_resource(b'{"name": "a"} x'), 400, "bad_request", None),
    ("not an object", post_resource(b'[1, 2]'), (400, 422), None, None),
    ("name wrong type", post_resource(resource_json(name=5)), 422, "validation",
     pointer("/name")),
    ("capacity as string", post_resource(resource_json(capacity="7")), 422, "validation",
     pointer("/capacity")),
    ("capacity float", post_resource(resource_json(capacity=1.5)), 422, "validation",
     pointer("/capacity")),
    ("capacity zero", post_resource(resource_json(capacity=0)), 422, "validation",
     pointer("/capacity")),
    ("capacity 1e400", post_resource(b'{"name": "x", "capacity": 1e400}'), (400, 422), None,
     None),
    ("capacity 2^66", post_resource(b'{"name": "x", "capacity": 99999999999999999999}'),
     (400, 422), None, None),
    ("capacity too big", post_resource(resource_json(capacity=1000000001)), 422, "validation",
     pointer("/capacity")),
    ("name too long", post_resource(resource_json(name="n" * 201)), 422, "validation",
     pointer("/name")),
    ("name empty", post_resource(resource_json(name="")), 422, "validation", pointer("/name")),
    ("id too long", post_resource(resource_json(id="i" * 65)), 422, "validation",
     pointer("/id")),
    ("id bad chars", post_resource(resource_json(id="a/b")), 422, "validation", pointer("/id")),
    ("unknown timezone", post_resource(resource_json(timezone="Mars/Olympus")), 422,
     "validation", pointer("/timezone")),
    ("hours reversed", post_resource(resource_json(hours={"mon": [["17:00", "09:00"]]})), 422,
     "validation", pointer_prefix("/hours")),
    ("hours overlapping", post_resource(resource_json(
        hours={"tue": [["09:00", "12:00"], ["11:00", "13:00"]]})), 422, "validation",
     pointer_prefix("/hours")),
    ("hours bad day", post_resource(resource_json(hours={"funday": [["09:00", "12:00"]]})), 422,
     "validation", pointer_prefix("/hours")),
    ("metadata too big", post_resource(resource_json(metadata={"k": "v" * 17000})), 422,
     "validation", pointer("/metadata")),
    ("metadata not object", post_resource(resource_json(metadata=[1])), 422, "validation",
     pointer("/metadata")),
    ("unknown field", post_resource(resource_json(bogus=1)), 422, "validation",
     pointer("/bogus")),
    ("invalid utf-8", post_resource(b'{"name": "\xff\xfe"}'), 400, "bad_request", None),
    ("overlong utf-8", post_resource(b'{"name": "\xc0\xaf"}'), 400, "bad_request", None),
    ("raw NUL in string", post_resource(b'{"name": "a\x00b"}'), 400, "bad_request", None),
    ("NUL after body", post_resource(b'{"name": "ab"}\x00'), 400, "bad_request", None),
    ("deep nesting", post_resource(b'{"name": "x", "metadata": ' + b'[' * 10000 + b']' * 10000
                                   + b'}'), (400, 413, 422), None, None),
    ("deep object nesting", post_resource(b'{"a":' * 10000 + b'1' + b'}' * 10000),
     (400, 413, 422), None, None),
    ("missing content type", post_resource(resource_json(), ctype=None), 415,
     "unsupported_media_type", None),
    ("text/plain", post_resource(resource_json(), ctype="text/plain"), 415,
     "unsupported_media_type", None),
    ("no items", post_booking(lambda rid: {"items": []}), 422, "validation",
     pointer_prefix("/items")),
    ("101 items", post_booking(lambda rid: {"items": [booking_item(rid)] * 101}), 422,
     "validation", pointer_prefix("/items")),
    ("quantity zero", post_booking(lambda rid: {"items": [booking_item(rid, quantity=0)]}), 422,
     "validation", pointer("/items/0/quantity")),
    ("quantity over capacity", post_booking(
        lambda rid: {"items": [booking_item(rid, quantity=3)]}), (409, 422), None, None),
    ("unknown resource", post_booking(
        lambda rid: {"items": [booking_item("no-such-resource")]}), 422, "validation",
     pointer("/items/0/resource_id")),
    ("start after end", post_booking(lambda rid: {"items": [booking_item(
        rid, start="2027-03-02T11:00:00Z")]}), 422, "validation", pointer_prefix("/items/0")),
    ("empty interval", post_booking(lambda rid: {"items": [booking_item(
        rid, end="2027-03-02T09:00:00Z")]}), 422, "validation", pointer_prefix("/items/0")),
    ("item over 366 days", post_booking(lambda rid: {"items": [booking_item(
        rid, end="2028-03-03T09:00:00Z")]}), 422, "validation", pointer_prefix("/items/0")),
    ("month 13", post_booking(lambda rid: {"items": [booking_item(
        rid, start="2027-13-01T09:00:00Z")]}), 422, "validation", pointer("/items/0/start")),
    ("no offset", post_booking(lambda rid: {"items": [booking_item(
        rid, start="2027-03-02T09:00:00")]}), 422, "validation", pointer("/items/0/start")),
    ("space separator", post_booking(lambda rid: {"items": [booking_item(
        rid, start="2027-03-02 09:00:00Z")]}), 422, "validation", pointer("/items/0/start")),
    ("february 30", post_booking(lambda rid: {"items": [booking_item(
        rid, start="2027-02-30T09:00:00Z")]}), 422, "validation", pointer("/items/0/start")),
    ("hour 25", post_booking(lambda rid: {"items": [booking_item(
        rid, end="2027-03-02T25:00:00Z")]}), 422, "validation", pointer("/items/0/end")),
    ("fraction .5", post_booking(lambda rid: {"items": [booking_item(
        rid, end="2027-03-02T10:00:00.5Z")]}), 422, "validation", pointer("/items/0/end")),
    ("start as number", post_booking(lambda rid: {"items": [booking_item(
        rid, start=1800000000)]}), 422, "validation", pointer("/items/0/start")),
    ("hold_seconds zero", post_booking(lambda rid: {"items": [booking_item(rid)],
                                                    "hold_seconds": 0}), 422, "validation",
     pointer("/hold_seconds")),
    ("hold_seconds too long", post_booking(lambda rid: {"items": [booking_item(rid)],
                                                        "hold_seconds": 86401}), 422,
     "validation", pointer("/hold_seconds")),
    ("customer too long", post_booking(lambda rid: {"items": [booking_item(rid)],
                                                    "customer": "c" * 201}), 422, "validation",
     pointer("/customer")),
    ("booking unknown field", post_booking(lambda rid: {"items": [booking_item(rid)],
                                                        "status": "confirmed"}), 422,
     "validation", pointer("/status")),
    ("item unknown field", post_booking(lambda rid: {"items": [booking_item(rid, price=3)]}),
     422, "validation", pointer("/items/0/price")),
    ("availability bad from", get(lambda rid: f"/v1/resources/{rid}/availability"
                                  "?from=yesterday&to=2027-03-02T00:00:00Z"), 422, "validation",
     parameter("from")),
    ("availability missing to", get(lambda rid: f"/v1/resources/{rid}/availability"
                                    "?from=2027-03-01T00:00:00Z"), 422, "validation",
     parameter("to")),
    ("availability over 366 days", get(lambda rid: f"/v1/resources/{rid}/availability"
                                       "?from=2027-01-01T00:00:00Z&to=2028-01-03T00:00:00Z"),
     422, "validation", None),
    ("availability to before from", get(lambda rid: f"/v1/resources/{rid}/availability"
                                        "?from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z"),
     422, "validation", None),
    ("slots step 7", get(lambda rid: f"/v1/resources/{rid}/slots?from=2027-03-01T00:00:00Z"
                         "&to=2027-03-02T00:00:00Z&duration=3600&step=7"), 422, "validation",
     parameter("step")),
    ("slots step 7000", get(lambda rid: f"/v1/resources/{rid}/slots?from=2027-03-01T00:00:00Z"
                            "&to=2027-03-02T00:00:00Z&duration=3600&step=7000"), 422,
     "validation", parameter("step")),
    ("slots duration text", get(lambda rid: f"/v1/resources/{rid}/slots"
                                "?from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z"
                                "&duration=abc"), 422, "validation", parameter("duration")),
    ("slots limit too big", get(lambda rid: f"/v1/resources/{rid}/slots"
                                "?from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z"
                                "&duration=3600&limit=10001"), 422, "validation",
     parameter("limit")),
    ("list limit 0", get(lambda rid: "/v1/bookings?limit=0"), 422, "validation",
     parameter("limit")),
    ("list bad status", get(lambda rid: "/v1/bookings?status=lost"), 422, "validation",
     parameter("status")),
    ("search over 366 days", lambda s, rid: request_bytes(
        "POST", "/v1/availability/search", json.dumps({
            "resource_ids": [rid], "from": "2027-01-01T00:00:00Z", "to": "2028-01-03T00:00:00Z",
            "duration": 3600}).encode(), s.booking_key), 422, "validation", None),
    ("search step not dividing a day", lambda s, rid: request_bytes(
        "POST", "/v1/availability/search", json.dumps({
            "resource_ids": [rid], "from": "2027-01-01T00:00:00Z", "to": "2027-01-02T00:00:00Z",
            "duration": 3600, "step": 7}).encode(), s.booking_key), 422, "validation",
     pointer("/step")),
    ("unknown route", get(lambda rid: "/v1/nothing-here"), 404, "not_found", None),
    ("unknown resource", get(lambda rid: "/v1/resources/no-such-resource"), 404, "not_found",
     None),
    ("unknown booking", get(lambda rid: "/v1/bookings/no-such-booking"), 404, "not_found", None),
    ("wrong method", lambda s, rid: request_bytes("DELETE", "/v1/bookings", key=s.admin_key),
     405, "method_not_allowed", None),
    ("PUT resource", lambda s, rid: request_bytes("PUT", f"/v1/resources/{rid}",
                                                  resource_json(), s.admin_key), 405,
     "method_not_allowed", None),
    ("no key", get(lambda rid: "/v1/resources", key=None), 401, "unauthorized", None),
    ("bad key", get(lambda rid: "/v1/resources", key="not-a-key"), 401, "unauthorized", None),
    ("basic auth", lambda s, rid: request_bytes("GET", "/v1/resources", extra=[
        "Authorization: Basic YWRtaW46YWRtaW4="]), 401, "unauthorized", None),
    ("booking key creates resource", lambda s, rid: request_bytes(
        "POST", "/v1/resources", resource_json(), s.booking_key), 403, "forbidden", None),
    ("booking key deletes resource", lambda s, rid: request_bytes(
        "DELETE", f"/v1/resources/{rid}", key=s.booking_key), 403, "forbidden", None),
    ("idempotency key too long", lambda s, rid: request_bytes(
        "POST", "/v1/resources", resource_json(), s.admin_key,
        extra=["Idempotency-Key: " + "k" * 256]), (400, 422), None, None),
    ("idempotency key non-ascii", lambda s, rid: request_bytes(
        "POST", "/v1/resources", resource_json(), s.admin_key,
        extra=["Idempotency-Key: k\x01k"]), (400, 422), None, None),
    ("garbage request line", lambda s, rid: b"GARBAGE\r\n\r\n", 400, "bad_request", None),
    ("binary request line", lambda s, rid: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
     400, "bad_request", None),
    ("NUL in header", lambda s, rid: request_bytes("GET", "/healthz", extra=["X-A: a\x00b"]), 400,
     "bad_request", None),
    ("both length and chunked", lambda s, rid: request_bytes(
        "POST", "/v1/resources", b"0\r\n\r\n", s.admin_key,
        extra=["Transfer-Encoding: chunked"]), 400, "bad_request", None),
    ("bad content-length", lambda s, rid: request_bytes(
        "POST", "/v1/resources", b"{}", s.admin_key, length=False,
        extra=["Content-Length: -5"]), 400, "bad_request", None),
    ("two content-lengths", lambda s, rid: request_bytes(
        "POST", "/v1/resources", b"{}", s.admin_key, extra=["Content-Length: 3"]), 400,
     "bad_request", None),
    ("headers over 16 KiB", lambda s, rid: request_bytes(
        "GET", "/healthz", extra=["X-Big: " + "b" * (17 * 1024)]), 431, None, None),
    ("many headers over 16 KiB", lambda s, rid: request_bytes(
        "GET", "/healthz", extra=[f"X-H{i}: {'v' * 100}" for i in range(200)]), 431, None,
     None),
]


@pytest.mark.parametrize("name,build,status,code,check", CASES, ids=[c[0] for c in CASES])
def test_hostile_request(server, world, name, build, status, code, check):
    before = snapshot(server, world["rid"])
    data = build(server, world["rid"])
    resp = raw_exchange(server.port, data)
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp is not None, f"{name}: connection closed without an answer"
    assert resp.status in statuses, f"{name}: {resp!r}"
    problem = assert_problem(resp, resp.status, code)
    if check:
        check(problem)
    assert Client(server.port).get("/healthz").status == 200
    assert snapshot(server, world["rid"]) == before, f"{name} changed data"


def big_body_head(server, length, chunked=False):
    lines = ["POST /v1/resources HTTP/1.1", "Host: localhost",
             f"Authorization: Bearer {server.admin_key}", "Content-Type: application/json"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_body_over_1mib_is_413(server, world):
    before = snapshot(server, world["rid"])
    filler = b"x" * (MIB + 1000)
    body = b'{"name": "big", "metadata": {"k": "' + filler + b'"}}'
    resp = raw_exchange(server.port, body, head=big_body_head(server, len(body)), timeout=20)
    assert_problem(resp, 413, "payload_too_large")

    chunks = b"".join(b"%x\r\n%s\r\n" % (65536, b"y" * 65536) for _ in range(18)) + b"0\r\n\r\n"
    resp = raw_exchange(server.port, chunks, head=big_body_head(server, 0, chunked=True),
                        timeout=20)
    assert_problem(resp, 413, "payload_too_large")
    assert Client(server.port).get("/healthz").status == 200
    assert snapshot(server, world["rid"]) == before


def test_body_just_under_1mib_is_not_413(server):
    body = b'{"name": "big", "metadata": {"k": "' + b"x" * (MIB - 100) + b'"}}'
    resp = raw_exchange(server.port, body, head=big_body_head(server, len(body)), timeout=20)
    assert resp is not None and resp.status == 422, resp  # metadata over 16 KiB, not 413


def wait_cut_off(sock, deadline_s):
    """Reads until the server answers or closes. Returns (bytes, seconds) or fails."""
    sock.settimeout(1.0)
    start = time.monotonic()
    data = b""
    while time.monotonic() - start < deadline_s:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, time.monotonic() - start
        if not chunk:
            return data, time.monotonic() - start
        data += chunk
    pytest.fail(f"the server kept a stalled client for {deadline_s} s")


@pytest.mark.any_backend  # 30 s of deadlines in the HTTP layer
def test_stalled_clients_are_cut_off_while_others_are_served(server):
    stalled_head = socket.create_connection((HOST, server.port))
    stalled_head.sendall(b"GET /v1/resources HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    stalled_body = socket.create_connection((HOST, server.port))
    stalled_body.sendall(big_body_head(server, 100) + b'{"name": "slo')
    results = {}

    def watch(name, sock, limit_s):
        try:
            results[name] = wait_cut_off(sock, limit_s)
        except BaseException as exc:  # pytest.fail in a thread: report it from the test
            results[name] = exc

    # The header deadline is 10 s and the body deadline 30 s by default.
    watchers = [threading.Thread(target=watch, args=("head", stalled_head, 15.0)),
                threading.Thread(target=watch, args=("body", stalled_body, 35.0))]
    for t in watchers:
        t.start()
    time.sleep(0.5)
    client = Client(server.port, server.booking_key, timeout=5)
    for _ in range(5):
        assert client.get("/healthz").status == 200
        assert client.get("/v1/resources?limit=1").status == 200
    for t in watchers:
        t.join(40)
    stalled_head.close()
    stalled_body.close()

    for name in ("head", "body"):
        assert name in results, f"{name}: watcher did not finish"
        assert not isinstance(results[name], BaseException), f"{name}: {results[name]}"
        data, _ = results[name]
        if data:
            assert data.startswith(b"HTTP/1.1 408"), f"{name}: {data[:200]!r}"
    assert Client(server.port).get("/healthz").status == 200


def test_405_names_allowed_methods_and_401_names_scheme(server):
    r = raw_exchange(server.port, request_bytes("DELETE", "/v1/bookings", key=server.admin_key))
    assert_problem(r, 405, "method_not_allowed")
    allowed = {m.strip() for m in (r.header("Allow") or "").split(",")}
    assert {"GET", "POST"} <= allowed, r.headers
    r = raw_exchange(server.port, request_bytes("GET", "/v1/resources"))
    assert_problem(r, 401, "unauthorized")
    assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), r.headers
