"""Fixtures of the black-box suite: real `bookd` processes on temporary databases.

`server` is one server per test module (tests inside a module use their own
resources, so they do not disturb each other); `server_factory` starts servers
that a test may kill and restart on the same database.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bbutil import BookdServer, bookd_binary  # noqa: E402


@pytest.fixture(scope="session")
def bookd_bin():
    path = bookd_binary()
    if not path or not os.access(path, os.X_OK):
        pytest.fail("no bookd binary: set BOOKD_BIN or build /work/main/build*/bookd")
    return path


@pytest.fixture(scope="module")
def server(bookd_bin, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bookd")
    srv = BookdServer(bookd_bin, str(workdir / "bookd.db"), str(workdir))
    srv.start()
    srv.setup_keys()
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(bookd_bin, tmp_path):
    """make(db=None, ...) -> a started server with keys; a db path reuses that database."""
    started = []

    def make(db=None, keys=True, threads=4, extra_args=()):
        srv = BookdServer(bookd_bin, db or str(tmp_path / "bookd.db"), str(tmp_path), threads,
                          extra_args)
        srv.start()
        if keys:
            srv.setup_keys()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def admin(server):
    return server.admin()


@pytest.fixture
def booker(server):
    return server.booker()
