"""Optimistic concurrency (If-Match / ETag), booking transitions and resource change rules."""

from bbutil import assert_problem, create_resource, item

START, END = "2027-10-05T10:00:00Z", "2027-10-05T11:00:00Z"


def book(booker, rid, start=START, end=END, qty=1, **extra):
    r = booker.post("/v1/bookings", {"items": [item(rid, start, end, qty)], **extra})
    assert r.status == 201, r
    assert r.etag == f'"{r.json["version"]}"', r
    assert r.header("Location", "").endswith(f"/v1/bookings/{r.json['id']}"), r.headers
    return r.json


def test_booking_patch_needs_current_if_match(admin, booker):
    rid = create_resource(admin, capacity=1)["id"]
    b = book(booker, rid, customer="alice")
    path = f"/v1/bookings/{b['id']}"

    assert_problem(booker.patch(path, {"customer": "bob"}), 428, "precondition_required")
    assert_problem(booker.patch(path, {"customer": "bob"}, headers={"If-Match": '"99"'}),
                   412, "precondition_failed")
    r = booker.get(path)
    assert r.json["customer"] == "alice" and r.json["version"] == b["version"], r
    assert r.etag == f'"{b["version"]}"'

    r = booker.patch(path, {"customer": "bob"}, headers={"If-Match": f'"{b["version"]}"'})
    assert r.status == 200, r
    assert r.json["customer"] == "bob" and r.json["version"] == b["version"] + 1
    assert r.etag == f'"{b["version"] + 1}"'

    # The old ETag is now stale.
    r = booker.patch(path, {"customer": "carol"}, headers={"If-Match": f'"{b["version"]}"'})
    assert_problem(r, 412, "precondition_failed")
    assert booker.get(path).json["customer"] == "bob"

    # If-None-Match with the current ETag: 304.
    r = booker.get(path, headers={"If-None-Match": f'"{b["version"] + 1}"'})
    assert r.status == 304 and not r.body, r


def test_patch_items_checked_without_own_units(admin, booker):
    rid = create_resource(admin, capacity=1)["id"]
    b = book(booker, rid)
    # Moving by half an hour overlaps its own current interval: allowed on capacity 1.
    r = booker.patch(f"/v1/bookings/{b['id']}",
                     {"items": [item(rid, "2027-10-05T10:30:00Z", "2027-10-05T11:30:00Z")]},
                     headers={"If-Match": f'"{b["version"]}"'})
    assert r.status == 200, r
    assert r.json["items"][0]["start"] == "2027-10-05T10:30:00Z"
    # The released half hour is free again, the new one is taken.
    r = booker.get(f"/v1/resources/{rid}/availability?from={START}&to=2027-10-05T12:00:00Z")
    assert r.json["intervals"] == [
        {"start": START, "end": "2027-10-05T10:30:00Z", "available": 1},
        {"start": "2027-10-05T11:30:00Z", "end": "2027-10-05T12:00:00Z", "available": 1}], r

    other = book(booker, rid, "2027-10-05T12:00:00Z", "2027-10-05T13:00:00Z")
    r = booker.patch(f"/v1/bookings/{b['id']}",
                     {"items": [item(rid, "2027-10-05T11:30:00Z", "2027-10-05T12:30:00Z")]},
                     headers={"If-Match": '"2"'})
    assert_problem(r, 409, "unavailable")
    assert booker.get(f"/v1/bookings/{b['id']}").json["version"] == 2
    assert booker.get(f"/v1/bookings/{other['id']}").json["status"] == "confirmed"


def test_transitions(admin, booker):
    rid = create_resource(admin, capacity=3)["id"]
    b = book(booker, rid, hold_seconds=600)
    assert b["status"] == "held"
    path = f"/v1/bookings/{b['id']}"

    assert_problem(booker.post(f"{path}/confirm", headers={"If-Match": '"7"'}),
                   412, "precondition_failed")
    assert_problem(booker.post(f"{path}/cancel", headers={"If-Match": '"7"'}),
                   412, "precondition_failed")
    assert booker.get(path).json["status"] == "held"

    r = booker.post(f"{path}/confirm", headers={"If-Match": f'"{b["version"]}"'})
    assert r.status == 200 and r.json["status"] == "confirmed", r
    confirmed = r.json
    assert "expires_at" not in confirmed or confirmed["expires_at"] is None

    r = booker.post(f"{path}/confirm")
    assert r.status == 200 and r.json == confirmed, "confirming a confirmed booking changed it"

    r = booker.post(f"{path}/cancel")
    assert r.status == 200 and r.json["status"] == "cancelled", r
    cancelled = r.json
    assert cancelled["version"] == confirmed["version"] + 1
    r = booker.post(f"{path}/cancel")
    assert r.status == 200 and r.json == cancelled, "cancel is not idempotent"
    assert_problem(booker.post(f"{path}/confirm"), 409, "invalid_transition")

    held = book(booker, rid, hold_seconds=600)
    r = booker.post(f"/v1/bookings/{held['id']}/cancel")
    assert r.status == 200 and r.json["status"] == "cancelled", r
    assert_problem(booker.post(f"/v1/bookings/{held['id']}/confirm"), 409, "invalid_transition")

    # Cancelled bookings free their units.
    r = booker.get(f"/v1/resources/{rid}/availability?from={START}&to={END}")
    assert r.json["intervals"] == [{"start": START, "end": END, "available": 3}], r


def test_resource_change_rules(admin, booker):
    res = create_resource(admin, capacity=3, name="room")
    rid = res["id"]
    path = f"/v1/resources/{rid}"
    assert res["version"] == 1

    assert_problem(admin.patch(path, {"name": "x"}), 428, "precondition_required")
    assert_problem(admin.patch(path, {"name": "x"}, headers={"If-Match": '"5"'}),
                   412, "precondition_failed")
    assert admin.get(path).json["name"] == "room"
    assert_problem(booker.patch(path, {"name": "x"}, headers={"If-Match": '"1"'}),
                   403, "forbidden")

    r = admin.patch(path, {"name": "hall"}, headers={"If-Match": '"1"'})
    assert r.status == 200 and r.json["name"] == "hall" and r.json["version"] == 2, r
    assert r.etag == '"2"'

    b = book(booker, rid, qty=2)
    r = admin.patch(path, {"capacity": 1}, headers={"If-Match": '"2"'})
    assert_problem(r, 409, "unavailable")
    r = admin.get(path)
    assert r.json["capacity"] == 3 and r.json["version"] == 2, r
    assert booker.get(f"/v1/bookings/{b['id']}").json["status"] == "confirmed"
    r = admin.patch(path, {"capacity": 2}, headers={"If-Match": '"2"'})
    assert r.status == 200 and r.json["capacity"] == 2, r

    r = admin.delete(path)
    assert r.status == 409, f"deleting a resource with a future booking: {r!r}"
    assert_problem(r, 409)
    assert admin.get(path).status == 200
    assert_problem(booker.delete(path), 403, "forbidden")

    assert booker.post(f"/v1/bookings/{b['id']}/cancel").status == 200
    r = admin.delete(path)
    assert r.status in (200, 204), r
    assert_problem(admin.get(path), 404, "not_found")


def test_patch_of_cancelled_booking_is_refused(admin, booker):
    rid = create_resource(admin, capacity=1)["id"]
    b = book(booker, rid)
    r = booker.post(f"/v1/bookings/{b['id']}/cancel")
    assert r.status == 200, r
    r = booker.patch(f"/v1/bookings/{b['id']}", {"customer": "late"},
                     headers={"If-Match": f'"{r.json["version"]}"'})
    assert_problem(r, 409)
    assert booker.get(f"/v1/bookings/{b['id']}").json["status"] == "cancelled"


def test_head_answers_like_get_without_a_body(admin, booker):
    """RFC 9110: HEAD wherever GET is, with GET's headers (ETag, Content-Length) and no body."""
    rid = create_resource(admin, capacity=1)["id"]
    b = book(booker, rid)
    path = f"/v1/bookings/{b['id']}"
    get, head = booker.get(path), booker.request("HEAD", path)
    assert get.status == head.status == 200, (get, head)
    assert head.body == b"", head
    assert head.etag == get.etag == f'"{b["version"]}"', (head.headers, get.headers)
    assert head.header("Content-Length") == str(len(get.body)), head.headers
    # The keep-alive connection still works after a bodiless answer.
    assert booker.get(path).json["id"] == b["id"]
    # A route without GET refuses HEAD and says what it takes.
    r = booker.request("HEAD", f"{path}/cancel")
    assert r.status == 405 and r.header("Allow") == "POST", r
