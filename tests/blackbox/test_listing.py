"""Listings: stable paging under inserts, filters with half-open overlap, id order, limits."""

from bbutil import assert_problem, create_resource, error_parameters, item, list_all, qs, unique


def page(client, path, **params):
    r = client.get(f"{path}?{qs(**params)}")
    assert r.status == 200, r
    assert set(r.json) == {"data", "next_cursor"}, r.json.keys()
    return r.json["data"], r.json["next_cursor"]


def test_paging_while_bookings_are_added_never_repeats_or_skips(admin, booker):
    rid = create_resource(admin, capacity=1000)["id"]

    def add(n):
        r = booker.post("/v1/bookings", {"items": [
            item(rid, f"2027-02-{1 + n % 28:02d}T10:00:00Z", f"2027-02-{1 + n % 28:02d}T11:00:00Z")
        ]})
        assert r.status == 201, r
        return r.json["id"]

    older = [add(n) for n in range(25)]
    seen = []
    cursor = None
    for turn in range(100):
        params = {"resource_id": rid, "limit": 7}
        if cursor:
            params["cursor"] = cursor
        data, cursor = page(booker, "/v1/bookings", **params)
        assert len(data) <= 7
        seen += [b["id"] for b in data]
        for k in range(3):
            add(100 + 3 * turn + k)
        if not cursor:
            break
        assert len(data) == 7, "a page short of the limit must be the last"
    assert len(seen) == len(set(seen)), "paging repeated a booking"
    assert set(older) <= set(seen), "paging skipped an older booking"

    # Without inserts two walks give the same order.
    walk1 = [b["id"] for b in list_all(booker, "/v1/bookings", resource_id=rid, limit=9)]
    walk2 = [b["id"] for b in list_all(booker, "/v1/bookings", resource_id=rid, limit=1000)]
    assert walk1 == walk2


def test_filters(admin, booker):
    rid = create_resource(admin, capacity=5)["id"]
    who = unique("cust")
    ids = {}
    for name, start, end in (("a", "10", "11"), ("b", "11", "12"), ("c", "12", "13")):
        body = {"items": [item(rid, f"2027-06-10T{start}:00:00Z", f"2027-06-10T{end}:00:00Z")],
                "customer": who if name != "c" else who + "-other"}
        if name == "b":
            body["hold_seconds"] = 3600
        r = booker.post("/v1/bookings", body)
        assert r.status == 201, r
        ids[name] = r.json["id"]
    booker.post(f"/v1/bookings/{ids['a']}/cancel")

    def listed(**params):
        return {b["id"] for b in list_all(booker, "/v1/bookings", resource_id=rid, **params)}

    assert listed(**{"from": "2027-06-10T11:00:00Z", "to": "2027-06-10T12:00:00Z"}) == {ids["b"]}
    assert listed(**{"from": "2027-06-10T10:59:59Z", "to": "2027-06-10T12:00:01Z"}) == set(
        ids.values())
    assert listed(customer=who) == {ids["a"], ids["b"]}
    assert listed(status="held") == {ids["b"]}
    assert listed(status="cancelled") == {ids["a"]}
    assert listed(status="confirmed") == {ids["c"]}
    assert listed(status="held", customer=who + "-other") == set()


def test_resources_are_listed_in_id_order(admin, booker):
    prefix = unique("order")
    made = [create_resource(admin, id=f"{prefix}-{s}")["id"] for s in ("b", "a", "B", "c", "_")]
    ids = [r["id"] for r in list_all(booker, "/v1/resources", limit=2)]
    assert ids == sorted(ids, key=lambda s: s.encode()), "not in byte order"
    assert [i for i in ids if i.startswith(prefix)] == sorted(made, key=lambda s: s.encode())


def test_limits(booker):
    data, _ = page(booker, "/v1/bookings", limit=1000)
    for bad in (0, 1001, -1, "x"):
        problem = assert_problem(booker.get(f"/v1/bookings?limit={bad}"), 422, "validation")
        assert "limit" in error_parameters(problem)
    r = booker.get("/v1/bookings?cursor=not-a-cursor")
    assert r.status in (400, 422), r
    assert_problem(r, r.status)
