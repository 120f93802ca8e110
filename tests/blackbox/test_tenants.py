"""Tenants: `bookd tenants create|list`, keys bound to a tenant, and no leak across tenants.

Goal: with tenant B's keys, every route on tenant A's objects answers exactly as it does for an
id that never existed (404 `not_found` for ids in the path), so that B learns nothing, not even
that the object exists; B's lists never hold A's objects; and an Idempotency-Key that A used is
B's own, fresh key. Method: two tenants made with the command line, an admin and a booking key
in each; every request on A's ids is sent twice with B's key, once with A's id and once with a
never-used id of the same shape, and the two answers must be the same (status, problem body with
the id swapped, headers that could carry state).
"""

import json
import uuid

import pytest

from bbutil import assert_problem, error_pointers, item, list_all, qs, unique

START, END = "2027-09-14T09:00:00Z", "2027-09-14T10:00:00Z"
LATER_START, LATER_END = "2027-09-14T11:00:00Z", "2027-09-14T12:00:00Z"
DAY = "from=2027-09-14T00:00:00Z&to=2027-09-15T00:00:00Z"


class Tenant:
    def __init__(self, server, tenant_id):
        self.id = tenant_id
        self.admin = server.client(create_key(server, "admin", tenant_id))
        self.booker = server.client(create_key(server, "booking", tenant_id))


def create_tenant(server, name=None):
    tenant_id = unique("tenant")
    args = ["tenants", "create", tenant_id] + (["--name", name] if name else [])
    r = server.cli(*args, check=False)
    assert r.returncode == 0, f"bookd {' '.join(args)} failed: {r.stdout}{r.stderr}"
    assert r.stdout.strip() == tenant_id, f"tenants create printed {r.stdout!r}"
    return tenant_id


def create_key(server, role, tenant_id):
    out = server.cli("keys", "create", "--role", role, "--tenant", tenant_id).stdout.strip()
    assert out and len(out.split()) == 1, f"keys create printed more than a key: {out!r}"
    return out


def ghost_like(real):
    """An id of the same length and alphabet as `real` that was never created."""
    while True:
        ghost = real[:-10] + uuid.uuid4().hex[:10]
        if ghost != real:
            return ghost


# Headers that would reveal state if a refused request carried them.
STATE_HEADERS = ("ETag", "Location", "Last-Modified", "Idempotent-Replayed")


def same_as_ghost(client, method, path, real, ghost, body=None, headers=None):
    """Sends the request with A's id and with a never-used id; returns the answer for A's id
    after checking that both answers are indistinguishable."""
    def send(the_id):
        raw = None
        if body is not None:
            raw = json.dumps(body).replace(real, the_id).encode()
        return client.request(method, path.replace(real, the_id), raw=raw, headers=headers)

    mine, other = send(real), send(ghost)
    assert mine.status == other.status, f"{method} {path}: {mine!r} vs never-used id {other!r}"
    assert mine.body.replace(real.encode(), ghost.encode()) == other.body, \
        f"{method} {path}: the answer differs from a never-used id's: {mine!r} vs {other!r}"
    for name in STATE_HEADERS:
        assert mine.header(name) is None, f"{method} {path} sent {name}: {mine.headers}"
    return mine


def assert_reveals_nothing(resp, secrets):
    text = resp.body.decode("utf-8", "replace")
    for s in secrets:
        assert s not in text, f"the answer reveals {s!r}: {resp!r}"


def test_tenants_are_created_listed_and_bind_keys(server):
    name = "Acme " + unique("name")
    tenant_id = create_tenant(server, name)
    listed = server.cli("tenants", "list").stdout.splitlines()
    rows = [line.split(" ", 2) for line in listed]
    ids = [r[0] for r in rows]
    assert "default" in ids, listed
    assert [tenant_id, name] in [[r[0], r[2]] for r in rows if len(r) == 3], listed
    assert ids == sorted(ids), "tenants are listed by id"

    again = server.cli("tenants", "create", tenant_id, check=False)
    assert again.returncode != 0 and again.stdout == "", again
    assert "already exists" in again.stderr, again.stderr
    bad = server.cli("tenants", "create", "-not an id", check=False)
    assert bad.returncode != 0 and bad.stdout == "", bad

    # A key needs a tenant that exists; the refusal says so and prints no key.
    missing = unique("nobody")
    r = server.cli("keys", "create", "--role", "admin", "--tenant", missing, check=False)
    assert r.returncode != 0, r
    assert r.stdout.strip() == "", f"a refused key must print nothing on stdout: {r.stdout!r}"
    assert missing in r.stderr and "tenants create" in r.stderr, r.stderr
    keys = server.cli("keys", "list").stdout
    assert missing not in keys

    # Keys without --tenant are the default tenant's; --tenant binds the key to it.
    key = create_key(server, "admin", tenant_id)
    keys = server.cli("keys", "list").stdout.splitlines()
    assert any(line.split()[1:3] == ["admin", tenant_id] for line in keys), keys
    assert server.client(key).get("/v1/resources").status == 200
    default_key = server.cli("keys", "create", "--role", "booking").stdout.strip()
    assert server.client(default_key).get("/v1/resources").status == 200
    assert any(line.split()[1:3] == ["booking", "default"]
               for line in server.cli("keys", "list").stdout.splitlines())


@pytest.fixture(scope="module")
def world(server):
    """Tenant A with a resource, a held and a confirmed booking (both made with an
    Idempotency-Key); tenant B with keys and nothing else yet."""
    a = Tenant(server, create_tenant(server, "Tenant A"))
    b = Tenant(server, create_tenant(server, "Tenant B"))
    w = {"a": a, "b": b, "rid": unique("res"), "secret_name": unique("A-secret-room"),
         "customer": unique("a-customer"), "meta": unique("a-meta"),
         "res_key": unique("idem-res"), "book_key": unique("idem-book")}
    w["res_body"] = {"id": w["rid"], "name": w["secret_name"], "capacity": 3,
                     "timezone": "Europe/Paris", "metadata": {"secret": w["meta"]}}
    r = a.admin.request("POST", "/v1/resources", raw=json.dumps(w["res_body"]).encode(),
                        headers={"Idempotency-Key": w["res_key"]})
    assert r.status == 201, r
    w["book_body"] = {"items": [item(w["rid"], START, END)], "customer": w["customer"],
                      "hold_seconds": 3600, "metadata": {"secret": w["meta"]}}
    r = a.booker.request("POST", "/v1/bookings", raw=json.dumps(w["book_body"]).encode(),
                         headers={"Idempotency-Key": w["book_key"]})
    assert r.status == 201, r
    w["held"] = r.json["id"]
    w["held_answer"] = r.body
    r = a.booker.post("/v1/bookings", {"items": [item(w["rid"], LATER_START, LATER_END)],
                                       "customer": w["customer"]})
    assert r.status == 201, r
    w["confirmed"] = r.json["id"]
    w["secrets"] = [w["secret_name"], w["customer"], w["meta"], "Europe/Paris",
                    w["held"], w["confirmed"]]
    return w


def secrets_but(world, *named):
    """A's data that a request naming `named` must not get back."""
    return [s for s in world["secrets"] if s not in named]


def test_resource_routes_of_another_tenant_are_not_found(world):
    b, rid = world["b"], world["rid"]
    ghost = ghost_like(rid)
    checks = [
        (b.admin, "GET", f"/v1/resources/{rid}", None, None),
        (b.booker, "GET", f"/v1/resources/{rid}", None, None),
        (b.admin, "GET", f"/v1/resources/{rid}", None, {"If-None-Match": '"1"'}),
        (b.admin, "PATCH", f"/v1/resources/{rid}", {"name": "mine now"}, {"If-Match": '"1"'}),
        (b.admin, "DELETE", f"/v1/resources/{rid}", None, None),
        (b.admin, "DELETE", f"/v1/resources/{rid}", None, {"If-Match": '"1"'}),
        (b.booker, "GET", f"/v1/resources/{rid}/availability?{DAY}", None, None),
        (b.booker, "GET", f"/v1/resources/{rid}/slots?{DAY}&duration=3600", None, None),
    ]
    for client, method, path, body, headers in checks:
        resp = same_as_ghost(client, method, path, rid, ghost, body, headers)
        assert_problem(resp, 404, "not_found")
        assert_reveals_nothing(resp, secrets_but(world))

    # A booking key may not write resources at all: the same 403 for any id.
    resp = same_as_ghost(b.booker, "PATCH", f"/v1/resources/{rid}", rid, ghost,
                         {"name": "x"}, {"If-Match": '"1"'})
    assert_problem(resp, 403, "forbidden")


def test_search_and_booking_naming_another_tenants_resource_is_as_for_an_unknown_id(world):
    b, rid = world["b"], world["rid"]
    ghost = ghost_like(rid)
    search = {"resource_ids": [rid], "from": "2027-09-14T00:00:00Z",
              "to": "2027-09-15T00:00:00Z", "duration": 3600}
    resp = same_as_ghost(b.booker, "POST", "/v1/availability/search", rid, ghost, search)
    problem = assert_problem(resp, 422, "validation")
    assert "/resource_ids/0" in error_pointers(problem), problem
    assert_reveals_nothing(resp, secrets_but(world))

    # Searching everything B has finds none of A's resources.
    r = b.booker.post("/v1/availability/search", {k: v for k, v in search.items()
                                                   if k != "resource_ids"})
    assert r.status == 200, r
    assert rid not in [x["resource_id"] for x in r.json["results"]]

    booking = {"items": [item(rid, START, END)], "customer": "b-customer"}
    resp = same_as_ghost(b.booker, "POST", "/v1/bookings", rid, ghost, booking)
    problem = assert_problem(resp, 422, "validation")
    assert "/items/0/resource_id" in error_pointers(problem), problem
    assert_reveals_nothing(resp, secrets_but(world))


def test_booking_routes_of_another_tenant_are_not_found(world):
    b = world["b"]
    for bid in (world["held"], world["confirmed"]):
        ghost = ghost_like(bid)
        checks = [
            (b.booker, "GET", f"/v1/bookings/{bid}", None, None),
            (b.admin, "GET", f"/v1/bookings/{bid}", None, None),
            (b.booker, "GET", f"/v1/bookings/{bid}", None, {"If-None-Match": '"1"'}),
            (b.booker, "PATCH", f"/v1/bookings/{bid}", {"customer": "b"}, {"If-Match": '"1"'}),
            (b.booker, "POST", f"/v1/bookings/{bid}/confirm", None, None),
            (b.booker, "POST", f"/v1/bookings/{bid}/confirm", None, {"If-Match": '"1"'}),
            (b.booker, "POST", f"/v1/bookings/{bid}/cancel", None, None),
            (b.admin, "POST", f"/v1/bookings/{bid}/cancel", None, {"If-Match": '"1"'}),
        ]
        for client, method, path, body, headers in checks:
            resp = same_as_ghost(client, method, path, bid, ghost, body, headers)
            assert_problem(resp, 404, "not_found")
            assert_reveals_nothing(resp, secrets_but(world, bid))


def test_lists_of_another_tenant_hold_nothing_of_a(world):
    a, b, rid = world["a"], world["b"], world["rid"]
    for client in (b.admin, b.booker):
        assert rid not in [r["id"] for r in list_all(client, "/v1/resources")]
        ids = [x["id"] for x in list_all(client, "/v1/bookings")]
        assert world["held"] not in ids and world["confirmed"] not in ids
        for params in ({"resource_id": rid}, {"customer": world["customer"]},
                       {"resource_id": rid, "status": "held"},
                       {"resource_id": rid, "from": START, "to": LATER_END}):
            r = client.get(f"/v1/bookings?{qs(**params)}")
            assert r.status == 200, r
            assert r.json["data"] == [] and r.json["next_cursor"] is None, (params, r.json)
    # A's own lists still have them.
    assert rid in [r["id"] for r in list_all(a.admin, "/v1/resources")]
    assert {world["held"], world["confirmed"]} <= {
        x["id"] for x in list_all(a.booker, "/v1/bookings", resource_id=rid)}


def test_same_ids_and_idempotency_keys_are_per_tenant(world):
    """Runs after the probes above (pytest keeps file order): B now takes A's resource id and
    A's Idempotency-Keys, and gets objects of its own."""
    a, b, rid = world["a"], world["b"], world["rid"]

    # A's resource request replayed with B's key and A's Idempotency-Key: B's own resource
    # with the same id (ids are per tenant), not a replay of A's answer.
    r = b.admin.request("POST", "/v1/resources", raw=json.dumps(world["res_body"]).encode(),
                        headers={"Idempotency-Key": world["res_key"]})
    assert r.status == 201, r
    assert (r.header("Idempotent-Replayed") or "false").lower() != "true", r.headers
    assert r.json["id"] == rid
    r = b.admin.patch(f"/v1/resources/{rid}", {"name": "B's room", "capacity": 1},
                      headers={"If-Match": r.etag})
    assert r.status == 200, r

    # The same for A's booking: a new booking in B, on B's resource.
    r = b.booker.request("POST", "/v1/bookings", raw=json.dumps(world["book_body"]).encode(),
                         headers={"Idempotency-Key": world["book_key"]})
    assert r.status == 201, r
    assert (r.header("Idempotent-Replayed") or "false").lower() != "true", r.headers
    b_booking = r.json["id"]
    assert b_booking not in (world["held"], world["confirmed"])
    assert r.body != world["held_answer"]
    assert b.booker.get(f"/v1/bookings/{b_booking}").status == 200
    assert_problem(a.booker.get(f"/v1/bookings/{b_booking}"), 404, "not_found")

    # B's room (capacity 1) is full at that hour; A's room (capacity 3, one unit held) is not.
    r = b.booker.post("/v1/bookings", {"items": [item(rid, START, END)]})
    assert_problem(r, 409, "unavailable")
    r = a.booker.post("/v1/bookings", {"items": [item(rid, START, END)]})
    assert r.status == 201, r

    # Each tenant reads its own resource under the one id.
    mine, theirs = a.admin.get(f"/v1/resources/{rid}"), b.booker.get(f"/v1/resources/{rid}")
    assert mine.json["name"] == world["secret_name"] and mine.json["capacity"] == 3
    assert theirs.json["name"] == "B's room" and theirs.json["capacity"] == 1
    assert theirs.json["version"] == 2 and mine.json["version"] == 1

    # A's replays still give A's first answers.
    r = a.booker.request("POST", "/v1/bookings", raw=json.dumps(world["book_body"]).encode(),
                         headers={"Idempotency-Key": world["book_key"]})
    assert r.status == 201 and r.body == world["held_answer"], r
    assert r.header("Idempotent-Replayed", "").lower() == "true"

    # Nothing B did changed A's objects.
    held = a.booker.get(f"/v1/bookings/{world['held']}")
    assert held.json["status"] == "held" and held.json["version"] == 1, held
    assert held.json["customer"] == world["customer"]
    confirmed = a.booker.get(f"/v1/bookings/{world['confirmed']}")
    assert confirmed.json["status"] == "confirmed" and confirmed.json["version"] == 1
