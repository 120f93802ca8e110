"""Opening hours in local time across DST, slots counted from local midnight, closures,
and the instant format (offsets in, UTC Z out, one-second precision).

Expected instants are computed with Python's zoneinfo (the OS tz database), an
oracle independent of the server; a few are also spelled out literally.
"""

from datetime import date, datetime, time as dtime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bbutil import assert_problem, create_resource, error_pointers, item, iso, qs

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
NINE_TO_FIVE = {d: [["09:00", "17:00"]] for d in DAYS}


def local(tz, day, hh, mm=0):
    return datetime.combine(day, dtime(hh, mm), ZoneInfo(tz)).astimezone(timezone.utc)


def local_midnight(tz, day):
    return datetime.combine(day, dtime(0, 0), ZoneInfo(tz)).astimezone(timezone.utc)


def availability(client, rid, frm, to):
    r = client.get(f"/v1/resources/{rid}/availability?{qs(**{'from': frm, 'to': to})}")
    assert r.status == 200, r
    assert r.json["resource_id"] == rid
    return r.json["intervals"]


def slots(client, rid, frm, to, **params):
    r = client.get(f"/v1/resources/{rid}/slots?{qs(**{'from': frm, 'to': to}, **params)}")
    assert r.status == 200, r
    return r.json


@pytest.fixture(scope="module")
def berlin(server):
    return create_resource(server.admin(), capacity=2, timezone="Europe/Berlin",
                           hours=NINE_TO_FIVE)["id"]


@pytest.fixture(scope="module")
def new_york(server):
    return create_resource(server.admin(), capacity=2, timezone="America/New_York",
                           hours=NINE_TO_FIVE)["id"]


def test_berlin_opens_at_0800z_in_winter_and_0700z_in_summer(booker, berlin):
    assert availability(booker, berlin, "2027-01-15T00:00:00Z", "2027-01-16T00:00:00Z") == [
        {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T16:00:00Z", "available": 2}]
    assert availability(booker, berlin, "2027-07-15T00:00:00Z", "2027-07-16T00:00:00Z") == [
        {"start": "2027-07-15T07:00:00Z", "end": "2027-07-15T15:00:00Z", "available": 2}]


@pytest.mark.parametrize("tz,change_day", [
    ("Europe/Berlin", date(2027, 3, 28)), ("Europe/Berlin", date(2027, 10, 31)),
    ("America/New_York", date(2027, 3, 14)), ("America/New_York", date(2027, 11, 7))])
def test_hours_follow_local_clock_across_dst(booker, berlin, new_york, tz, change_day):
    rid = berlin if tz == "Europe/Berlin" else new_york
    days = [change_day - timedelta(days=1), change_day, change_day + timedelta(days=1)]
    frm = local_midnight(tz, days[0])
    to = local_midnight(tz, days[-1] + timedelta(days=1))
    expected = [{"start": iso(local(tz, d, 9)), "end": iso(local(tz, d, 17)), "available": 2}
                for d in days]
    assert availability(booker, rid, iso(frm), iso(to)) == expected
    # The offsets really differ before and after the change.
    assert local(tz, days[0], 9).hour != local(tz, days[2], 9).hour


def test_literal_dst_days(booker, berlin, new_york):
    got = availability(booker, berlin, "2027-03-28T00:00:00Z", "2027-03-29T00:00:00Z")
    assert got == [{"start": "2027-03-28T07:00:00Z", "end": "2027-03-28T15:00:00Z",
                    "available": 2}]
    got = availability(booker, berlin, "2027-10-31T00:00:00Z", "2027-11-01T00:00:00Z")
    assert got == [{"start": "2027-10-31T08:00:00Z", "end": "2027-10-31T16:00:00Z",
                    "available": 2}]
    got = availability(booker, new_york, "2027-03-14T00:00:00Z", "2027-03-15T00:00:00Z")
    assert got == [{"start": "2027-03-14T13:00:00Z", "end": "2027-03-14T21:00:00Z",
                    "available": 2}]
    got = availability(booker, new_york, "2027-11-07T00:00:00Z", "2027-11-08T00:00:00Z")
    assert got == [{"start": "2027-11-07T14:00:00Z", "end": "2027-11-07T22:00:00Z",
                    "available": 2}]


@pytest.mark.parametrize("tz,day", [
    ("Europe/Berlin", date(2027, 3, 28)), ("Europe/Berlin", date(2027, 10, 31)),
    ("America/New_York", date(2027, 3, 14)), ("America/New_York", date(2027, 11, 7)),
    ("Europe/Berlin", date(2027, 1, 15))])
def test_quarter_hour_slots_on_local_clock(booker, berlin, new_york, tz, day):
    rid = berlin if tz == "Europe/Berlin" else new_york
    frm, to = local_midnight(tz, day), local_midnight(tz, day + timedelta(days=1))
    got = slots(booker, rid, iso(frm), iso(to), duration=3600, step=900)
    assert got["resource_id"] == rid and got["truncated"] is False
    expected = []
    t = local(tz, day, 9)
    while t + timedelta(hours=1) <= local(tz, day, 17):
        expected.append({"start": iso(t), "end": iso(t + timedelta(hours=1))})
        t += timedelta(minutes=15)
    assert got["slots"] == expected
    assert len(expected) == 29
    for s in got["slots"]:
        assert datetime.fromisoformat(s["start"].replace("Z", "+00:00")).astimezone(
            ZoneInfo(tz)).minute in (0, 15, 30, 45)


def test_slots_count_elapsed_time_from_local_midnight(booker, berlin):
    # Step 90 min on the day Berlin skips 02:00-03:00: starts are midnight + k*90 min of
    # elapsed time, so after the jump they fall on local 04:00, 05:30, ... 10:00, 11:30.
    day = date(2027, 3, 28)
    got = slots(booker, berlin, "2027-03-27T23:00:00Z", "2027-03-28T22:00:00Z",
                duration=1800, step=5400)
    starts = [s["start"] for s in got["slots"]]
    assert starts == ["2027-03-28T08:00:00Z", "2027-03-28T09:30:00Z", "2027-03-28T11:00:00Z",
                      "2027-03-28T12:30:00Z", "2027-03-28T14:00:00Z"], starts
    midnight = local_midnight("Europe/Berlin", day)
    for s in starts:
        elapsed = datetime.fromisoformat(s.replace("Z", "+00:00")) - midnight
        assert elapsed.total_seconds() % 5400 == 0


def test_slots_respect_quantity_limit_and_range(admin, booker):
    rid = create_resource(admin, capacity=2)["id"]
    r = booker.post("/v1/bookings", {"items": [
        item(rid, "2027-02-01T10:00:00Z", "2027-02-01T11:00:00Z", 1)]})
    assert r.status == 201, r
    got = slots(booker, rid, "2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z",
                duration=3600, quantity=2)
    assert [s["start"] for s in got["slots"]] == ["2027-02-01T09:00:00Z", "2027-02-01T11:00:00Z"]
    got = slots(booker, rid, "2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z",
                duration=3600, quantity=1)
    assert len(got["slots"]) == 3
    got = slots(booker, rid, "2027-02-01T00:00:00Z", "2027-02-02T00:00:00Z",
                duration=600, limit=5)
    assert len(got["slots"]) == 5 and got["truncated"] is True


def test_nonexistent_and_repeated_local_times(admin, booker):
    # 02:30 does not exist on 2027-03-28 in Berlin: it means 03:30 CEST (01:30Z).
    # 02:30 occurs twice on 2027-10-31: the first occurrence, 02:30 CEST (00:30Z).
    rid = create_resource(admin, timezone="Europe/Berlin",
                          hours={"sun": [["02:30", "05:00"]]})["id"]
    assert availability(booker, rid, "2027-03-28T00:00:00Z", "2027-03-29T00:00:00Z") == [
        {"start": "2027-03-28T01:30:00Z", "end": "2027-03-28T03:00:00Z", "available": 1}]
    assert availability(booker, rid, "2027-10-31T00:00:00Z", "2027-11-01T00:00:00Z") == [
        {"start": "2027-10-31T00:30:00Z", "end": "2027-10-31T04:00:00Z", "available": 1}]


def test_booking_outside_hours_is_closed(booker, berlin):
    r = booker.post("/v1/bookings", {"items": [
        item(berlin, "2027-01-15T07:00:00Z", "2027-01-15T08:30:00Z")]})
    problem = assert_problem(r, 409, "unavailable")
    assert problem["conflicts"][0]["reason"] == "closed", problem
    assert problem["conflicts"][0]["item"] == 0
    # The same local hours in summer are 07:00Z: inside.
    r = booker.post("/v1/bookings", {"items": [
        item(berlin, "2027-07-16T07:00:00Z", "2027-07-16T08:30:00Z")]})
    assert r.status == 201, r


def test_closures(admin, booker):
    rid = create_resource(admin, capacity=1, closures=[
        {"start": "2027-01-20T10:00:00Z", "end": "2027-01-20T12:00:00Z"}])["id"]
    assert availability(booker, rid, "2027-01-20T08:00:00Z", "2027-01-20T14:00:00Z") == [
        {"start": "2027-01-20T08:00:00Z", "end": "2027-01-20T10:00:00Z", "available": 1},
        {"start": "2027-01-20T12:00:00Z", "end": "2027-01-20T14:00:00Z", "available": 1}]
    r = booker.post("/v1/bookings", {"items": [
        item(rid, "2027-01-20T11:00:00Z", "2027-01-20T11:30:00Z")]})
    problem = assert_problem(r, 409, "unavailable")
    assert problem["conflicts"][0]["reason"] == "closed"
    # Touching the closure is fine: intervals are half-open.
    r = booker.post("/v1/bookings", {"items": [
        item(rid, "2027-01-20T09:00:00Z", "2027-01-20T10:00:00Z")]})
    assert r.status == 201, r
    got = slots(booker, rid, "2027-01-20T08:00:00Z", "2027-01-20T14:00:00Z", duration=3600)
    assert [s["start"] for s in got["slots"]] == [
        "2027-01-20T08:00:00Z", "2027-01-20T12:00:00Z", "2027-01-20T13:00:00Z"]


def test_instant_formats(admin, booker):
    rid = create_resource(admin, capacity=5)["id"]
    r = booker.post("/v1/bookings", {"items": [
        item(rid, "2027-04-01T10:00:00+01:00", "2027-04-01T05:30:00-05:00")]})
    assert r.status == 201, r
    assert r.json["items"][0]["start"] == "2027-04-01T09:00:00Z"
    assert r.json["items"][0]["end"] == "2027-04-01T10:30:00Z"
    assert r.json["created_at"].endswith("Z")

    r = booker.post("/v1/bookings", {"items": [
        item(rid, "2027-04-01T10:00:00.000Z", "2027-04-01T11:00:00.000+00:00")]})
    assert r.status == 201, r
    assert r.json["items"][0]["start"] == "2027-04-01T10:00:00Z"
    assert r.json["items"][0]["end"] == "2027-04-01T11:00:00Z"

    r = booker.post("/v1/bookings", {"items": [
        item(rid, "2027-04-01T10:00:00.5Z", "2027-04-01T11:00:00Z")]})
    problem = assert_problem(r, 422, "validation")
    assert "/items/0/start" in error_pointers(problem), problem

    r = booker.get(f"/v1/resources/{rid}/availability?" + qs(**{
        "from": "2027-04-01T11:00:00+01:00", "to": "2027-04-01T12:00:00+01:00"}))
    assert r.status == 200, r
    assert r.json["from"] == "2027-04-01T10:00:00Z" and r.json["to"] == "2027-04-01T11:00:00Z"
    assert r.json["intervals"] == [
        {"start": "2027-04-01T10:00:00Z", "end": "2027-04-01T10:30:00Z", "available": 3},
        {"start": "2027-04-01T10:30:00Z", "end": "2027-04-01T11:00:00Z", "available": 4}]


def test_search_matches_slots(booker, berlin, new_york):
    frm, to = "2027-03-27T00:00:00Z", "2027-03-30T00:00:00Z"
    body = {"resource_ids": [new_york, berlin], "from": frm, "to": to, "duration": 3600,
            "step": 900, "limit_per_resource": 40}
    r = booker.post("/v1/availability/search", body)
    assert r.status == 200, r
    results = r.json["results"]
    assert [x["resource_id"] for x in results] == [new_york, berlin]
    for res in results:
        full = slots(booker, res["resource_id"], frm, to, duration=3600, step=900)
        assert res["slots"] == full["slots"][:40]
        assert res["truncated"] is (len(full["slots"]) > 40)

    body.pop("resource_ids")
    r = booker.post("/v1/availability/search", dict(body, limit_per_resource=1))
    assert r.status == 200, r
    ids = [x["resource_id"] for x in r.json["results"]]
    assert ids == sorted(ids, key=lambda s: s.encode()) and {berlin, new_york} <= set(ids)


def test_hours_through_midnight_form_one_interval(admin, booker):
    # 2027-01-04 is a Monday. 22:00-24:00 then 00:00-02:00 is one open stretch.
    rid = create_resource(admin, hours={"mon": [["22:00", "24:00"]],
                                        "tue": [["00:00", "02:00"]]})["id"]
    assert availability(booker, rid, "2027-01-04T00:00:00Z", "2027-01-06T00:00:00Z") == [
        {"start": "2027-01-04T22:00:00Z", "end": "2027-01-05T02:00:00Z", "available": 1}]
    r = booker.post("/v1/bookings", {"items": [
        item(rid, "2027-01-04T23:00:00Z", "2027-01-05T01:00:00Z")]})
    assert r.status == 201, r
