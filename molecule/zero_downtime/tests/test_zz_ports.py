"""app_server procfile: the web command's loopback ports belong to the app's instance (docs/security.md, "Ports belong
to their unit").

Stands alone against the converged scenario: the procfile app of test_zz_servers.py (s-procfile, same definition) is
deployed here when it does not serve yet, as in a whole verify, where this file runs first. A squatter binds the idle
instance's port before a deploy and starts listening only once the instance's unit runs, which is the race the
free-port check before the start cannot see:
  1  a local unprivileged user: the deploy fails naming the port, app_server_ports and the app; the live release
     keeps serving; the squatter never receives a request (neither the gate's probe nor the site's)
  2  a unit of the app itself (the app's user, another unit): the same
  3  a local user connecting straight to the live instance's port (past nginx, with forwarded headers) is refused,
     while the site answers through nginx
Each leaves the host serving the live release.
"""

import json
import re
import textwrap
import time

import pytest

from pydeploy_testlib import apps_playbook, http, publish_commit

from test_zz_servers import APPS, FLASK, FLASK_EDITS

PROCFILE = next(a for a in APPS if a["app_server"] == "procfile")
APP = PROCFILE["app_name"]
SITE = PROCFILE["app_domains"][0]
PORTS = {"blue": 18000, "green": 18001}
USER = "pd-squatter"
LOG = "/var/tmp/pd-squatter.log"
SQUATTER_UNIT = "pd-squatter.service"
# Binds the port now (no SO_REUSEADDR, so the web command cannot bind it), listens once the instance's unit is active,
# answers every connection 200 and writes down what it received.
SQUATTER = textwrap.dedent(r"""
    import socket, subprocess, sys, time
    port, unit, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    def note(text):
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    note("bound %d" % port)
    while subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode != 0:
        time.sleep(0.05)
    s.listen(64)
    note("listening")
    while True:
        c, _ = s.accept()
        c.settimeout(5)
        try:
            data = c.recv(65536)
        except OSError:
            data = b""
        note("REQUEST %r" % data[:120])
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nsquatter\n")
        c.close()
""")
CONNECT = textwrap.dedent(r"""
    import json, socket, sys
    out = {"connected": False, "error": "", "answer": ""}
    try:
        c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
        out["connected"] = True
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: procfile.test\r\nX-Forwarded-Proto: https\r\n"
                  b"X-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n")
        out["answer"] = c.recv(200).decode("latin-1")
    except OSError as exc:
        out["error"] = type(exc).__name__
    print(json.dumps(out))
""")


def live_instance(host):
    return host.run(f"readlink /run/pydeploy/{APP}.sock").stdout.strip().rsplit("-", 1)[1][:-len(".sock")]


def release_of(host):
    r = http(host, "/", hostname=SITE)
    assert r["status"] == 200, r
    found = re.search(r"\(flask_hello (\w+)\)", r["body"])
    assert found, r["body"]
    return found.group(1)


def serving(host):
    r = http(host, "/", hostname=SITE)
    return r["status"] == 200 and "(flask_hello " in r["body"]


@pytest.fixture(scope="module", autouse=True)
def procfile_app(host):
    """s-procfile serving (deployed here when it does not serve yet), and the local user."""
    host.run_expect([0], f"id {USER} || useradd --system --no-create-home --shell /usr/sbin/nologin {USER}")
    if not serving(host):
        publish_commit("flask_hello", "p1", replace=FLASK_EDITS, repo=FLASK, message=f"{FLASK} p1")
        rc, out, _seconds = apps_playbook("site.yml", [PROCFILE], group_app=False)
        assert rc == 0, out[-6000:]
    yield
    stop_squatter(host)
    assert serving(host)


def stop_squatter(host):
    host.run(f"systemctl stop {SQUATTER_UNIT}; systemctl reset-failed {SQUATTER_UNIT}")
    host.run(f"rm -f {LOG}")


def start_squatter(host, user, idle):
    stop_squatter(host)
    host.run_expect([0], f"install -o {user} -g {user} -m 0644 /dev/null {LOG}")
    host.run_expect([0], "systemd-run --quiet --unit=%s --uid=%s --gid=%s /usr/bin/python3 -c %s %d %s %s"
                    % (SQUATTER_UNIT, user, user, quote(SQUATTER), PORTS[idle], f"{APP}@{idle}.service", LOG))
    for _attempt in range(50):
        if "bound" in host.file(LOG).content_string:
            return
        host.run("sleep 0.1")
    pytest.fail("the squatter did not bind: " + host.run(f"journalctl -u {SQUATTER_UNIT} --no-pager").stdout)


def quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def race_for_the_idle_port(host, user):
    """A deploy of a new version while user squats the idle instance's port; returns (rc, output, squatter's log)."""
    version = "p%d" % time.time()  # always a new release: the deploy starts the idle instance
    publish_commit("flask_hello", version, replace=FLASK_EDITS, repo=FLASK, message=f"{FLASK} {version}")
    live = live_instance(host)
    before = release_of(host)
    idle = "green" if live == "blue" else "blue"
    # After a deploy the old instance drains on its port for a while (at most its graceful timeout).
    for _attempt in range(120):
        if not host.socket(f"tcp://127.0.0.1:{PORTS[idle]}").is_listening:
            break
        host.run("sleep 0.5")
    start_squatter(host, user, idle)
    try:
        rc, out, _seconds = apps_playbook("playbooks/deploy.yml", [PROCFILE], group_app=False)
        log = host.file(LOG).content_string
        # The live release keeps serving through nginx, from the live instance.
        assert release_of(host) == before
        assert live_instance(host) == live
        for _request in range(20):
            r = http(host, "/healthz", hostname=SITE)
            assert r["status"] == 200 and "squatter" not in r["body"], r
    finally:
        stop_squatter(host)
    return rc, out, log, idle


@pytest.mark.parametrize("who", ["local user", "the app's own unit"])
def test_squatter_on_the_idle_port_gets_nothing(host, who):
    user = USER if who == "local user" else APP
    rc, out, log, idle = race_for_the_idle_port(host, user)
    assert "listening" in log, log  # the race really happened: it listened once the instance ran
    assert "REQUEST" not in log, f"the squatter ({who}) received: {log}"
    assert rc != 0, out[-4000:]
    # The reason names the port, the variable and the app (task names excluded).
    port = str(PORTS[idle])
    reasons = [line for line in out.splitlines()
               if f"port {port}" in line and "app_server_ports" in line and APP in line and "TASK [" not in line]
    assert reasons, out[-4000:]
    print(re.search(r"port %s[^\\]*" % port, reasons[0]).group(0)[:300], flush=True)


def test_local_user_cannot_reach_the_live_port(host):
    port = PORTS[live_instance(host)]
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    out = json.loads(host.check_output("runuser -u %s -- /usr/bin/python3 -c %s %d" % (USER, quote(CONNECT), port)))
    assert not out["connected"] and out["error"] == "ConnectionRefusedError", out
    # Through nginx the site answers (its proxy, the app's user, connects to the same port).
    assert serving(host)
