"""Idempotency-Key on POST: replay, reuse with another body, restart, per-key scope, in-flight.
"""

import json
import threading

from bbutil import Client, assert_problem, create_resource, item, list_all, unique

START, END = "2027-11-20T10:00:00Z", "2027-11-20T11:00:00Z"


def post_raw(client, body, key, **kw):
    return client.request("POST", "/v1/bookings", raw=json.dumps(body).encode(),
                          headers={"Idempotency-Key": key}, **kw)


def test_replay_reuse_restart_and_scope(server_factory):
    server = server_factory()
    admin, booker = server.admin(), server.booker()
    rid = create_resource(admin, capacity=100)["id"]
    body = {"items": [item(rid, START, END)], "customer": unique("idem")}
    key = unique("key")

    first = post_raw(booker, body, key)
    assert first.status == 201, first
    assert (first.header("Idempotent-Replayed") or "false").lower() != "true"

    again = post_raw(booker, body, key)
    assert again.status == 201, again
    assert again.header("Idempotent-Replayed", "").lower() == "true", again.headers
    assert again.body == first.body, "a replay must give the first body"

    other = dict(body, customer="someone-else")
    assert_problem(post_raw(booker, other, key), 422, "idempotency_key_reused")

    # The key works for resource creation too.
    res_body = {"id": unique("res"), "name": "idempotent room"}
    r1 = admin.request("POST", "/v1/resources", raw=json.dumps(res_body).encode(),
                       headers={"Idempotency-Key": key})
    assert r1.status == 201, r1
    r2 = admin.request("POST", "/v1/resources", raw=json.dumps(res_body).encode(),
                       headers={"Idempotency-Key": key})
    assert r2.status == 201 and r2.body == r1.body, r2
    assert r2.header("Idempotent-Replayed", "").lower() == "true"

    # Another API key with the same Idempotency-Key is a different request.
    second_key = server.create_key("booking")
    stranger = server.client(second_key)
    r = post_raw(stranger, body, key)
    assert r.status == 201, r
    assert (r.header("Idempotent-Replayed") or "false").lower() != "true"
    assert r.json["id"] != first.json["id"]

    # Replays survive a restart.
    admin_key, booking_key = server.admin_key, server.booking_key
    server.restart()
    server.admin_key, server.booking_key = admin_key, booking_key
    booker = server.booker()
    r = post_raw(booker, body, key)
    assert r.status == 201 and r.body == first.body, r
    assert r.header("Idempotent-Replayed", "").lower() == "true"
    assert_problem(post_raw(booker, other, key), 422, "idempotency_key_reused")

    mine = list_all(server.admin(), "/v1/bookings", customer=body["customer"])
    assert len(mine) == 2, f"one booking per API key expected, got {len(mine)}"


def test_concurrent_requests_with_one_key(server):
    admin, booker = server.admin(), server.booker()
    rid = create_resource(admin, capacity=100)["id"]
    n = 20
    for attempt in range(3):
        body = {"items": [item(rid, START, END)], "customer": unique("inflight")}
        key = unique("key")
        barrier = threading.Barrier(n)
        answers = [None] * n

        def run(i):
            client = Client(server.port, server.booking_key)
            try:
                client.connect()
                barrier.wait(30)
                answers[i] = post_raw(client, body, key, retry=False)
            except Exception as exc:
                answers[i] = exc
            finally:
                client.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        created = [a for a in answers if not isinstance(a, Exception) and a.status == 201]
        assert created, f"no 201 among {answers}"
        ids = {a.json["id"] for a in created}
        assert len(ids) == 1, f"one key gave several bookings: {ids}"
        for a in answers:
            assert not isinstance(a, Exception), a
            if a.status != 201:
                assert_problem(a, 409, "conflict")
        stored = list_all(admin, "/v1/bookings", customer=body["customer"])
        assert [b["id"] for b in stored] == list(ids), stored


def test_refusal_is_replayed_too(server):
    # The first answer is kept whatever it was: a retry of a refused booking is
    # refused again, even after the unit has become free.
    admin, booker = server.admin(), server.booker()
    rid = create_resource(admin, capacity=1)["id"]
    r = booker.post("/v1/bookings", {"items": [item(rid, START, END)]})
    assert r.status == 201, r
    blocker = r.json
    body = {"items": [item(rid, START, END)]}
    key = unique("key")
    first = post_raw(booker, body, key)
    assert_problem(first, 409, "unavailable")
    assert booker.post(f"/v1/bookings/{blocker['id']}/cancel").status == 200
    again = post_raw(booker, body, key)
    assert again.status == 409 and again.body == first.body, again
    assert again.header("Idempotent-Replayed", "").lower() == "true"
    assert post_raw(booker, body, unique("key")).status == 201
