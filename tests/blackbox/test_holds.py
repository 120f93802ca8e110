"""Holds count against capacity until `expires_at`, and stop counting exactly then.

Method: two-second holds on resources of capacity 1. While held, a competing
booking is refused and a hold can be confirmed. After sleeping past expires_at
(no clean-up is triggered by the test) the hold reads `expired`, its unit can be
booked again, confirming it is 409 hold_expired and cancelling it returns it
unchanged.
"""

import time

from bbutil import assert_problem, create_resource, item, ts

START, END = "2027-09-01T10:00:00Z", "2027-09-01T11:00:00Z"


def sleep_until(instant):
    delay = instant - time.time()
    if delay > 0:
        time.sleep(delay)


def test_hold_lifecycle(admin, booker):
    held_res = create_resource(admin, capacity=1)["id"]
    confirmed_res = create_resource(admin, capacity=1)["id"]

    r = booker.post("/v1/bookings", {"items": [item(held_res, START, END)], "hold_seconds": 2})
    assert r.status == 201, r
    hold = r.json
    assert hold["status"] == "held"
    expires = ts(hold["expires_at"])
    created = ts(hold["created_at"])
    assert 1 <= expires - created <= 3, hold

    r = booker.post("/v1/bookings",
                    {"items": [item(confirmed_res, START, END)], "hold_seconds": 2})
    assert r.status == 201, r
    to_confirm = r.json

    # While held, the unit is taken.
    r = booker.post("/v1/bookings", {"items": [item(held_res, START, END)]})
    problem = assert_problem(r, 409, "unavailable")
    assert problem["conflicts"][0]["reason"] == "capacity"
    r = booker.get(f"/v1/bookings/{hold['id']}")
    assert r.status == 200 and r.json["status"] == "held", r

    # Confirming before expiry works and the confirmation outlives the hold.
    r = booker.post(f"/v1/bookings/{to_confirm['id']}/confirm")
    assert r.status == 200, r
    assert r.json["status"] == "confirmed"
    assert r.json["version"] == to_confirm["version"] + 1
    confirmed_expiry = ts(to_confirm["expires_at"])

    sleep_until(max(expires, confirmed_expiry) + 0.3)

    # Past expires_at: expired, free again, with no clean-up asked for.
    r = booker.get(f"/v1/bookings/{hold['id']}")
    assert r.status == 200, r
    assert r.json["status"] == "expired", r
    r = booker.get(f"/v1/resources/{held_res}/availability?from={START}&to={END}")
    assert r.status == 200 and r.json["intervals"] == [
        {"start": START, "end": END, "available": 1}], r
    r = booker.post("/v1/bookings", {"items": [item(held_res, START, END)]})
    assert r.status == 201, f"the expired hold still counts: {r!r}"

    # The confirmed one still holds its unit.
    r = booker.get(f"/v1/bookings/{to_confirm['id']}")
    assert r.status == 200 and r.json["status"] == "confirmed", r
    r = booker.post("/v1/bookings", {"items": [item(confirmed_res, START, END)]})
    assert_problem(r, 409, "unavailable")

    # Transitions of an expired hold.
    r = booker.post(f"/v1/bookings/{hold['id']}/confirm")
    assert_problem(r, 409, "hold_expired")
    before = booker.get(f"/v1/bookings/{hold['id']}").json
    r = booker.post(f"/v1/bookings/{hold['id']}/cancel")
    assert r.status == 200, r
    assert r.json["status"] == "expired" and r.json["version"] == before["version"], r
    after = booker.get(f"/v1/bookings/{hold['id']}").json
    assert after == before, "cancelling an expired hold changed it"


def test_expired_hold_filtered_by_effective_status(admin, booker):
    res = create_resource(admin, capacity=2)["id"]
    r = booker.post("/v1/bookings", {"items": [item(res, START, END)], "hold_seconds": 1})
    assert r.status == 201, r
    hold = r.json
    r = booker.get(f"/v1/bookings?resource_id={res}&status=held")
    assert [b["id"] for b in r.json["data"]] == [hold["id"]], r
    sleep_until(ts(hold["expires_at"]) + 0.3)
    r = booker.get(f"/v1/bookings?resource_id={res}&status=held")
    assert r.status == 200 and r.json["data"] == [], r
    r = booker.get(f"/v1/bookings?resource_id={res}&status=expired")
    assert [b["id"] for b in r.json["data"]] == [hold["id"]], r


def test_expired_holds_do_not_block_resource_changes(admin, booker):
    res = create_resource(admin, capacity=2)
    path = f"/v1/resources/{res['id']}"
    r = booker.post("/v1/bookings", {"items": [item(res["id"], START, END, 2)],
                                     "hold_seconds": 1})
    assert r.status == 201, r
    hold = r.json
    r = admin.patch(path, {"capacity": 1}, headers={"If-Match": f'"{res["version"]}"'})
    assert_problem(r, 409, "unavailable")
    assert_problem(admin.delete(path), 409)

    sleep_until(ts(hold["expires_at"]) + 0.3)
    r = admin.patch(path, {"capacity": 1}, headers={"If-Match": f'"{res["version"]}"'})
    assert r.status == 200 and r.json["capacity"] == 1, r
    r = admin.delete(path)
    assert r.status in (200, 204), f"only an expired hold remains: {r!r}"
