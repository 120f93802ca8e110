"""Operations surface: health, readiness, metrics, OpenAPI, request ids, key management."""

import json
import re
import socket
import time

from bbutil import HOST, Client, assert_problem, create_resource, item, key_id_for


def metric_sum(text, name):
    """Sum of every sample of `name` (all label sets) in Prometheus text format."""
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and m.group(1) == name:
            total += float(m.group(3))
            found = True
    assert found, f"metric {name} missing"
    return total


def test_health_and_readiness(server):
    client = Client(server.port)
    r = client.get("/healthz")
    assert r.status == 200 and r.json == {"status": "ok"}, r
    assert r.header("Content-Type", "").startswith("application/json")
    r = client.get("/readyz")
    assert r.status == 200, r


def test_metrics_grow_with_traffic(server):
    admin = server.admin()
    client = Client(server.port)
    r = client.get("/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type", "").startswith("text/plain"), r.headers
    text = r.body.decode()
    requests_before = metric_sum(text, "bookd_http_requests_total")
    created_before = metric_sum(text, "bookd_bookings_created_total")

    rid = create_resource(admin, capacity=2)["id"]
    r = server.booker().post("/v1/bookings", {"items": [
        item(rid, "2027-12-01T10:00:00Z", "2027-12-01T11:00:00Z")]})
    assert r.status == 201, r

    text = client.get("/metrics").body.decode()
    assert metric_sum(text, "bookd_http_requests_total") >= requests_before + 2
    assert metric_sum(text, "bookd_bookings_created_total") == created_before + 1
    assert "# TYPE bookd_http_requests_total counter" in text


def test_openapi_document(server):
    r = Client(server.port).get("/openapi.json")
    assert r.status == 200, r
    doc = json.loads(r.body)
    assert re.fullmatch(r"3\.1\.\d+", doc.get("openapi", "")), doc.get("openapi")
    paths = doc.get("paths", {})
    for p in ("/v1/resources", "/v1/resources/{id}", "/v1/bookings", "/v1/bookings/{id}",
              "/v1/bookings/{id}/confirm", "/v1/bookings/{id}/cancel",
              "/v1/resources/{id}/availability", "/v1/resources/{id}/slots",
              "/v1/availability/search", "/healthz", "/readyz", "/metrics"):
        assert p in paths, f"OpenAPI lacks {p}"


def test_request_id_echoed_and_generated(server):
    client = Client(server.port, server.admin_key)
    r = client.get("/healthz", headers={"X-Request-Id": "bb-test-123"})
    assert r.header("X-Request-Id") == "bb-test-123"
    r = client.get("/v1/nope", headers={"X-Request-Id": "bb-test-404"})
    assert r.status == 404 and r.header("X-Request-Id") == "bb-test-404"
    seen = set()
    for path in ("/healthz", "/v1/resources", "/v1/nope"):
        rid = client.get(path).header("X-Request-Id")
        assert rid, f"no generated X-Request-Id on {path}"
        seen.add(rid)
    assert len(seen) == 3, "generated request ids repeat"
    r = Client(server.port).get("/v1/resources")
    assert r.status == 401 and r.header("X-Request-Id")


def test_keys_list_and_revoke(server):
    listing = server.cli("keys", "list").stdout
    assert server.admin_key not in listing and server.booking_key not in listing, \
        "keys list shows secrets"
    assert "admin" in listing and "booking" in listing, listing

    before = server.cli("keys", "list").stdout
    key = server.create_key("booking")
    after = server.cli("keys", "list").stdout
    assert key not in after
    key_id = key_id_for(before, after)

    client = server.client(key)
    assert client.get("/v1/resources").status == 200
    server.cli("keys", "revoke", key_id)
    client.close()
    assert_problem(client.get("/v1/resources"), 401, "unauthorized")
    assert server.booker().get("/v1/resources").status == 200, "revoke hit the wrong key"


def test_bootstrap_admin_key(server_factory):
    srv = server_factory(keys=False)
    for _ in range(40):  # printed before or around the listening line
        if srv.bootstrap_key:
            break
        time.sleep(0.05)
    assert srv.bootstrap_key, f"no bootstrap key printed:\n{srv.output()}"
    client = srv.client(srv.bootstrap_key)
    r = client.post("/v1/resources", {"name": "by bootstrap key"})
    assert r.status == 201, r
    assert r.header("Location", "").endswith(f"/v1/resources/{r.json['id']}")
    # A restart on a database that has keys prints none, and the key still works.
    boot = srv.bootstrap_key
    srv.restart()
    time.sleep(0.5)
    assert srv.bootstrap_key is None, "a second bootstrap key was printed"
    assert srv.client(boot).get("/v1/resources").status == 200


def test_sigterm_stops_cleanly(server_factory):
    srv = server_factory()
    assert srv.admin().get("/v1/resources").status == 200
    started = time.monotonic()
    assert srv.stop() == 0, f"exit code after SIGTERM:\n{srv.output()[-2000:]}"
    assert time.monotonic() - started < 5


def test_pipelined_requests_are_answered_in_order(server):
    sock = socket.create_connection((HOST, server.port), timeout=10)
    reqs = b"".join(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-{n}\r\n"
        f"Authorization: Bearer {server.booking_key}\r\n\r\n".encode()
        for n, path in enumerate(["/healthz", "/v1/nothing", "/v1/resources?limit=1"]))
    sock.sendall(reqs + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    ids = re.findall(rb"(?i)x-request-id: (pipe-\d)", data)
    assert statuses == [b"200", b"404", b"200", b"200"], data[:500]
    assert ids == [b"pipe-0", b"pipe-1", b"pipe-2"]
