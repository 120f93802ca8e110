"""PostgreSQL helpers for the black-box suite: databases per server, throwaway servers.

The suite never talks the PostgreSQL protocol itself: `psql` (Debian's
postgresql-client, installed with postgresql) creates and drops databases and
answers the few SQL checks a test makes, and scripts/pg.sh starts and stops
throwaway servers. BOOKD_TEST_PG_URL names the admin URL of the server the
suite may create databases on, e.g. postgres://postgres@127.0.0.1:5432/postgres.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_SH = os.path.join(REPO, "scripts", "pg.sh")


def admin_url():
    return os.environ.get("BOOKD_TEST_PG_URL") or None


def psql_binary():
    found = shutil.which("psql")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return candidates[-1] if candidates else None


def with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


class PgServer:
    """A PostgreSQL server reached by its admin URL; makes one database per bookd server."""

    def __init__(self, url):
        self.url = url
        self.psql = psql_binary()
        assert self.psql, "no psql: install Debian's postgresql-client"

    def sql(self, statement, db=None, timeout=60):
        """Runs one statement; returns the rows as lists of strings (unaligned, tab-separated)."""
        target = with_database(self.url, db) if db else self.url
        r = subprocess.run([self.psql, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-d", target, "-c", statement],
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"psql {statement!r} failed: {r.stderr.strip()}"
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def create_database(self, prefix="bookd_test"):
        """A fresh empty database; returns (name, url)."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.sql(f'CREATE DATABASE "{name}"')
        return name, with_database(self.url, name)

    def drop_database(self, name):
        # FORCE ends sessions a killed bookd may have left behind (PostgreSQL 13 and later).
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ThrowawayPg:
    """A private server from scripts/pg.sh that a test may halt and resume at will."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bookd-pg-")
        self.url = None

    def _run(self, command, timeout=180):
        r = subprocess.run([PG_SH, command, self.dir], capture_output=True, text=True,
                           timeout=timeout)
        assert r.returncode == 0, f"scripts/pg.sh {command} failed:\n{r.stderr[-3000:]}"
        return r.stdout.strip()

    def start(self):
        self.url = self._run("start")
        return self

    def halt(self):
        self._run("halt")

    def resume(self):
        self._run("resume")

    def stop(self):
        if os.path.isdir(self.dir):
            self._run("stop")
