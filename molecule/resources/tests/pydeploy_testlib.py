"""Helpers shared by the scenarios' testinfra tests.

Requests are made from inside the container (the host's loopback is not the container's), with the
container's own python3, so the tests need nothing the target does not already have.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

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


def recap_changed(output):
    """The changed= count of the play recap (one host)."""
    for line in output.splitlines():
        if " changed=" in line and " ok=" in line:
            return int(line.split(" changed=")[1].split()[0])
    raise AssertionError("no play recap in output:\n" + output[-3000:])


def publish_commit(example="flask_hello", version=None, edits=None, message=None, links=None):
    """Commit a modified copy of an example app into its bare repo and publish it on the target.

    links: {relative path: symlink target} committed as symbolic links.
    """
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / example
        shutil.copytree(PROJECT / "examples" / example, src)
        if version is not None:
            (src / "VERSION").write_text(f"{version}\n")
        for rel, text in (edits or {}).items():
            (src / rel).write_text(text)
        for rel, target in (links or {}).items():
            os.symlink(target, src / rel)
        proc = subprocess.run(
            ["bash", str(PROJECT / "scripts/example-repo.sh"), example, str(src), message or f"version {version}"],
            capture_output=True, text=True, check=True,
        )
        commit = proc.stdout.strip().splitlines()[-1]
    playbook("examples/publish.yml", {"example_name": example})
    return commit


def live_release(host, app=APP):
    return host.file(f"/srv/{app}/current").linked_to
