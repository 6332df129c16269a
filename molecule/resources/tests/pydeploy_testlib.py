"""Helpers shared by the scenarios' testinfra tests.

Requests are made from inside the container (the host's loopback is not the container's), with the
container's own python3, so the tests need nothing the target does not already have.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
APP = "hello"
DOMAIN = "example.test"

_HTTP = r"""
import http.client, json, socket, ssl, sys
method, path, host, port, body, scheme, extra, source = sys.argv[1:9]
headers = {"Host": host, **json.loads(extra)}
src = (source, 0) if source else None
try:
    if scheme == "https":
        ctx = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", int(port), timeout=15, context=ctx, source_address=src)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=15, source_address=src)
    conn.request(method, path, body=body.encode() or None, headers=headers)
    r = conn.getresponse()
    print(json.dumps({"status": r.status, "headers": dict(r.getheaders()), "body": r.read().decode("utf-8", "replace")}))
except Exception as exc:  # connection closed without an answer, refused, timed out
    print(json.dumps({"status": 0, "headers": {}, "body": "", "error": type(exc).__name__ + ": " + str(exc)}))
"""


def http(host, path="/", hostname=DOMAIN, method="GET", body="", port=80, scheme="http", *, headers=None, source=""):
    """Make one HTTP request inside the container; status 0 means no answer.

    headers: extra request headers; source: the local address to send from (e.g. 127.0.0.2, any of 127.0.0.0/8).
    """
    cmd = host.run(
        "python3 -c %s %s %s %s %s %s %s %s %s",
        _HTTP, method, path, hostname, str(port), body, scheme, json.dumps(headers or {}), source,
    )
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


_WS = r"""
import base64, hashlib, json, os, socket, ssl, struct, sys
path, host, port, scheme, message, timeout, unix = sys.argv[1:8]
timeout = float(timeout)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3
out = {"status": 0, "reply": None, "error": ""}


class Conn:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed after %d of %d bytes" % (len(self.buf), n))
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("response headers too long")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head.decode("iso-8859-1")

    def send(self, opcode, payload):
        # A client masks every frame it sends (RFC 6455, 5.3).
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def frame(self):
        b0, b1 = self.read(2)
        if b1 & 0x80:
            raise ValueError("the server sent a masked frame")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read(8))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self.read(n)

    def message(self):
        # One whole message: control frames in between are answered or returned, fragments joined.
        opcode, parts = None, []
        while True:
            fin, op, data = self.frame()
            if op == 0x9:
                self.send(0xA, data)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                return op, data
            if op != 0x0:
                opcode = op
            parts.append(data)
            if fin:
                return opcode, b"".join(parts)


def close_reason(data):
    if len(data) < 2:
        return "no status code"
    return "%d %s" % (struct.unpack("!H", data[:2])[0], data[2:].decode("utf-8", "replace"))


sock = None
try:
    if unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(unix)
    else:
        sock = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
    if scheme == "https":
        # Send the name as SNI, as a browser does: the default server refuses handshakes without a known name.
        sock = ssl._create_unverified_context().wrap_socket(sock, server_hostname=host)
    conn = Conn(sock)
    key = base64.b64encode(os.urandom(16)).decode()
    conn.sock.sendall((
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, key)
    ).encode())
    lines = conn.head().split("\r\n")
    out["status"] = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if out["status"] != 101:
        raise ValueError("no upgrade: " + lines[0])
    expect = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != expect:
        raise ValueError("Sec-WebSocket-Accept is %r, expected %r" % (headers.get("sec-websocket-accept"), expect))
    if headers.get("upgrade", "").lower() != "websocket":
        raise ValueError("Upgrade is %r" % headers.get("upgrade"))
    conn.send(0x1, message.encode())
    opcode, data = conn.message()
    if opcode == 0x8:
        raise ValueError("closed by the server before a reply: " + close_reason(data))
    if opcode != 0x1:
        raise ValueError("expected a text frame, got opcode %d" % opcode)
    out["reply"] = data.decode()
    # Closing handshake: send a close frame and wait for the server's.
    conn.send(0x8, struct.pack("!H", 1000))
    while True:
        opcode, data = conn.message()
        if opcode == 0x8:
            break
except Exception as exc:  # refused, timed out, no upgrade, bad accept key, closed early
    out["error"] = type(exc).__name__ + ": " + str(exc)
finally:
    if sock is not None:
        sock.close()
print(json.dumps(out))
"""


def ws_roundtrip(host, path="/ws", message="hello", hostname=DOMAIN, port=80, scheme="http", timeout=10, *, unix=""):
    """Open a websocket inside the container, send one text message and read one back, then close cleanly.

    Returns {"status": the handshake's HTTP status (101; 0 without an answer), "reply": the text received or None,
    "error": "" when the handshake, the round trip and the closing handshake all worked}.
    unix: connect to this unix socket (e.g. gunicorn's) instead of 127.0.0.1:port.
    """
    cmd = host.run(
        "python3 -c %s %s %s %s %s %s %s %s",
        _WS, path, hostname, str(port), scheme, message, str(timeout), unix,
    )
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


def wait_http(host, path="/", status=200, timeout=30, **kw):
    deadline = time.time() + timeout
    while True:
        r = http(host, path, **kw)
        if r["status"] == status or time.time() > deadline:
            return r
        time.sleep(0.5)


def ansible_env():
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(PROJECT / ".collections")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def playbook(path, extra_vars=None, check=True, args=()):
    """Run a playbook of the project against the scenario's inventory; return (rc, output)."""
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(PROJECT / path), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, cwd=PROJECT, check=False)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd[:4])} failed (rc={proc.returncode}):\n{out[-6000:]}")
    return proc.returncode, out


def group_vars():
    """The scenario's group variables of the web group (the inventory Molecule wrote)."""
    with open(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / "group_vars" / "web", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def apps_playbook(path, apps, extra_vars=None, group_app=True):
    """Run a playbook with pydeploy_apps=apps; return (rc, output, seconds).

    The inventory is the scenario's without its app_* group variables (a global app_* would apply to every app). With
    group_app they become the first entry of pydeploy_apps (the scenario's own app); without, that app is left alone.
    """
    gv = group_vars()
    own = [{k: v for k, v in gv.items() if k.startswith("app_")}] if group_app else []
    with tempfile.TemporaryDirectory() as inv_dir:
        shutil.copy(os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(inv_dir, "hosts.yml"))
        os.mkdir(os.path.join(inv_dir, "group_vars"))
        with open(os.path.join(inv_dir, "group_vars", "web.yml"), "w", encoding="utf-8") as fh:
            yaml.safe_dump({k: v for k, v in gv.items() if not k.startswith("app_")}, fh)
        cmd = ["ansible-playbook", "-i", os.path.join(inv_dir, "hosts.yml"), str(PROJECT / path),
               "-e", json.dumps({"pydeploy_apps": own + list(apps), **(extra_vars or {})})]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, cwd=PROJECT, check=False)
        return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0


def recap_changed(output):
    """The changed= count of the play recap (one host)."""
    for line in output.splitlines():
        if " changed=" in line and " ok=" in line:
            return int(line.split(" changed=")[1].split()[0])
    raise AssertionError("no play recap in output:\n" + output[-3000:])


def publish_commit(example="flask_hello", version=None, edits=None, message=None, links=None, repo=None, replace=None,
                   publish=True):
    """Commit a modified copy of an example app into its bare repo and publish it on the target.

    links: {relative path: symlink target} committed as symbolic links. repo: the repository's name (default the
    example's), published at /opt/pydeploy-examples/<repo>.git. replace: {relative path: [(old, new), ...]} edits.
    publish=False only commits (for app_source: controller, which reads the repository on the controller).
    """
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / example
        shutil.copytree(PROJECT / "examples" / example, src)
        if version is not None:
            (src / "VERSION").write_text(f"{version}\n")
        for rel, text in (edits or {}).items():
            (src / rel).write_text(text)
        for rel, pairs in (replace or {}).items():
            text = (src / rel).read_text()
            for old, new in pairs:
                assert old in text, f"{rel} has no {old!r}"
                text = text.replace(old, new)
            (src / rel).write_text(text)
        for rel, target in (links or {}).items():
            os.symlink(target, src / rel)
        proc = subprocess.run(
            ["bash", str(PROJECT / "scripts/example-repo.sh"), repo or example, str(src), message or f"version {version}"],
            capture_output=True, text=True, check=True,
        )
        commit = proc.stdout.strip().splitlines()[-1]
    if publish:
        playbook("examples/publish.yml", {"example_name": repo or example})
    return commit


def live_release(host, app=APP):
    return host.file(f"/srv/{app}/current").linked_to


def live_instance(host, app=APP):
    """The server instance (blue or green) the app's socket path points at, or "" when it points nowhere."""
    target = host.run(f"readlink /run/pydeploy/{app}.sock").stdout.strip()
    prefix = f"/run/pydeploy/{app}-"
    return target[len(prefix):-len(".sock")] if target.startswith(prefix) and target.endswith(".sock") else ""


def live_unit(host, app=APP):
    """The systemd unit name (without suffix) of the serving instance, e.g. hello@blue."""
    instance = live_instance(host, app)
    assert instance, f"/run/pydeploy/{app}.sock points at no instance"
    return f"{app}@{instance}"


def parse_hey(text):
    """hey's report as counts: requests, ok (2xx), failed (other codes and connection errors), p99 and slowest."""
    status_part, _sep, error_part = text.partition("Error distribution:")
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", status_part)}
    errors = {msg.strip(): int(n) for n, msg in re.findall(r"^\s*\[(\d+)\]\s+(.+)$", error_part, re.M)}
    ok = sum(n for c, n in codes.items() if 200 <= c < 300)
    failed = sum(n for c, n in codes.items() if not 200 <= c < 300) + sum(errors.values())
    p99 = re.search(r"99% in ([0-9.]+) secs", text)
    slowest = re.search(r"Slowest:\s+([0-9.]+) secs", text)
    return {"requests": ok + failed, "ok": ok, "failed": failed, "codes": codes, "errors": errors,
            "p99": float(p99.group(1)) if p99 else None, "slowest": float(slowest.group(1)) if slowest else None,
            "raw": text}


class HeyLoad:
    """Several hey processes at once inside a container, from entering the block until `tail` seconds after it.

    sh: runs a shell script in the container and returns its stdout. streams: {name: hey arguments after -z}, e.g.
    {"post": "-c 4 -q 20 -m POST -d hello http://127.0.0.1/echo"}. After the block, .results holds parse_hey's
    counts per stream.
    """

    def __init__(self, sh, name, streams, tail=2.0, min_seconds=0.0):
        self.sh, self.name, self.streams, self.tail, self.min_seconds = sh, name, streams, tail, min_seconds
        self.results = {}

    def _out(self, stream):
        return "/tmp/hey-%s-%s.out" % (self.name, stream)

    def __enter__(self):
        for stream, args in self.streams.items():
            out = self._out(stream)
            self.sh("rm -f %s; nohup hey -z 600s %s >%s 2>&1 & echo $! >%s.pid" % (out, args, out, out))
        self.t0 = time.monotonic()
        time.sleep(1.5)
        return self

    def __exit__(self, *exc):
        time.sleep(max(self.tail, self.min_seconds - (time.monotonic() - self.t0)))
        pids = " ".join("$(cat %s.pid)" % self._out(s) for s in self.streams)
        self.sh("kill -INT %s" % pids)
        deadline = time.monotonic() + 40  # a slow request in flight finishes first
        while self.sh("for p in %s; do kill -0 $p 2>/dev/null && echo running; done; true" % pids).strip():
            assert time.monotonic() < deadline, "hey did not stop"
            time.sleep(0.5)
        seconds = time.monotonic() - self.t0
        for stream in self.streams:
            self.results[stream] = parse_hey(self.sh("cat %s" % self._out(stream)))
            self.results[stream]["seconds"] = seconds
        return False

    def total(self):
        """All streams together: requests, failed, and the slowest request of any."""
        return {"requests": sum(r["requests"] for r in self.results.values()),
                "failed": sum(r["failed"] for r in self.results.values()),
                "slowest": max((r["slowest"] or 0.0) for r in self.results.values())}


# Inside the container: back-to-back GETs of one slow path in `loops` threads started `stagger` seconds apart, each
# request's start, end, status and body kept, until a stop file appears.
_SLOW = r"""
import http.client, json, os, sys, threading, time
host, path, loops, stagger, stop, out = sys.argv[1:7]
rows, lock = [], threading.Lock()

def loop(k):
    time.sleep(k * float(stagger))
    while not os.path.exists(stop):
        start = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", 80, timeout=90)
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse(); status, body = r.status, r.read().decode("utf-8", "replace"); c.close()
        except Exception as exc:
            status, body = 0, repr(exc)
        with lock:
            rows.append({"start": start, "end": time.time(), "status": status, "body": body.strip()})

threads = [threading.Thread(target=loop, args=(k,)) for k in range(int(loops))]
for t in threads: t.start()
for t in threads: t.join()
open(out, "w").write(json.dumps(rows))
"""


class SiteLoad:
    """Load through nginx inside the container while an operation runs, for several sites (Host names) at once.

    Per site: hey (workers x qps requests/s of GET /), and `slow` back-to-back loops of GET slow_path started
    `stagger` seconds apart, each request's start, end, status and body recorded (slow_requests), so a test can tell
    which release answered a request that was in flight while an instance stopped. hey's counts are in hey.
    """

    def __init__(self, host, sites, workers=2, qps=10, slow=0, slow_path="/slow?seconds=20", stagger=7.0):
        self.host, self.sites, self.workers, self.qps = host, list(sites), workers, qps
        self.slow, self.slow_path, self.stagger = slow, slow_path, stagger
        self.hey, self.slow_requests = {}, {}

    def __enter__(self):
        self.host.run("rm -rf /tmp/siteload && mkdir -p /tmp/siteload")
        self.host.run("cat > /tmp/siteload/slow.py <<'EOF'\n%s\nEOF" % _SLOW)
        for site in self.sites:
            self.host.run(f"nohup hey -z 600s -c {self.workers} -q {self.qps} -host {site} http://127.0.0.1/ "
                          f">/tmp/siteload/hey-{site}.out 2>&1 & echo $! >/tmp/siteload/hey-{site}.pid")
            if self.slow:
                self.host.run("nohup python3 /tmp/siteload/slow.py %s '%s' %d %s /tmp/siteload/stop "
                              "/tmp/siteload/slow-%s.json >/tmp/siteload/slow-%s.log 2>&1 &"
                              % (site, self.slow_path, self.slow, self.stagger, site, site))
        time.sleep(2 + self.stagger * max(self.slow - 1, 0))
        return self

    def __exit__(self, *exc):
        time.sleep(2)
        self.host.run("touch /tmp/siteload/stop; for f in /tmp/siteload/hey-*.pid; do kill -INT $(cat $f); done")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            hey_running = self.host.run(
                "for f in /tmp/siteload/hey-*.pid; do kill -0 $(cat $f) 2>/dev/null && echo running; done; true").stdout.strip()
            slow_done = all(self.host.file(f"/tmp/siteload/slow-{site}.json").exists for site in self.sites) or not self.slow
            if not hey_running and slow_done:
                break
            time.sleep(1)
        else:
            raise AssertionError("the load did not stop")
        for site in self.sites:
            self.hey[site] = parse_hey(self.host.file(f"/tmp/siteload/hey-{site}.out").content_string)
            if self.slow:
                self.slow_requests[site] = json.loads(self.host.file(f"/tmp/siteload/slow-{site}.json").content_string)
        return False
