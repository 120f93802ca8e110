"""No oversell under contention, and all-or-nothing multi-item bookings.

Method: 200 threads, each with its own connection, start together on a barrier
and each asks once for 1 or 2 units of a resource of capacity 7. Every interval
contains the same core hour, so at most 7 units can be granted; and since more
than 7 requests ask for one unit, a correct server grants exactly 7 (a one-unit
request can only be refused once nothing is left). The stored bookings must be
exactly the answered 201s. The same race is run against two processes on one
database and against `serve --workers 2`.
"""

import threading

import pytest

from bbutil import Client, assert_problem, create_resource, item, list_all, norm_items

CAPACITY = 7
CLIENTS = 200


def race_round(servers, admin, round_no):
    """Thread n talks to servers[n % len(servers)]; they may share one database."""
    res = create_resource(admin, capacity=CAPACITY)
    rid = res["id"]
    barrier = threading.Barrier(CLIENTS)
    results = [None] * CLIENTS
    bodies = []
    for n in range(CLIENTS):
        start_h = 8 + n % 3          # 08:00, 09:00 or 10:00
        end_h = 11 + (n // 3) % 3    # 11:00, 12:00 or 13:00: all cover 10:00-11:00
        day = 10 + round_no
        bodies.append({
            "items": [item(rid, f"2027-05-{day:02d}T{start_h:02d}:00:00Z",
                           f"2027-05-{day:02d}T{end_h:02d}:00:00Z", 1 + n % 2)],
            "customer": f"racer-{n}",
        })

    def run(n):
        server = servers[n % len(servers)]
        client = Client(server.port, server.booking_key, timeout=60)
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

    granted = 0
    created = {}
    for n, r in enumerate(results):
        assert not isinstance(r, Exception) and r is not None, f"client {n}: {r!r}"
        qty = bodies[n]["items"][0]["quantity"]
        if r.status == 201:
            granted += qty
            assert r.json["items"][0]["quantity"] == qty
            created[r.json["id"]] = r.json
            continue
        problem = assert_problem(r, 409, "unavailable")
        conflicts = problem.get("conflicts")
        assert isinstance(conflicts, list) and len(conflicts) == 1, f"conflicts: {problem}"
        c = conflicts[0]
        assert c.get("item") == 0 and c.get("resource_id") == rid, c
        assert c.get("reason") == "capacity", c
        assert isinstance(c.get("available"), int) and 0 <= c["available"] < qty, c

    print(f"round {round_no}: {len(created)} bookings, {CLIENTS - len(created)} refused")
    assert granted == CAPACITY, f"round {round_no}: granted {granted} units of {CAPACITY}"

    stored = list_all(admin, "/v1/bookings", resource_id=rid)
    stored_by_id = {b["id"]: b for b in stored}
    assert set(stored_by_id) == set(created), "stored bookings differ from the 201 answers"
    for bid, booking in created.items():
        assert norm_items(stored_by_id[bid]["items"]) == norm_items(booking["items"])
        assert stored_by_id[bid]["status"] in ("confirmed", "held")
    assert sum(b["items"][0]["quantity"] for b in stored) == CAPACITY


@pytest.mark.parametrize("round_no", [1, 2, 3])
def test_concurrent_clients_never_oversell(server, admin, round_no):
    race_round([server], admin, round_no)


def test_two_processes_on_one_database_never_oversell(server_factory):
    # The invariant must hold across server processes sharing a database, not
    # only across the threads of one process.
    first = server_factory()
    second = server_factory(db=first.db, keys=False)
    second.admin_key, second.booking_key = first.admin_key, first.booking_key
    race_round([first, second], first.admin(), 4)


def test_worker_processes_never_oversell(server_factory):
    cluster = server_factory(threads=2, extra_args=["--workers", "2"])
    race_round([cluster], cluster.admin(), 5)


def test_multi_item_booking_is_all_or_nothing(admin, booker):
    a = create_resource(admin, capacity=2)["id"]
    b = create_resource(admin, capacity=1)["id"]
    start, end = "2027-06-01T10:00:00Z", "2027-06-01T12:00:00Z"
    r = booker.post("/v1/bookings", {"items": [item(b, start, end, 1)]})
    assert r.status == 201, r

    r = booker.post("/v1/bookings", {"items": [item(a, start, end, 1), item(b, start, end, 1)]})
    problem = assert_problem(r, 409, "unavailable")
    conflicts = problem.get("conflicts")
    assert isinstance(conflicts, list) and conflicts, problem
    assert [c.get("item") for c in conflicts] == [1], f"only item 1 is short: {conflicts}"
    assert conflicts[0].get("resource_id") == b and conflicts[0].get("reason") == "capacity"
    assert conflicts[0].get("available") == 0

    # Item 0's units were not taken: both are still free and bookable.
    r = booker.get(f"/v1/resources/{a}/availability?from={start}&to={end}")
    assert r.status == 200, r
    assert r.json["intervals"] == [{"start": start, "end": end, "available": 2}]
    assert list_all(admin, "/v1/bookings", resource_id=a) == []
    r = booker.post("/v1/bookings", {"items": [item(a, start, end, 2)]})
    assert r.status == 201, r


def test_items_of_one_booking_add_up_on_one_resource(admin, booker):
    one = create_resource(admin, capacity=1)["id"]
    two = create_resource(admin, capacity=2)["id"]
    body = lambda rid: {"items": [item(rid, "2027-06-02T10:00:00Z", "2027-06-02T12:00:00Z"),
                                  item(rid, "2027-06-02T11:00:00Z", "2027-06-02T13:00:00Z")]}
    problem = assert_problem(booker.post("/v1/bookings", body(one)), 409, "unavailable")
    assert problem["conflicts"] and problem["conflicts"][0]["reason"] == "capacity", problem
    assert list_all(admin, "/v1/bookings", resource_id=one) == []
    r = booker.post("/v1/bookings", body(two))
    assert r.status == 201, r
    # Touching items do not overlap.
    r = booker.post("/v1/bookings", {"items": [
        item(one, "2027-06-02T10:00:00Z", "2027-06-02T11:00:00Z"),
        item(one, "2027-06-02T11:00:00Z", "2027-06-02T12:00:00Z")]})
    assert r.status == 201, r
