"""Fixtures of the black-box suite: real `bookd` processes on temporary databases.

`server` is one server per test module (tests inside a module use their own
resources, so they do not disturb each other); `server_factory` starts servers
that a test may kill and restart on the same database.

Every test that uses a server runs once per storage backend named in
BOOKD_BACKENDS (comma-separated; default "sqlite"; "sqlite,postgres" runs both).
For postgres, BOOKD_TEST_PG_URL is the admin URL of a server on which each bookd
gets a database of its own, so tests stay as independent as on SQLite files.
Markers: `sqlite_only` for tests that are about SQLite itself, `postgres_only`
for tests that need PostgreSQL (skipped, with the reason, on the other backend),
`any_backend` for slow tests in which storage plays no part (run on the first
backend named only).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bbutil import BookdServer, bookd_binary  # noqa: E402
from pgutil import PgServer, admin_url  # noqa: E402

KNOWN_BACKENDS = ("sqlite", "postgres")


def configured_backends():
    names = [n.strip() for n in os.environ.get("BOOKD_BACKENDS", "sqlite").split(",") if n.strip()]
    unknown = [n for n in names if n not in KNOWN_BACKENDS]
    if unknown:
        raise pytest.UsageError(f"BOOKD_BACKENDS: unknown backend(s) {unknown}; "
                                f"known: {', '.join(KNOWN_BACKENDS)}")
    return names or ["sqlite"]


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: runs on the SQLite backend only")
    config.addinivalue_line("markers", "postgres_only: runs on the PostgreSQL backend only")
    config.addinivalue_line("markers", "any_backend: storage plays no part; runs on one backend")


def pytest_collection_modifyitems(config, items):
    for item in items:
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
        if backend is None:
            continue
        if item.get_closest_marker("sqlite_only") and backend != "sqlite":
            item.add_marker(pytest.mark.skip(reason="SQLite-specific test"))
        if item.get_closest_marker("postgres_only") and backend != "postgres":
            item.add_marker(pytest.mark.skip(reason="PostgreSQL-specific test"))
        if item.get_closest_marker("any_backend") and backend != configured_backends()[0]:
            item.add_marker(pytest.mark.skip(reason="storage plays no part: run on one backend"))


@pytest.fixture(scope="session")
def bookd_bin():
    path = bookd_binary()
    if not path or not os.access(path, os.X_OK):
        pytest.fail("no bookd binary: set BOOKD_BIN or build /work/main/build*/bookd")
    return path


@pytest.fixture(scope="session")
def pg_server():
    """The shared PostgreSQL server of BOOKD_TEST_PG_URL; skips the test without one."""
    url = admin_url()
    if not url:
        pytest.skip("needs PostgreSQL: set BOOKD_TEST_PG_URL (scripts/pg.sh start DIR prints one)")
    return PgServer(url)


# A plain fixture parameter (not pytest_generate_tests) so that pytest keeps one module-scoped
# server per backend and module instead of one per test.
@pytest.fixture(scope="session", params=configured_backends())
def backend(request):
    name = request.param
    if name == "postgres" and not admin_url():
        pytest.fail("BOOKD_BACKENDS includes postgres but BOOKD_TEST_PG_URL is not set")
    return name


class Databases:
    """Hands out fresh databases for one backend and removes the PostgreSQL ones afterwards."""

    def __init__(self, backend, workdir):
        self.backend = backend
        self.workdir = workdir
        self.pg = PgServer(admin_url()) if backend == "postgres" else None
        self.created = []

    def new(self):
        if self.pg is None:
            return os.path.join(str(self.workdir), "bookd.db")
        name, url = self.pg.create_database()
        self.created.append(name)
        return url

    def drop_all(self):
        for name in self.created:
            self.pg.drop_database(name)


@pytest.fixture(scope="module")
def server(bookd_bin, backend, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bookd")
    dbs = Databases(backend, workdir)
    srv = BookdServer(bookd_bin, dbs.new(), str(workdir))
    try:
        srv.start()
        srv.setup_keys()
        yield srv
    finally:
        srv.stop()
        dbs.drop_all()


@pytest.fixture
def server_factory(bookd_bin, backend, tmp_path):
    """make(db=None, ...) -> a started server with keys; a db path or URL reuses that database."""
    started = []
    dbs = Databases(backend, tmp_path)

    def make(db=None, keys=True, threads=4, extra_args=()):
        srv = BookdServer(bookd_bin, db or dbs.new(), str(tmp_path), threads, extra_args)
        started.append(srv)
        srv.start()
        if keys:
            srv.setup_keys()
        return srv

    yield make
    for srv in started:
        srv.stop()
    dbs.drop_all()


@pytest.fixture
def admin(server):
    return server.admin()


@pytest.fixture
def booker(server):
    return server.booker()
