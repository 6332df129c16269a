"""The full stack after `site.yml`: what a user of the deployed app and its operator would notice."""

import os
import time

import pytest
from pydeploy_testlib import APP, DOMAIN, http, live_release, live_unit, playbook, publish_commit, recap_changed, wait_http

# The whole suite runs on Debian 12; the matrix suites (11, 13) run the checks of the served stack only.
FULL = os.environ.get("MOLECULE_DISTRO", "bookworm") == "bookworm"
full_only = pytest.mark.skipif(not FULL, reason="deploy and fault checks run on bookworm only")


def test_page_served_through_nginx(host):
    r = http(host, "/")
    assert r["status"] == 200
    assert "Hello from pydeploy.web (flask_hello 1)" in r["body"]
    assert r["headers"].get("Server") == "nginx"  # server_tokens off: no version


def test_proxy_headers_reach_the_app(host):
    r = http(host, "/whoami")
    assert r["status"] == 200
    seen = __import__("json").loads(r["body"])
    assert seen["host"] == DOMAIN
    assert seen["forwarded_host"] == DOMAIN
    assert seen["forwarded_proto"] == "http"
    assert seen["forwarded_for"] == "127.0.0.1"


def test_unknown_host_gets_no_answer(host):
    r = http(host, "/", hostname="not-my-site.test")
    assert r["status"] == 0, r


def test_text_is_gzipped(host):
    cmd = host.run(
        "python3 -c \"import urllib.request as u; r=u.urlopen(u.Request('http://127.0.0.1/static/about.txt',"
        " headers={'Host': '%s', 'Accept-Encoding': 'gzip'})); print(r.headers.get('Content-Encoding'))\"", DOMAIN)
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.strip() == "gzip"


def test_gunicorn_socket_only_nginx_can_use(host):
    link = host.file(f"/run/pydeploy/{APP}.sock")
    assert link.is_symlink
    assert host.check_output(f"stat -c %U /run/pydeploy/{APP}.sock") == "root"  # the link itself, root's
    sock = host.file(link.linked_to)
    assert sock.is_socket
    assert sock.user == APP
    assert sock.group == "www-data"
    assert sock.mode == 0o660


def test_nothing_but_nginx_and_sshd_listens_on_tcp(host):
    out = host.check_output("ss -H -ltnp")
    procs = set()
    for line in out.splitlines():
        assert "users:((" in line, line
        procs.add(line.split('users:(("')[1].split('"')[0])
    assert procs, "nothing listens at all"
    assert procs <= {"nginx", "sshd"}, procs


def test_services_enabled_and_running(host):
    live = live_unit(host)
    for unit in (f"{live}.socket", f"{live}.service", "nginx.service"):
        svc = host.service(unit)
        assert svc.is_enabled, unit
        assert svc.is_running, unit
    # The other instance stopped after the last deploy drained it, and does not start at boot.
    idle = f"{APP}@" + ("green" if live.endswith("@blue") else "blue")
    for unit in (f"{idle}.socket", f"{idle}.service"):
        assert not host.service(unit).is_running, unit
        assert not host.service(unit).is_enabled, unit
    # The link is re-created at boot (/run is a tmpfs).
    assert host.file(f"/etc/tmpfiles.d/pydeploy-{APP}.conf").contains(f"{live.replace('@', '-')}.sock")


def test_gunicorn_is_recent_and_in_the_venv(host):
    out = host.check_output(f"/srv/{APP}/current/.venv/bin/gunicorn --version")
    major = int(out.split()[-1].strip(")").split(".")[0])
    assert major >= 23, out
    assert not host.package("python3-gunicorn").is_installed


def test_gunicorn_logs_no_error(host):
    # gunicorn 25.1+ tried to open a control socket under the read-only $HOME ("Control server error").
    log = host.check_output(f"journalctl --no-pager -o cat -u '{APP}@*.service'")
    assert "[ERROR]" not in log


def test_static_served_by_nginx_with_gunicorn_stopped(host):
    live = live_unit(host)
    host.run_test(f"systemctl stop {live}.socket {live}.service")
    try:
        r = http(host, "/static/hello.txt")
        assert r["status"] == 200
        assert r["body"] == "Served by nginx, not by the app.\n"
        assert http(host, "/")["status"] == 502  # the app itself is down
    finally:
        host.run_test(f"systemctl start {live}.socket {live}.service")
    assert wait_http(host, "/")["status"] == 200


def test_service_comes_back_after_main_process_is_killed(host):
    live = live_unit(host)
    pid = host.check_output(f"systemctl show -p MainPID --value {live}.service")
    assert int(pid) > 0
    host.run_test(f"kill -9 {pid}")
    deadline = time.time() + 30
    new = pid
    while time.time() < deadline:
        new = host.check_output(f"systemctl show -p MainPID --value {live}.service")
        if new not in ("0", pid) and host.service(f"{live}.service").is_running:
            break
        time.sleep(0.5)
    assert new not in ("0", pid)
    assert wait_http(host, "/")["status"] == 200


def test_env_file_is_root_owned_and_private(host):
    env = host.file(f"/etc/pydeploy/{APP}/env")
    assert env.user == "root"
    assert env.group == "root"
    assert env.mode == 0o600  # systemd reads it for the app's units; the app user cannot
    assert 'GREETING="Hello"' in env.content_string


@full_only
def test_changed_app_env_reaches_the_running_app(host):
    _rc, out = playbook("site.yml", {"app_env": {"GREETING": "Bonjour"}})
    assert recap_changed(out) > 0
    assert "Bonjour" not in out  # the value is never printed
    assert "[WARNING]" not in out  # a healthy run warns of nothing
    assert http(host, "/")["body"].startswith("Bonjour from pydeploy.web")


@full_only
@pytest.mark.parametrize(
    ("case", "extra", "edits", "expect"),
    [
        ("unknown version", {"app_version": "no-such-branch"}, None, "no-such-branch"),
        ("unreachable repo", {"app_repo": "/opt/pydeploy-examples/missing.git"}, None, "missing.git"),
        ("failing release command", {"app_release_commands": ["echo migrating; exit 3"]}, {}, "migrating"),
        ("failing dependency install", {}, {"requirements.txt": "flask>=2.2\nno-such-package-pydeploy==0.0.1\n"},
         "no-such-package-pydeploy"),
        # An app that does not import (the gate) and shared data across a code deploy: zero_downtime, under load.
    ],
)
def test_a_failed_deploy_keeps_the_live_release_serving(host, case, extra, edits, expect):
    live = live_release(host)
    page = http(host, "/")["body"]
    if edits is not None:
        publish_commit(version=f"broken {case}", edits=edits)
    rc, out = playbook("playbooks/deploy.yml", {"app_env": {"GREETING": "Bonjour"}, **extra}, check=False)
    assert rc != 0, f"{case}: the deploy should have failed"
    assert expect in out, f"{case}: the reason is not shown:\n{out[-3000:]}"
    assert live_release(host) == live
    assert http(host, "/")["body"] == page


@full_only
@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"app_wsgi": "not a wsgi path"}, "app_wsgi"),
        ({"app_name": "Bad Name"}, "app_name"),
        ({"gunicorn_workers": "many"}, "gunicorn_workers"),
        ({"nginx_http_port": 0}, "nginx_http_port"),
        ({"app_static": [{"url": "static"}]}, "path"),
        ({"app_shared_paths": ["../etc"]}, "app_shared_paths"),
        ({"nginx_trusted_proxies": ["10.0.0.0/33"]}, "nginx_trusted_proxies"),
        ({"nginx_trusted_proxies": ["10.0.0.0/8", "not-a-cidr"]}, "nginx_trusted_proxies"),
        ({"nginx_trusted_proxies": ["2001:db8::/129"]}, "nginx_trusted_proxies"),
    ],
)
def test_bad_input_fails_before_anything_changes(host, extra, variable):
    rc, out = playbook("site.yml", extra, check=False)
    assert rc != 0
    assert variable in out
    assert recap_changed(out) == 0


@full_only
def test_factory_app_beside_the_first_one(host):
    factory = {
        "app_name": "factory",
        "app_repo": "/opt/pydeploy-examples/flask_factory.git",
        "app_wsgi": "hello_factory:create_app()",
        "app_domains": ["factory.test"],
        "app_static": [{"url": "/static/", "path": "src/hello_factory/static"}],
        "app_shared_paths": [],
        "app_env": {"GREETING": "Hi"},
    }
    playbook("examples/publish.yml", {"example_name": "flask_factory"})
    playbook("site.yml", factory)
    r = http(host, "/", hostname="factory.test")
    assert r["status"] == 200
    assert r["body"] == "Hi from the hello_factory app\n"
    assert http(host, "/static/hello.txt", hostname="factory.test")["body"] == "Static file of the factory example.\n"
    assert http(host, "/")["status"] == 200  # the first app still serves
    assert host.file("/srv/factory/current/.venv").linked_to.startswith("/srv/factory/venvs/rel-")
