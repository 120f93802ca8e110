"""Several hosts on one PostgreSQL database keep the contract as one server would.

Method: three `bookd serve` processes on their own ports share one fresh
PostgreSQL database (the "hosts"), and HAProxy, started by the test with a
temporary configuration, balances requests round-robin over them on a port of
its own. 200 clients, each with its own connection to HAProxy, race on a
barrier for the last units of a resource: exactly `capacity` units are granted,
and the stored bookings are exactly the 201 answers. Then each step of a
booking's life is taken on one host and observed on the others, over direct
connections so that which host answers is known: a hold blocks its unit
everywhere and expires everywhere; a cancel frees the unit for every host; a
PATCH with an ETag made stale by another host is 412; a capacity change is seen
by every host's next booking; an idempotent retry to another host is a replay.

Needs BOOKD_TEST_PG_URL (skipped with that reason without it) and Debian's haproxy.
"""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from bbutil import (Client, assert_problem, create_resource, item, list_all, norm_items, ts,
                    unique)
from bbutil import BookdServer

HOSTS = 3
CLIENTS = 200
CAPACITY = 7
START, END = "2027-11-03T10:00:00Z", "2027-11-03T11:00:00Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HAProxy:
    """HAProxy in the foreground (-db) with a temporary configuration; SIGTERM stops it."""

    def __init__(self, workdir, backends):
        self.binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.workdir = workdir
        self.backends = backends
        self.port = None
        self.proc = None

    def start(self, timeout=15.0):
        if not os.access(self.binary, os.X_OK):
            pytest.fail("haproxy is not installed: apt-get install -y haproxy "
                        "(scripts/dev.sh installs it)")
        for _ in range(5):  # the chosen port may be taken before HAProxy binds it
            self.port = free_port()
            servers = "\n".join(f"  server host{n} 127.0.0.1:{port}"
                                for n, port in enumerate(self.backends))
            config = os.path.join(self.workdir, "haproxy.cfg")
            with open(config, "w") as f:
                f.write(f"""global
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-request 30s
frontend bookd
  bind 127.0.0.1:{self.port}
  maxconn 4096
  default_backend hosts
backend hosts
  balance roundrobin
{servers}
""")
            self.log = open(os.path.join(self.workdir, "haproxy.log"), "w")
            self.proc = subprocess.Popen([self.binary, "-db", "-f", config],
                                         stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if Client(self.port, timeout=2).get("/healthz").status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
        with open(os.path.join(self.workdir, "haproxy.log")) as f:
            pytest.fail(f"haproxy did not start:\n{f.read()[-3000:]}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()


@pytest.fixture(scope="module")
def cluster(bookd_bin, pg_server, tmp_path_factory):
    """(hosts, haproxy): three bookd on one fresh database, HAProxy in front."""
    workdir = tmp_path_factory.mktemp("multihost")
    name, url = pg_server.create_database("bookd_multihost")
    hosts = []
    proxy = None
    try:
        # One after the other: the first applies the migrations and makes the keys.
        for n in range(HOSTS):
            hostdir = workdir / f"host{n}"
            hostdir.mkdir()
            srv = BookdServer(bookd_bin, url, str(hostdir), threads=4)
            hosts.append(srv)
            srv.start()
            if n == 0:
                srv.setup_keys()
            else:
                srv.admin_key, srv.booking_key = hosts[0].admin_key, hosts[0].booking_key
        proxy = HAProxy(str(workdir), [h.port for h in hosts]).start()
        yield hosts, proxy
    finally:
        if proxy is not None:
            proxy.stop()
        for srv in hosts:
            srv.stop()
        pg_server.drop_database(name)


def requests_served(srv):
    """Requests this host has answered so far, from its /metrics."""
    r = Client(srv.port, timeout=10).get("/metrics")
    assert r.status == 200, r
    total = 0
    for line in r.body.decode().splitlines():
        if line.startswith("bookd_http_requests_total"):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_race_through_haproxy_grants_exactly_capacity(cluster):
    hosts, proxy = cluster
    admin = hosts[0].admin()
    rid = create_resource(admin, capacity=CAPACITY)["id"]
    # All but the last units are gone before the race starts: it is for the last ones.
    taken = hosts[1].booker().post("/v1/bookings",
                                   {"items": [item(rid, "2027-11-01T09:00:00Z",
                                                   "2027-11-01T12:00:00Z", CAPACITY - 2)]})
    assert taken.status == 201, taken
    served_before = [requests_served(h) for h in hosts]

    barrier = threading.Barrier(CLIENTS)
    results = [None] * CLIENTS
    bodies = [{"items": [item(rid, f"2027-11-01T{8 + n % 3:02d}:00:00Z",
                              f"2027-11-01T{11 + (n // 3) % 3:02d}:00:00Z")],
               "customer": f"racer-{n}"} for n in range(CLIENTS)]

    def run(n):
        client = Client(proxy.port, hosts[0].booking_key, timeout=60)
        try:
            client.connect()
            barrier.wait(30)
            results[n] = client.post("/v1/bookings", bodies[n], retry=False)
        except Exception as exc:  # reported below, with the others
            results[n] = exc
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    created = {}
    for n, r in enumerate(results):
        assert not isinstance(r, Exception) and r is not None, f"client {n}: {r!r}"
        if r.status == 201:
            created[r.json["id"]] = r.json
            continue
        problem = assert_problem(r, 409, "unavailable")
        assert problem["conflicts"][0]["reason"] == "capacity", problem
    print(f"race through haproxy: {len(created)} granted, {CLIENTS - len(created)} refused")
    assert len(created) == 2, f"granted {len(created)} of the last 2 units"

    served = [requests_served(h) - b for h, b in zip(hosts, served_before)]
    print(f"requests per host during the race: {served}")
    assert all(s >= CLIENTS // (2 * HOSTS) for s in served), \
        f"HAProxy did not spread the race over the hosts: {served}"

    # Every host lists exactly the granted bookings, with the items answered.
    for srv in hosts:
        stored = list_all(srv.admin(), "/v1/bookings", resource_id=rid)
        by_id = {b["id"]: b for b in stored if b["id"] != taken.json["id"]}
        assert set(by_id) == set(created), "stored bookings differ from the 201 answers"
        for bid, b in created.items():
            assert norm_items(by_id[bid]["items"]) == norm_items(b["items"])


def test_hold_blocks_every_host_and_expires_on_all(cluster):
    hosts, _ = cluster
    a, b, c = (h.booker() for h in hosts)
    rid = create_resource(hosts[0].admin(), capacity=1)["id"]
    r = a.post("/v1/bookings", {"items": [item(rid, START, END)], "hold_seconds": 2})
    assert r.status == 201 and r.json["status"] == "held", r
    hold = r.json

    for other in (b, c):
        problem = assert_problem(other.post("/v1/bookings", {"items": [item(rid, START, END)]}),
                                 409, "unavailable")
        assert problem["conflicts"][0]["reason"] == "capacity", problem
        r = other.get(f"/v1/resources/{rid}/availability?from={START}&to={END}")
        assert r.status == 200 and r.json["intervals"] == [], r
        r = other.get(f"/v1/bookings/{hold['id']}")
        assert r.status == 200 and r.json["status"] == "held", r

    delay = ts(hold["expires_at"]) + 0.3 - time.time()
    if delay > 0:
        time.sleep(delay)

    for client in (a, b, c):
        r = client.get(f"/v1/bookings/{hold['id']}")
        assert r.status == 200 and r.json["status"] == "expired", r
        r = client.get(f"/v1/resources/{rid}/availability?from={START}&to={END}")
        assert r.json["intervals"] == [{"start": START, "end": END, "available": 1}], r
    assert_problem(b.post(f"/v1/bookings/{hold['id']}/confirm"), 409, "hold_expired")
    r = c.post("/v1/bookings", {"items": [item(rid, START, END)]})
    assert r.status == 201, f"the expired hold still counts on another host: {r!r}"


def test_cancel_on_another_host_frees_the_unit(cluster):
    hosts, _ = cluster
    a, b, c = (h.booker() for h in hosts)
    rid = create_resource(hosts[0].admin(), capacity=1)["id"]
    r = a.post("/v1/bookings", {"items": [item(rid, START, END)]})
    assert r.status == 201, r
    booking = r.json
    assert_problem(c.post("/v1/bookings", {"items": [item(rid, START, END)]}), 409, "unavailable")

    r = b.post(f"/v1/bookings/{booking['id']}/cancel",
               headers={"If-Match": f'"{booking["version"]}"'})
    assert r.status == 200 and r.json["status"] == "cancelled", r
    r = a.get(f"/v1/bookings/{booking['id']}")
    assert r.json["status"] == "cancelled" and r.json["version"] == booking["version"] + 1, r
    r = c.post("/v1/bookings", {"items": [item(rid, START, END)]})
    assert r.status == 201, f"the cancelled booking still counts on a third host: {r!r}"


def test_stale_if_match_from_another_host_is_412(cluster):
    hosts, _ = cluster
    a, b, c = (h.booker() for h in hosts)
    rid = create_resource(hosts[0].admin(), capacity=2)["id"]
    r = a.post("/v1/bookings", {"items": [item(rid, START, END)], "customer": "alice"})
    assert r.status == 201, r
    booking = r.json
    path = f"/v1/bookings/{booking['id']}"
    stale = f'"{booking["version"]}"'

    r = b.patch(path, {"customer": "bob"}, headers={"If-Match": stale})
    assert r.status == 200 and r.json["version"] == booking["version"] + 1, r
    assert_problem(c.patch(path, {"customer": "carol"}, headers={"If-Match": stale}),
                   412, "precondition_failed")
    assert_problem(a.post(f"{path}/cancel", headers={"If-Match": stale}),
                   412, "precondition_failed")
    for client in (a, b, c):
        r = client.get(path)
        assert r.json["customer"] == "bob" and r.json["status"] == "confirmed", r
        assert r.etag == f'"{booking["version"] + 1}"', r


def test_capacity_change_on_one_host_binds_the_others(cluster):
    hosts, _ = cluster
    res = create_resource(hosts[0].admin(), capacity=2)
    r = hosts[0].booker().post("/v1/bookings", {"items": [item(res["id"], START, END)]})
    assert r.status == 201, r
    r = hosts[1].admin().patch(f"/v1/resources/{res['id']}", {"capacity": 1},
                               headers={"If-Match": f'"{res["version"]}"'})
    assert r.status == 200 and r.json["capacity"] == 1, r
    r = hosts[2].admin().get(f"/v1/resources/{res['id']}")
    assert r.json["capacity"] == 1 and r.etag == f'"{res["version"] + 1}"', r
    problem = assert_problem(
        hosts[2].booker().post("/v1/bookings", {"items": [item(res["id"], START, END)]}),
        409, "unavailable")
    assert problem["conflicts"][0]["available"] == 0, problem


def test_idempotent_retry_on_another_host_is_a_replay(cluster):
    hosts, _ = cluster
    rid = create_resource(hosts[0].admin(), capacity=5)["id"]
    body = {"items": [item(rid, START, END)], "customer": "retry"}
    key = unique("idem")
    first = hosts[0].booker().post("/v1/bookings", body, headers={"Idempotency-Key": key})
    assert first.status == 201, first
    again = hosts[1].booker().post("/v1/bookings", body, headers={"Idempotency-Key": key})
    assert again.status == 201 and again.json == first.json, again
    assert again.header("Idempotent-Replayed") == "true", again.headers
    other = dict(body, customer="someone else")
    assert_problem(hosts[2].booker().post("/v1/bookings", other, headers={"Idempotency-Key": key}),
                   422, "idempotency_key_reused")
    assert len(list_all(hosts[2].admin(), "/v1/bookings", resource_id=rid)) == 1
