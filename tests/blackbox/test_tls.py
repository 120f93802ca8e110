"""HTTPS: `bookd serve --tls-cert --tls-key` speaks TLS only on its listener.

A self-signed certificate for localhost is made with the openssl command in a temporary
directory; the client trusts exactly that certificate. Checks an unauthenticated and an
authenticated request over HTTPS, that a plain HTTP request to the same port gets no HTTP
answer, that a client verifying against another certificate refuses the server, and that
a key file that does not match the certificate stops bookd at start. (The handshake
deadline and refusals over TLS are tested in src/http/tls_test.cc.)
"""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from bbutil import HOST

LISTEN_RE = re.compile(r"event=listening address=127\.0\.0\.1:(\d+)")
BOOTSTRAP_RE = re.compile(r"bootstrap admin key:\s*(\S+)")


def make_cert(directory, name="server"):
    cert = os.path.join(directory, f"{name}.crt")
    key = os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TlsBookd:
    """A `bookd serve` over TLS; the black-box fixtures speak plain HTTP, so it starts here."""

    def __init__(self, binary, workdir, cert, key):
        self.lines = []
        self.port = None
        self.admin_key = None
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"{HOST}:0", "--db", os.path.join(workdir, "bookd.db"),
             "--threads", "2", "--tls-cert", cert, "--tls-key", key],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir)
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = BOOTSTRAP_RE.search(line)
            if m:
                self.admin_key = m.group(1)
            m = LISTEN_RE.search(line)
            if m:
                self.port = int(m.group(1))
                self._ready.set()

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                "bookd did not start:\n" + "\n".join(self.lines[-40:])
        return self

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def tls_setup(bookd_bin, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = make_cert(str(tmp_path))
    srv = TlsBookd(bookd_bin, str(tmp_path), cert, key).wait_listening()
    context = ssl.create_default_context(cafile=cert)
    yield srv, context, str(tmp_path)
    srv.stop()


def https(srv, context, method, path, key=None):
    conn = http.client.HTTPSConnection("localhost", srv.port, context=context, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def test_https_serves_public_and_authenticated_routes(tls_setup):
    srv, context, _ = tls_setup
    status, headers, body = https(srv, context, "GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert any(name.lower() == "x-request-id" for name, _ in headers)

    deadline = time.monotonic() + 10
    while srv.admin_key is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.admin_key, "no bootstrap admin key printed"
    status, _, body = https(srv, context, "GET", "/v1/resources", key=srv.admin_key)
    assert status == 200, body
    assert json.loads(body)["data"] == []
    status, _, _ = https(srv, context, "GET", "/v1/resources", key="bk_wrong")
    assert status == 401

    # Several requests on one TLS connection (keep-alive works through TLS).
    conn = http.client.HTTPSConnection("localhost", srv.port, context=context, timeout=10)
    for _ in range(3):
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
    conn.close()


def test_plain_http_to_the_tls_port_gets_no_http_answer(tls_setup):
    srv, _, _ = tls_setup
    with socket.create_connection((HOST, srv.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        try:
            while len(received) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
    assert not received.startswith(b"HTTP/"), received[:200]
    with pytest.raises((http.client.HTTPException, OSError)):
        conn = http.client.HTTPConnection(HOST, srv.port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            conn.getresponse()
        finally:
            conn.close()
    # The server is still fine afterwards.
    assert https(srv, tls_setup[1], "GET", "/healthz")[0] == 200


def test_an_untrusted_certificate_is_refused_by_a_verifying_client(tls_setup):
    srv, _, workdir = tls_setup
    other_cert, _ = make_cert(workdir, "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        https(srv, ssl.create_default_context(cafile=other_cert), "GET", "/healthz")


def test_a_key_that_does_not_match_the_certificate_stops_bookd(bookd_bin, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, _ = make_cert(str(tmp_path), "one")
    _, other_key = make_cert(str(tmp_path), "two")
    r = subprocess.run([bookd_bin, "serve", "--listen", f"{HOST}:0",
                        "--db", os.path.join(str(tmp_path), "bookd.db"),
                        "--tls-cert", cert, "--tls-key", other_key],
                       capture_output=True, text=True, timeout=30, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "event=tls_failed" in r.stderr, r.stderr
