"""A booking whose 201 reached the client survives SIGKILL, and the invariant holds after it.

Method: 32 threads book random intervals on three small resources for about two
seconds; the server is then killed with SIGKILL while requests are in flight. Every
201 is recorded (and every request whose answer never came). After a restart on
the same database every acknowledged booking must be there with the same items,
no resource may hold more units at any instant than its capacity, and the only
bookings that nobody saw acknowledged are at most the unanswered requests.
Three rounds on one database; each round re-checks all earlier rounds.
"""

import http.client
import random
import signal
import threading
import time

from bbutil import Client, create_resource, item, list_all, max_overlap, norm_items, ts

THREADS = 32
LOAD_S = 2.0
CAPACITY = 3


def load(server, resources, acked, unknown, other, stop, seed):
    rng = random.Random(seed)
    client = Client(server.port, server.booking_key, timeout=10)
    try:
        while not stop.is_set():
            rid = rng.choice(resources)
            day = rng.randint(1, 20)
            start_h = rng.randint(0, 20)
            end_h = min(24, start_h + rng.randint(1, 4))
            end = (f"2027-08-{day:02d}T{end_h:02d}:00:00Z" if end_h < 24
                   else f"2027-08-{day + 1:02d}T00:00:00Z")
            body = {"items": [item(rid, f"2027-08-{day:02d}T{start_h:02d}:00:00Z", end,
                                   rng.randint(1, 2))]}
            try:
                r = client.post("/v1/bookings", body, retry=False)
            except (OSError, http.client.HTTPException):
                unknown.append(body)
                return  # the server is gone
            if r.status == 201:
                acked[r.json["id"]] = r.json
            elif r.status != 409:
                other.append(r)
    finally:
        client.close()


def check_database(server, resources_by_round, acked, unknown_count):
    admin = server.admin()
    now = time.time()
    listed = {}
    for resources in resources_by_round:
        for rid in resources:
            bookings = list_all(admin, "/v1/bookings", resource_id=rid)
            spans = []
            for b in bookings:
                listed[b["id"]] = b
                active = b["status"] == "confirmed" or (
                    b["status"] == "held" and ts(b["expires_at"]) > now)
                if active:
                    spans += [(ts(i["start"]), ts(i["end"]), i.get("quantity", 1))
                              for i in b["items"] if i["resource_id"] == rid]
            assert max_overlap(spans) <= CAPACITY, f"resource {rid} is oversold"

    lost = [bid for bid in acked if bid not in listed]
    assert not lost, f"{len(lost)} acknowledged bookings lost, e.g. {lost[:5]}"
    for bid, booking in acked.items():
        assert norm_items(listed[bid]["items"]) == norm_items(booking["items"]), bid
        assert listed[bid]["status"] == booking["status"], bid
    # Spot-check the single-booking read path too.
    for bid in list(acked)[:20]:
        r = admin.get(f"/v1/bookings/{bid}")
        assert r.status == 200 and norm_items(r.json["items"]) == norm_items(acked[bid]["items"])

    phantoms = [bid for bid in listed if bid not in acked]
    assert len(phantoms) <= unknown_count, (
        f"{len(phantoms)} bookings nobody asked for (only {unknown_count} unanswered requests)")


def test_acknowledged_bookings_survive_sigkill(server_factory):
    server = server_factory()
    db = server.db
    acked = {}
    unknown_total = 0
    resources_by_round = []

    for round_no in range(3):
        admin = server.admin()
        resources = [create_resource(admin, capacity=CAPACITY)["id"] for _ in range(3)]
        resources_by_round.append(resources)
        round_acked, unknown, other = {}, [], []
        stop = threading.Event()
        threads = [threading.Thread(target=load, args=(server, resources, round_acked, unknown,
                                                       other, stop, round_no * 100 + n))
                   for n in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(LOAD_S)
        server.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads), "load threads hung after the kill"

        print(f"round {round_no}: {len(round_acked)} acknowledged, {len(unknown)} unanswered")
        assert not other, f"unexpected answers under load: {other[:3]}"
        assert len(round_acked) > 20, f"round {round_no}: too few bookings to mean anything"
        acked.update(round_acked)
        unknown_total += len(unknown)

        keys = (server.admin_key, server.booking_key)
        server = server_factory(db=db, keys=False)
        server.admin_key, server.booking_key = keys  # keys live in the database
        check_database(server, resources_by_round, acked, unknown_total)
