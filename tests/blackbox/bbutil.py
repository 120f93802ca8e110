"""Helpers for the black-box suite: start and stop a real `bookd`, talk HTTP to it.

Everything here uses the standard library only. The server is reached over real
sockets; nothing in this file knows about the server's internals beyond the
command line and the HTTP contract (/work/shared/api.md).
"""

import glob
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

HOST = "127.0.0.1"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_LISTEN_RE = re.compile(r'address"?\s*[=:]\s*"?127\.0\.0\.1:(\d+)')
_BOOTSTRAP_RE = re.compile(r"bootstrap admin key:\s*(\S+)")


def bookd_binary():
    """BOOKD_BIN, else the newest build*/bookd of the repository."""
    path = os.environ.get("BOOKD_BIN")
    if path:
        return path
    candidates = glob.glob(os.path.join(REPO, "build*", "bookd"))
    candidates = [c for c in candidates if os.access(c, os.X_OK)]
    if not candidates:
        return None
    return max(candidates, key=os.path.getmtime)


def unique(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---- time -------------------------------------------------------------------


def iso(dt):
    """UTC datetime -> RFC 3339 with Z, one-second precision."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ts(text):
    """'2027-01-15T08:00:00Z' -> POSIX seconds."""
    return int(parse_ts(text).timestamp())


# ---- HTTP -------------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.body = body
        self.json = None
        if body:
            try:
                self.json = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def header(self, name, default=None):
        return self.headers.get(name, default) if self.headers is not None else default

    @property
    def etag(self):
        return self.header("ETag")

    def __repr__(self):
        text = self.body[:600].decode("utf-8", "replace") if self.body else ""
        return f"<Response {self.status} {text}>"


class Client:
    """A keep-alive HTTP client; each thread that uses it gets its own connection."""

    def __init__(self, port, key=None, timeout=30.0, host=HOST):
        self.host = host
        self.port = port
        self.key = key
        self.timeout = timeout
        self._local = threading.local()

    def with_key(self, key):
        return Client(self.port, key, self.timeout, self.host)

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
            self._local.used = False
        return conn

    def connect(self):
        """Open this thread's connection now (so that a later request races only itself)."""
        self._conn().connect()

    def close(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(self, method, path, body=None, raw=None, headers=None, key=..., retry=True,
                content_type="application/json"):
        hdrs = {}
        use_key = self.key if key is ... else key
        if use_key:
            hdrs["Authorization"] = f"Bearer {use_key}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        for attempt in (0, 1):
            conn = self._conn()
            reused = self._local.used
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
                self._local.used = True
                if resp.will_close:
                    self.close()
                return Response(resp.status, resp.headers, payload)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                # A keep-alive connection the server had already closed: the request never
                # reached it, so one retry on a fresh connection is safe.
                if attempt == 0 and retry and reused:
                    continue
                raise
            except Exception:
                self.close()
                raise
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def qs(**params):
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def raw_exchange(port, data, timeout=10.0, head=None):
    """Sends raw bytes and parses the answer. `head` is sent first; if the server
    answers while `data` is still being sent (e.g. 413 after the headers), sending stops.
    Returns Response, or None when the server closed without answering."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    try:
        try:
            if head is not None:
                sock.sendall(head)
            view = memoryview(data)
            while view:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                n = sock.send(view[:65536])
                view = view[n:]
        except OSError:
            pass  # the server answered early and closed, or stopped reading: read the answer
        resp = http.client.HTTPResponse(sock, method="GET")
        try:
            resp.begin()
            body = resp.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, http.client.IncompleteRead):
            return None
        return Response(resp.status, resp.headers, body)
    finally:
        sock.close()


def assert_problem(resp, status, code=None):
    """The answer is an RFC 9457 problem with the given status and /problems/<code> type."""
    assert resp is not None, "server closed the connection without an answer"
    assert resp.status == status, f"expected {status} {code}, got {resp!r}"
    ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
    assert ctype == "application/problem+json", f"Content-Type {ctype!r} for {resp!r}"
    assert isinstance(resp.json, dict), f"problem body is not a JSON object: {resp!r}"
    assert resp.json.get("status") == status, f"problem status member: {resp!r}"
    assert isinstance(resp.json.get("title"), str), f"problem title missing: {resp!r}"
    if code is not None:
        assert resp.json.get("type") == f"/problems/{code}", f"problem type: {resp!r}"
    return resp.json


def error_pointers(problem):
    return [e.get("pointer") for e in problem.get("errors", []) if isinstance(e, dict)]


def error_parameters(problem):
    return [e.get("parameter") for e in problem.get("errors", []) if isinstance(e, dict)]


# ---- domain helpers ---------------------------------------------------------


def create_resource(admin, capacity=1, **fields):
    body = {"id": unique("res"), "name": "test resource", "capacity": capacity}
    body.update(fields)
    r = admin.post("/v1/resources", body)
    assert r.status == 201, f"creating resource: {r!r}"
    return r.json


def item(resource_id, start, end, quantity=1):
    return {"resource_id": resource_id, "start": start, "end": end, "quantity": quantity}


def list_all(client, path, **params):
    """Follows next_cursor through a listing; returns every element of `data`."""
    out = []
    cursor = None
    for _ in range(10000):
        q = dict(params)
        q.setdefault("limit", 1000)
        if cursor:
            q["cursor"] = cursor
        r = client.get(f"{path}?{qs(**q)}")
        assert r.status == 200, f"listing {path}: {r!r}"
        out.extend(r.json["data"])
        cursor = r.json.get("next_cursor")
        if not cursor:
            return out
    raise AssertionError("listing did not end")


def norm_items(items):
    return sorted((i["resource_id"], i["start"], i["end"], i.get("quantity", 1)) for i in items)


def max_overlap(items):
    """Largest sum of quantity over items covering one instant (half-open intervals)."""
    events = []
    for start, end, qty in items:
        events.append((start, 1, qty))   # starts sort after ends at the same instant
        events.append((end, 0, -qty))
    level = peak = 0
    for _, _, delta in sorted(events):
        level += delta
        peak = max(peak, level)
    return peak


# ---- the server process -----------------------------------------------------


class BookdServer:
    """One `bookd serve` process on a given database, restartable on the same database."""

    def __init__(self, binary, db, workdir, threads=4, extra_args=()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.db = db
        self.workdir = workdir
        self.threads = threads
        self.proc = None
        self.port = None
        self.bootstrap_key = None
        self.admin_key = None
        self.booking_key = None
        self.starts = 0
        self._lines = []

    # -- lifecycle

    def start(self, timeout=30.0):
        assert self.proc is None
        self.starts += 1
        log_path = os.path.join(self.workdir, f"bookd-{self.starts}.log")
        self._log = open(log_path, "w")
        self._listening = threading.Event()
        self.port = None
        self.bootstrap_key = None
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"{HOST}:0", "--db", self.db,
             "--threads", str(self.threads), *self.extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.workdir)
        for stream, name in ((self.proc.stdout, "out"), (self.proc.stderr, "err")):
            threading.Thread(target=self._drain, args=(stream, name), daemon=True).start()

        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._fail_start("no event=listening line")
        client = Client(self.port, timeout=2.0)
        while True:
            try:
                r = client.get("/healthz")
                if r.status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._fail_start("/healthz never answered 200")
            time.sleep(0.05)
        client.close()
        return self

    def _fail_start(self, why):
        self.kill()
        raise AssertionError(f"bookd did not start ({why}):\n{self.output()[-4000:]}")

    def _drain(self, stream, name):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._lines.append(f"[{name}] {line}")
            try:
                self._log.write(f"[{name}] {line}\n")
                self._log.flush()
            except ValueError:
                pass
            m = _BOOTSTRAP_RE.search(line)
            if name == "out" and m:
                self.bootstrap_key = m.group(1)
            if "event=listening" in line or '"listening"' in line:
                m = _LISTEN_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    self._listening.set()

    def output(self):
        return "\n".join(self._lines)

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Sends `sig`, waits `grace` seconds, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        time.sleep(0.05)  # let the drain threads see EOF
        self._log.close()
        return code

    def kill(self):
        return self.stop(signal.SIGKILL, grace=5.0)

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start()

    # -- keys

    def cli(self, *args, check=True):
        r = subprocess.run([self.binary, *args, "--db", self.db], cwd=self.workdir,
                           capture_output=True, text=True, timeout=30)
        if check:
            assert r.returncode == 0, f"bookd {' '.join(args)} failed: {r.stdout}{r.stderr}"
        return r

    def create_key(self, role):
        out = self.cli("keys", "create", "--role", role).stdout.strip()
        assert out and len(out.split()) == 1, f"keys create printed more than a key: {out!r}"
        return out

    def setup_keys(self):
        self.admin_key = self.create_key("admin")
        self.booking_key = self.create_key("booking")
        return self

    # -- clients

    def client(self, key=..., timeout=30.0):
        return Client(self.port, self.admin_key if key is ... else key, timeout)

    def admin(self):
        return self.client(self.admin_key)

    def booker(self):
        return self.client(self.booking_key)


def key_id_for(listing_before, listing_after):
    """The id of the key that appears in `after` but not in `before` (text or JSON output)."""
    new_lines = [l for l in listing_after.splitlines()
                 if l.strip() and l not in listing_before.splitlines()]
    assert len(new_lines) == 1, f"expected one new key line, got {new_lines}"
    line = new_lines[0].strip()
    try:
        return json.loads(line)["id"]
    except (ValueError, KeyError, TypeError):
        pass
    m = re.search(r"\bid[=:]\s*\"?([^\s\",]+)", line)
    return m.group(1) if m else line.split()[0]
