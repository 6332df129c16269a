"""The Molecule tests' websocket client (pydeploy_testlib.ws_roundtrip) against a stdlib echo server.

The client runs as it does in the tests, as a `python3 -c` command through a host object like testinfra's, so
these tests prove the handshake check, the framing (masking, extended lengths, fragments, pings), the closing
handshake and the TLS path without a network or a container.
"""

import base64
import datetime
import hashlib
import shlex
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "molecule" / "resources" / "tests"))
from pydeploy_testlib import ws_roundtrip  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class LocalHost:
    """What ws_roundtrip needs of a testinfra host: run(command, *args) with the args shell-quoted."""

    class Result:
        def __init__(self, proc):
            self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr

    def run(self, command, *args):
        line = command % tuple(shlex.quote(a) for a in args)
        return self.Result(subprocess.run(line, shell=True, capture_output=True, text=True, timeout=20, check=False))


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(sock):
    """One frame from the client: (fin, opcode, payload, masked)."""
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    mask = recv_exact(sock, 4) if b1 & 0x80 else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(recv_exact(sock, n)))
    return bool(b0 & 0x80), b0 & 0x0F, payload, bool(b1 & 0x80)


def frame(opcode, payload, fin=True):
    """A server frame (never masked)."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


class EchoHandler(socketserver.BaseRequestHandler):
    """A websocket echo whose behaviour is chosen by the request path; it records what the client sent."""

    def handle(self):
        sock = self.request
        sock.settimeout(5)
        if self.server.tls is not None:
            sock = self.server.tls.wrap_socket(sock, server_side=True)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        lines = head.decode().split("\r\n")
        path = lines[0].split()[1]
        fields = (line.split(":", 1) for line in lines[1:] if ":" in line)
        headers = {name.strip().lower(): value.strip() for name, value in fields}
        log = self.server.log
        log.append(("request", path, headers))
        if path == "/missing":
            sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest()).decode()
        if path == "/bad-accept":
            accept = base64.b64encode(hashlib.sha1(b"not the key" + GUID).digest()).decode()
        sock.sendall(
            f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        if path == "/bad-accept":
            return
        fin, opcode, payload, masked = read_frame(sock)
        log.append(("message", opcode, payload, masked))
        if not masked:  # RFC 6455 5.1: a server closes on an unmasked client frame
            sock.sendall(frame(0x8, struct.pack("!H", 1002)))
            return
        if path == "/close-early":
            sock.sendall(frame(0x8, struct.pack("!H", 1011) + b"going away"))
            return
        reply = b"echo: " + payload
        if path == "/fragmented":
            # A ping between two fragments of the reply: the client answers it and joins the fragments.
            sock.sendall(frame(0x1, reply[:3], fin=False) + frame(0x9, b"are you there"))
            log.append(("pong",) + read_frame(sock)[1:3])
            sock.sendall(frame(0x0, reply[3:]))
        else:
            sock.sendall(frame(0x1, reply))
        if path == "/no-close":
            return  # drop the connection without a closing handshake
        fin, opcode, payload, masked = read_frame(sock)
        log.append(("close", opcode, payload, masked))
        sock.sendall(frame(0x8, payload[:2]))


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls=None):
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.tls, self.log = tls, []


@pytest.fixture
def server():
    srv = EchoServer()
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def roundtrip(srv, path="/ws", message="hello", **kw):
    return ws_roundtrip(LocalHost(), path=path, message=message, port=srv.server_address[1], timeout=5, **kw)


def test_round_trip_with_a_masked_frame_and_a_clean_close(server):
    r = roundtrip(server, message="héllo")
    assert r == {"status": 101, "reply": "echo: héllo", "error": ""}
    kinds = [entry[0] for entry in server.log]
    assert kinds == ["request", "message", "close"]
    kind, path, headers = server.log[0]
    assert (kind, path) == ("request", "/ws")
    assert headers["host"] == "example.test"
    assert headers["upgrade"].lower() == "websocket" and headers["sec-websocket-version"] == "13"
    assert len(base64.b64decode(headers["sec-websocket-key"])) == 16
    assert server.log[1] == ("message", 0x1, "héllo".encode(), True)
    assert server.log[2] == ("close", 0x8, struct.pack("!H", 1000), True)


def test_each_handshake_uses_a_new_key(server):
    roundtrip(server)
    roundtrip(server)
    keys = [entry[2]["sec-websocket-key"] for entry in server.log if entry[0] == "request"]
    assert len(keys) == 2 and keys[0] != keys[1]


@pytest.mark.parametrize("size", [125, 126, 65535, 70000])
def test_extended_payload_lengths(server, size):
    r = roundtrip(server, message="x" * size)
    assert r["error"] == "" and r["reply"] == "echo: " + "x" * size


def test_fragments_are_joined_and_a_ping_is_answered(server):
    r = roundtrip(server, path="/fragmented", message="in pieces")
    assert r == {"status": 101, "reply": "echo: in pieces", "error": ""}
    assert ("pong", 0xA, b"are you there") in server.log


def test_a_wrong_accept_value_is_an_error(server):
    r = roundtrip(server, path="/bad-accept")
    assert r["status"] == 101 and r["reply"] is None
    assert "Sec-WebSocket-Accept" in r["error"]


def test_no_upgrade_reports_the_status(server):
    r = roundtrip(server, path="/missing")
    assert r["status"] == 404 and r["reply"] is None
    assert "404" in r["error"]


def test_a_close_instead_of_a_reply_is_an_error(server):
    r = roundtrip(server, path="/close-early")
    assert r["reply"] is None
    assert "1011 going away" in r["error"]


def test_a_missing_closing_handshake_is_an_error(server):
    r = roundtrip(server, path="/no-close")
    assert r["reply"] == "echo: hello"
    assert "EOFError" in r["error"]


def test_nothing_listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = ws_roundtrip(LocalHost(), port=port, timeout=5)
    assert r["status"] == 0 and r["reply"] is None and "Connection" in r["error"]


def test_unix_socket(tmp_path):
    class UnixEchoServer(socketserver.ThreadingUnixStreamServer):
        daemon_threads = True

    srv = UnixEchoServer(str(tmp_path / "ws.sock"), EchoHandler)
    srv.tls, srv.log = None, []
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    try:
        r = ws_roundtrip(LocalHost(), unix=str(tmp_path / "ws.sock"), timeout=5)
    finally:
        srv.shutdown()
        srv.server_close()
    assert r == {"status": 101, "reply": "echo: hello", "error": ""}


def test_https_sends_the_name_as_sni_and_accepts_a_self_signed_certificate(tmp_path):
    # cryptography comes with ansible-core, which the tool venv has.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names = []
    ctx.sni_callback = lambda sslsock, server_name, context: names.append(server_name)
    srv = EchoServer(tls=ctx)
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    try:
        r = roundtrip(srv, scheme="https", hostname="example.test")
    finally:
        srv.shutdown()
        srv.server_close()
    assert r == {"status": 101, "reply": "echo: hello", "error": ""}
    assert names == ["example.test"]
