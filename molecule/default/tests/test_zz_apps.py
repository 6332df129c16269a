"""Two apps on one host with pydeploy_apps: the Flask app and a FastAPI app with a websocket (app_interface asgi).

Runs last on Debian 12 (it builds a second virtualenv). The inventory is the scenario's, with the app_* group
variables moved into the first entry of pydeploy_apps: a global app_* would apply to every app.
  1  site.yml deploys both; each answers on its own name; a websocket round trip works through nginx
  2  a deploy of the FastAPI app alone (pydeploy_only) under HTTP load and websocket clients that reconnect:
     no HTTP request fails, every websocket round trip gets an answer, and the new release answers afterwards
  3  app_state absent + app_purge removes the FastAPI app; the Flask app keeps serving
"""

import json
import os
import time

import pytest
from pydeploy_testlib import APP, DOMAIN, PROJECT, _WS, apps_playbook, http, publish_commit, ws_roundtrip

pytestmark = pytest.mark.skipif(os.environ.get("MOLECULE_DISTRO", "bookworm") != "bookworm",
                                reason="two apps are proven on Debian 12")

LIVE = "live"
LIVE_DOMAIN = "live.test"
DJANGO = "notes"
DJANGO_DOMAIN = "django.test"
DJANGO_APP = {
    "app_name": DJANGO, "app_repo": "/opt/pydeploy-examples/django_app.git", "app_wsgi": "mysite.wsgi:application",
    "app_domains": [DJANGO_DOMAIN], "app_health_path": "/healthz", "app_shared_paths": ["data"],
    "app_env": {"SECRET_KEY": "molecule-only-not-a-secret", "ALLOWED_HOSTS": DJANGO_DOMAIN,
                "DATABASE_PATH": "data/db.sqlite3"},
    "app_release_commands": ["python manage.py migrate --noinput", "python manage.py collectstatic --noinput"],
    "app_static": [{"url": "/static", "path": "staticfiles"}],
}

# Inside the container: HTTP GETs in 4 threads and websocket round trips in 2, until a stop file appears.
_LOAD = r"""
import http.client, json, os, subprocess, sys, threading, time
host, ws_script, stop, out = sys.argv[1:5]
res = {"http_ok": 0, "http_failed": [], "ws_ok": 0, "ws_failed": [], "ws_replies": set()}
lock = threading.Lock()

def web():
    while not os.path.exists(stop):
        try:
            c = http.client.HTTPConnection("127.0.0.1", 80, timeout=15)
            c.request("GET", "/", headers={"Host": host})
            r = c.getresponse(); r.read(); c.close()
            with lock:
                if r.status == 200: res["http_ok"] += 1
                else: res["http_failed"].append(r.status)
        except Exception as exc:
            with lock: res["http_failed"].append(repr(exc))

def ws():
    while not os.path.exists(stop):
        p = subprocess.run([sys.executable, ws_script, "/ws", host, "80", "http", "ping", "15", ""],
                           capture_output=True, text=True)
        r = json.loads(p.stdout or "{}")
        with lock:
            if r.get("status") == 101 and r.get("reply"):
                res["ws_ok"] += 1; res["ws_replies"].add(r["reply"].split(":")[0])
            else:
                res["ws_failed"].append(r.get("error") or p.stderr[-200:])

threads = [threading.Thread(target=web) for _ in range(4)] + [threading.Thread(target=ws) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
res["ws_replies"] = sorted(res["ws_replies"])
open(out, "w").write(json.dumps(res))
"""


def site(playbook="site.yml", live_extra=None, extra=None):
    """Run a playbook with the scenario's app (its app_* group variables), the FastAPI app and the Django app."""
    live = {"app_name": LIVE, "app_repo": "/opt/pydeploy-examples/fastapi_ws.git", "app_wsgi": "main:app",
            "app_interface": "asgi", "app_domains": [LIVE_DOMAIN], "app_health_path": "/healthz",
            "app_websocket_paths": ["/ws"], **(live_extra or {})}
    return apps_playbook(playbook, [live, DJANGO_APP], extra)


@pytest.fixture(scope="module")
def two_apps():
    publish_commit(example="fastapi_ws", version="1", message="fastapi_ws 1")
    publish_commit(example="django_app", version="1", message="django_app 1")
    rc, out, _seconds = site()
    assert rc == 0, out[-6000:]
    return out


def test_both_apps_answer_on_their_own_names(host, two_apps):
    assert "Hello" in http(host, "/", hostname=DOMAIN)["body"]
    r = http(host, "/", hostname=LIVE_DOMAIN)
    assert r["status"] == 200, r
    assert json.loads(r["body"])["app"] == "fastapi_ws"
    # Each app has its own user, units and socket; the host's default server still drops unknown names.
    assert host.user(LIVE).exists and host.user(APP).exists
    assert http(host, "/", hostname="unknown.test")["status"] == 0


def test_django_migrates_collects_static_and_keeps_its_data(host, two_apps):
    """A third app: Django with migrate and collectstatic as release commands, static files from nginx."""
    before = json.loads(http(host, "/", hostname=DJANGO_DOMAIN)["body"])
    r = http(host, "/notes", hostname=DJANGO_DOMAIN, method="POST", body="note=kept")
    assert r["status"] in (200, 201), r
    after = json.loads(http(host, "/", hostname=DJANGO_DOMAIN)["body"])
    assert list(after.values()) != list(before.values()), (before, after)
    css = http(host, "/static/notes/style.css", hostname=DJANGO_DOMAIN)
    assert css["status"] == 200 and css["body"].strip(), css
    # collectstatic wrote into the release; the database lives in the shared path, owned by the app.
    assert host.file(f"/srv/{DJANGO}/current/staticfiles/notes/style.css").exists
    db = host.file(f"/srv/{DJANGO}/shared/data/db.sqlite3")
    assert db.exists and db.user == DJANGO
    # ALLOWED_HOSTS comes from the env: straight to the app's socket, a Host Django does not know gets 400.
    status = host.check_output(
        "python3 -c %s", "import http.client, socket\n"
        "c = http.client.HTTPConnection('localhost')\n"
        "c.sock = socket.socket(socket.AF_UNIX); c.sock.connect('/run/pydeploy/%s.sock')\n"
        "c.request('GET', '/', headers={'Host': 'other.test'}); print(c.getresponse().status)" % DJANGO)
    assert status == "400"


def test_asgi_app_runs_on_the_uvicorn_worker(host, two_apps):
    conf = host.file(f"/etc/pydeploy/{LIVE}/gunicorn.conf.py").content_string
    assert 'worker_class = "uvicorn_worker.UvicornWorker"' in conf


def test_websocket_round_trip_through_nginx(host, two_apps):
    r = ws_roundtrip(host, "/ws", message="hi", hostname=LIVE_DOMAIN)
    assert r["status"] == 101 and r["reply"] == "1: hi", r
    # The websocket location has the long read timeout; the rest of the site keeps the normal one.
    site_conf = host.file(f"/etc/nginx/sites-available/{LIVE}.conf").content_string
    assert "location /ws {" in site_conf and "proxy_read_timeout 3600s;" in site_conf


def test_deploy_one_app_under_load_with_websocket_clients(host, two_apps):
    publish_commit(example="fastapi_ws", version="2", message="fastapi_ws 2")
    hello_log = host.file(f"/srv/{APP}/deploys.log").content_string
    host.run("rm -f /tmp/apps-load.stop /tmp/apps-load.json")
    host.run("cat > /tmp/apps-ws.py <<'EOF'\n%s\nEOF" % _WS)
    host.run("cat > /tmp/apps-load.py <<'EOF'\n%s\nEOF" % _LOAD)
    host.run(f"nohup python3 /tmp/apps-load.py {LIVE_DOMAIN} /tmp/apps-ws.py /tmp/apps-load.stop /tmp/apps-load.json "
             ">/tmp/apps-load.log 2>&1 &")
    time.sleep(3)
    try:
        rc, out, seconds = site("playbooks/deploy.yml", extra={"pydeploy_only": [LIVE]})
    finally:
        time.sleep(3)
        host.run("touch /tmp/apps-load.stop")
    assert rc == 0, out[-6000:]
    deadline = time.time() + 30
    while not host.file("/tmp/apps-load.json").exists and time.time() < deadline:
        time.sleep(0.5)
    res = json.loads(host.file("/tmp/apps-load.json").content_string)
    line = (f"APPS deploy of one app under load in {seconds:.1f} s: http ok={res['http_ok']} failed={len(res['http_failed'])}, "
            f"websocket ok={res['ws_ok']} failed={len(res['ws_failed'])}, releases answering {res['ws_replies']}")
    print(line)
    results = PROJECT / ".cache" / "apps" / "results.txt"
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a", encoding="utf-8") as fh:
        fh.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + line + "\n")
    assert res["http_ok"] > 100 and res["ws_ok"] > 10, res
    assert not res["http_failed"], res["http_failed"][:5]
    assert not res["ws_failed"], res["ws_failed"][:5]
    assert res["ws_replies"][-1] == "2", res
    # Only the FastAPI app was deployed: the Flask app's deploy log did not move.
    assert host.file(f"/srv/{APP}/deploys.log").content_string == hello_log
    assert "result=deployed" in host.file(f"/srv/{LIVE}/deploys.log").content_string.splitlines()[-1]
    assert ws_roundtrip(host, "/ws", message="x", hostname=LIVE_DOMAIN)["reply"] == "2: x"


def test_removing_one_app_leaves_the_other_serving(host, two_apps):
    rc, out, _seconds = site(live_extra={"app_state": "absent", "app_purge": True})
    assert rc == 0, out[-6000:]
    assert http(host, "/", hostname=LIVE_DOMAIN)["status"] == 0  # no site: the default server drops it
    assert "Hello" in http(host, "/", hostname=DOMAIN)["body"]
    assert not host.file(f"/srv/{LIVE}").exists
    assert not host.file(f"/etc/pydeploy/{LIVE}").exists
    assert not host.file(f"/etc/nginx/sites-enabled/{LIVE}.conf").exists
    assert not host.user(LIVE).exists
    units = host.check_output(f"systemctl list-units --all --no-legend '{LIVE}@*' '{LIVE}-*' | wc -l")
    assert units.strip() == "0", host.check_output(f"systemctl list-units --all --no-legend '{LIVE}@*'")
    assert not host.file(f"/etc/systemd/system/{LIVE}@.service").exists
