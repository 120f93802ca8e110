"""bookd rides out a PostgreSQL outage: quick 503s while it lasts, recovery by itself, nothing lost.

Method: a private PostgreSQL server (scripts/pg.sh, so that stopping it disturbs
no other test) under one bookd. Twelve clients book in a loop, each booking two
items on two of ten resources of capacity 3, while the test stops PostgreSQL
with a fast shutdown (connections cut mid-transaction), keeps it down for a few
seconds and starts it again. Every answer must arrive within ANSWER_BOUND_S and
be 201, 409 unavailable or 503 overloaded with Retry-After; during the outage
bookings are 503 and /readyz is 503 while /healthz stays 200; after the restart
the same bookd process books again and /readyz is 200 within RECOVERY_BOUND_S,
without being told. Finally every booking answered 201 is stored with the items
answered, every stored booking has both its items, and no resource is oversold
at any instant.

Needs BOOKD_TEST_PG_URL (only as the sign that PostgreSQL is wanted; skipped
with that reason without it).
"""

import random
import threading
import time
from collections import defaultdict

import pytest

from bbutil import BookdServer, Client, assert_problem, create_resource, list_all, max_overlap
from bbutil import norm_items, ts
from pgutil import ThrowawayPg

ANSWER_BOUND_S = 10.0
RECOVERY_BOUND_S = 15.0
OUTAGE_S = 4.0
CLIENTS = 12
RESOURCES = 10
CAPACITY = 3


@pytest.fixture
def private_pg(pg_server):
    pg = ThrowawayPg().start()
    yield pg
    pg.stop()


class Load:
    """CLIENTS threads booking in a loop; every answer is recorded with its timing."""

    def __init__(self, port, key, rids):
        self.port = port
        self.key = key
        self.rids = rids
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.records = []  # (started, finished, body, Response or Exception)
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(CLIENTS)]

    def _body(self, rng):
        a, b = rng.sample(self.rids, 2)
        day = rng.randrange(1, 29)
        hour = rng.randrange(6, 20)
        start = f"2028-02-{day:02d}T{hour:02d}:00:00Z"
        end = f"2028-02-{day:02d}T{hour + 1:02d}:00:00Z"
        return {"items": [{"resource_id": a, "start": start, "end": end, "quantity": 1},
                          {"resource_id": b, "start": start, "end": end, "quantity": 1}],
                "customer": "outage"}

    def _run(self, n):
        rng = random.Random(n)
        client = Client(self.port, self.key, timeout=ANSWER_BOUND_S + 1)
        for _ in range(100000):
            if self.stop_flag.is_set():
                break
            body = self._body(rng)
            started = time.monotonic()
            try:
                result = client.post("/v1/bookings", body, retry=False)
            except Exception as exc:  # judged by the test thread
                result = exc
            with self.lock:
                self.records.append((started, time.monotonic(), body, result))
            if isinstance(result, Exception) or result.status == 503:
                time.sleep(0.1)  # a polite client backs off
        client.close()

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(ANSWER_BOUND_S * 4)
            assert not t.is_alive(), "a client thread hangs"

    def snapshot(self):
        with self.lock:
            return list(self.records)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_outage_gives_quick_503s_then_recovers_without_loss(bookd_bin, private_pg, tmp_path):
    srv = BookdServer(bookd_bin, private_pg.url, str(tmp_path), threads=4)
    srv.start()
    try:
        srv.setup_keys()
        run_outage(srv, private_pg)
    finally:
        srv.stop()


def run_outage(srv, pg):
    admin = srv.admin()
    probe = Client(srv.port, timeout=ANSWER_BOUND_S + 1)  # a hang fails as a timeout
    rids = [create_resource(admin, capacity=CAPACITY)["id"] for _ in range(RESOURCES)]
    pid = srv.proc.pid

    load = Load(srv.port, srv.booking_key, rids)
    load.start()
    try:
        wait_for(lambda: any(not isinstance(r, Exception) and r.status == 201
                             for *_, r in load.snapshot()), 10, "a first booking")
        time.sleep(1.0)

        pg.halt()
        down_at = time.monotonic()
        ready_answers = []
        while time.monotonic() - down_at < OUTAGE_S:
            started = time.monotonic()
            r = probe.get("/readyz")
            ready_answers.append((time.monotonic() - started, r.status))
            assert probe.get("/healthz").status == 200, "/healthz failed during the outage"
            time.sleep(0.2)
        resume_at = time.monotonic()
        pg.resume()
        up_at = time.monotonic()

        assert all(took <= ANSWER_BOUND_S for took, _ in ready_answers), ready_answers
        statuses = [s for _, s in ready_answers]
        assert 503 in statuses, f"/readyz never said 503 while PostgreSQL was down: {statuses}"

        def booked_after_restart():
            return any(start > up_at and not isinstance(r, Exception) and r.status == 201
                       for start, _, _, r in load.snapshot())

        recovered_at = wait_for(booked_after_restart, RECOVERY_BOUND_S,
                                "a booking answered 201 after PostgreSQL came back")
        wait_for(lambda: probe.get("/readyz").status == 200,
                 RECOVERY_BOUND_S - (recovered_at - up_at), "/readyz 200 again")
        time.sleep(1.0)
    finally:
        load.stop()
        probe.close()

    assert srv.proc.poll() is None and srv.proc.pid == pid, "bookd did not survive the outage"
    records = load.snapshot()
    counts = defaultdict(int)
    created = {}
    for started, finished, body, r in records:
        assert not isinstance(r, Exception), f"a request got no answer: {r!r}"
        took = finished - started
        assert took <= ANSWER_BOUND_S, f"an answer took {took:.1f} s: {r!r}"
        counts[r.status] += 1
        if r.status == 201:
            assert norm_items(r.json["items"]) == norm_items(body["items"]), r
            created[r.json["id"]] = r.json
        elif r.status == 409:
            assert_problem(r, 409, "unavailable")
        else:
            assert_problem(r, 503, "overloaded")
            retry_after = r.header("Retry-After")
            assert retry_after is not None and retry_after.isdigit(), \
                f"503 without a Retry-After in seconds: {r.headers}"
    in_outage = [r for started, finished, _, r in records
                 if started > down_at + 1.0 and finished < resume_at]
    print(f"answers by status: {dict(counts)}; during the outage: "
          f"{sorted(set(r.status for r in in_outage))}; recovery "
          f"{recovered_at - up_at:.1f} s after the restart")
    assert counts[503] > 0, "no request saw the outage"
    assert in_outage and all(r.status == 503 for r in in_outage), \
        f"answers while PostgreSQL was down: {sorted(set(r.status for r in in_outage))}"

    stored = {b["id"]: b for b in list_all(admin, "/v1/bookings")}
    missing = set(created) - set(stored)
    assert not missing, f"{len(missing)} bookings answered 201 are lost"
    for bid, booking in created.items():
        assert norm_items(stored[bid]["items"]) == norm_items(booking["items"]), bid
    by_resource = defaultdict(list)
    for b in stored.values():
        assert len(b["items"]) == 2, f"a half-written booking: {b}"
        if b["status"] == "confirmed":
            for i in b["items"]:
                by_resource[i["resource_id"]].append((ts(i["start"]), ts(i["end"]),
                                                      i["quantity"]))
    for rid, items in by_resource.items():
        assert max_overlap(items) <= CAPACITY, f"{rid} is oversold"
