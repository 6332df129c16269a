"""Every app_server behind the same gate, cutover and rollback: uvicorn, uwsgi, waitress and procfile.

Runs after the zero-downtime steps of the scenario's own app (hello, gunicorn), which it leaves alone. Four apps,
one per server, deployed together with pydeploy_apps (their own example repositories, so hello's is untouched):
  1  site.yml deploys all four; each answers through nginx, run by its server, in the same sandbox as gunicorn's
  2  one deploy of all four (VERSION 2) under HTTP load through nginx on each: no request fails, and a slow request
     in flight on each old instance when it stopped finished with the old release's answer (the drain)
  3  one rollback of all four under the same load: no request fails, the drain again, release 1 serves
  4  an ASGI release that does not import fails its gate with the reason; the live release keeps serving
  5  an unknown app_server fails in the preflight, naming the variable and the app; nothing changes
  6  app_server procfile: a release whose Procfile has no web: line fails before any instance or link changes
Load: per site, hey (2 workers x 10 requests/s) and three loops of 24 s requests, started 8 s apart. Timings are printed and
appended to .cache/servers/results.txt.
"""

import json
import re
import time

from pydeploy_testlib import PROJECT, SiteLoad, apps_playbook, http, publish_commit, ws_roundtrip

FLASK = "srv_flask"
FASTAPI = "srv_fastapi"
# Three loops of slow requests, a third of a request apart: at the switch the newest one on the old instance has at
# least two thirds of its time left (16 s), longer than the switch-to-stop stretch of a deploy on a loaded machine
# (13.9 s was seen with 12 s requests 4 s apart, whose newest had only 8 s left for sure).
SLOW_SECONDS = 24
SLOW_STAGGER = SLOW_SECONDS / 3
# The slow endpoint tells which release answered; the Procfile's gunicorn gets threads, so slow requests do not
# hold up the fast ones.
FLASK_EDITS = {
    "app.py": [('return f"slept {seconds:g} s\\n"', 'return f"slept {seconds:g} s (release {RELEASE})\\n"')],
    "Procfile": [("--bind 127.0.0.1:$PORT", "--bind 127.0.0.1:$PORT --worker-class gthread --threads 8")],
}
FASTAPI_EDITS = [
    ("from pathlib import Path\n", "import asyncio\nfrom pathlib import Path\n"),
    ("from fastapi import FastAPI, WebSocket, WebSocketDisconnect\n",
     "from fastapi import FastAPI, WebSocket, WebSocketDisconnect\nfrom fastapi.responses import PlainTextResponse\n"),
    (
        'app = FastAPI(title="fastapi_ws", version=RELEASE)\n',
        'app = FastAPI(title="fastapi_ws", version=RELEASE)\n\n\n'
        '@app.get("/slow", response_class=PlainTextResponse)\n'
        'async def slow(seconds: float = 1.0):\n'
        '    seconds = min(max(seconds, 0.0), 30.0)\n'
        '    await asyncio.sleep(seconds)\n'
        '    return f"slept {seconds:g} s (release {RELEASE})\\n"\n',
    ),
]
BROKEN = "\nimport pydeploy_module_that_does_not_exist  # noqa: E402,F401\n"

APPS = [
    {"app_name": "s-uvicorn", "app_repo": f"/opt/pydeploy-examples/{FASTAPI}.git", "app_wsgi": "main:app",
     "app_interface": "asgi", "app_server": "uvicorn", "app_domains": ["uvicorn.test"], "app_health_path": "/healthz",
     "app_websocket_paths": ["/ws"]},
    {"app_name": "s-uwsgi", "app_repo": f"/opt/pydeploy-examples/{FLASK}.git", "app_wsgi": "app:app",
     "app_server": "uwsgi", "app_domains": ["uwsgi.test"], "app_health_path": "/healthz", "app_processes": {}},
    {"app_name": "s-waitress", "app_repo": f"/opt/pydeploy-examples/{FLASK}.git", "app_wsgi": "app:app",
     "app_server": "waitress", "app_domains": ["waitress.test"], "app_health_path": "/healthz", "app_processes": {}},
    {"app_name": "s-procfile", "app_repo": f"/opt/pydeploy-examples/{FLASK}.git", "app_server": "procfile",
     "app_server_packages": ["gunicorn>=23.0.0"], "app_domains": ["procfile.test"], "app_health_path": "/healthz",
     "app_processes": {}},
]
SITES = {a["app_name"]: a["app_domains"][0] for a in APPS}
# What runs as the instance's main process, by app.
SERVER_PROCESS = {"s-uvicorn": "uvicorn", "s-uwsgi": "uwsgi", "s-waitress": "waitress", "s-procfile": "gunicorn"}
RESULTS = PROJECT / ".cache" / "servers" / "results.txt"
STATE = {}


def record(line):
    print(line, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + line + "\n")


def publish(version, broken=False):
    """Commit and publish VERSION <version> of both repositories (broken: only the FastAPI app, which fails to import)."""
    if not broken:
        publish_commit("flask_hello", version, replace=FLASK_EDITS, repo=FLASK, message=f"{FLASK} {version}")
    old, new = FASTAPI_EDITS[-1]
    edits = FASTAPI_EDITS[:-1] + [(old, new + (BROKEN if broken else ""))]
    publish_commit("fastapi_ws", version, replace={"main.py": edits}, repo=FASTAPI,
                   message=f"{FASTAPI} {version}{' broken' if broken else ''}")


def release_of(host, app):
    """The VERSION the app answers with through nginx (flask_hello's page, or fastapi_ws's JSON)."""
    r = http(host, "/", hostname=SITES[app])
    assert r["status"] == 200, (app, r)
    if app == "s-uvicorn":
        return json.loads(r["body"])["version"]
    found = re.search(r"\(flask_hello (\w+)\)", r["body"])
    assert found, (app, r["body"])
    return found.group(1)


def live_instance(host, app):
    return host.run(f"readlink /run/pydeploy/{app}.sock").stdout.strip().rsplit("-", 1)[1][:-len(".sock")]


def stop_began(host, unit):
    """When systemd last began to stop the unit (epoch seconds), from its journal."""
    out = host.run(f"journalctl -u {unit} -o short-unix --no-pager | grep ' systemd\\[1\\]: Stopping ' | tail -n 1").stdout.split()
    assert out, f"{unit} was never stopped"
    return float(out[0])


def check_load(step, load, olds, old_release):
    """0 failed requests on every site; per app, a slow request of the old release finished after its instance began
    to stop (it was in flight through the drain) and every slow request answered 200."""
    for app, site in SITES.items():
        r = load.hey[site]
        record(f"LOAD {step} {app}: requests={r['requests']} failed={r['failed']} codes={r['codes']} "
               f"p99={r['p99']}s slowest={r['slowest']}s")
        assert r["failed"] == 0, f"{step} {app}: {r['failed']} failed requests: {r['codes']} {r['errors']}"
        assert r["requests"] >= 100, f"{step} {app}: only {r['requests']} requests under load"
        slow = load.slow_requests[site]
        bad = [s for s in slow if s["status"] != 200]
        assert not bad, f"{step} {app}: slow requests failed: {bad}"
        stopped = stop_began(load.host, f"{app}@{olds[app]}.service")
        drained = [s for s in slow if s["start"] < stopped < s["end"] and f"(release {old_release})" in s["body"]]
        record(f"SLOW {step} {app}: {len(slow)} slow requests, all 200; in flight on the old instance when it began "
               f"to stop: {len(drained)} (answered by release {old_release})")
        assert drained, f"{step} {app}: no slow request was in flight through the old instance's stop: {slow}"


def test_1_each_server_serves(host):
    publish(1)
    rc, out, seconds = apps_playbook("site.yml", APPS, group_app=False)
    record(f"TIME site.yml, four apps, one per server, first deploy: {seconds:.1f} s")
    assert rc == 0, out[-6000:]
    for app in SITES:
        assert release_of(host, app) == "1"
        unit = f"{app}@{live_instance(host, app)}.service"
        service = host.service(unit)
        assert service.is_running and service.is_enabled, unit
        pid = host.run(f"systemctl show -p MainPID --value {unit}").stdout.strip()
        command = host.run(f"ps -o args= -p {pid}").stdout
        assert SERVER_PROCESS[app] in command, (unit, command)
        # The same sandbox and user as gunicorn's instances.
        props = host.run(f"systemctl show -p User -p ProtectSystem -p NoNewPrivileges {unit}").stdout
        assert f"User={app}" in props and "ProtectSystem=strict" in props and "NoNewPrivileges=yes" in props, props
    # procfile: the web command listens on its instance's loopback port only; nginx reaches it through the proxy.
    port = {"blue": 18000, "green": 18001}[live_instance(host, "s-procfile")]
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert host.service(f"s-procfile.proxy@{live_instance(host, 's-procfile')}.service").is_running
    ws = ws_roundtrip(host, "/ws", "ping", hostname=SITES["s-uvicorn"])
    assert ws["status"] == 101 and ws["reply"] == "1: ping", ws


def test_2_deploy_all_under_load(host):
    publish(2)
    olds = {app: live_instance(host, app) for app in SITES}
    with SiteLoad(host, SITES.values(), slow=3, slow_path=f"/slow?seconds={SLOW_SECONDS}", stagger=SLOW_STAGGER) as load:
        rc, out, seconds = apps_playbook("playbooks/deploy.yml", APPS, group_app=False)
    record(f"TIME deploy.yml, four apps under load: {seconds:.1f} s (rc={rc})")
    assert rc == 0, out[-6000:]
    check_load("deploy", load, olds, "1")
    for app in SITES:
        assert release_of(host, app) == "2", app
        assert live_instance(host, app) != olds[app]


def test_3_rollback_all_under_load(host):
    olds = {app: live_instance(host, app) for app in SITES}
    with SiteLoad(host, SITES.values(), slow=3, slow_path=f"/slow?seconds={SLOW_SECONDS}", stagger=SLOW_STAGGER) as load:
        rc, out, seconds = apps_playbook("playbooks/rollback.yml", APPS, group_app=False)
    record(f"TIME rollback.yml, four apps under load: {seconds:.1f} s (rc={rc})")
    assert rc == 0, out[-6000:]
    check_load("rollback", load, olds, "2")
    for app in SITES:
        assert release_of(host, app) == "1", app


def test_4_broken_asgi_release_keeps_the_live_one(host):
    publish(3, broken=True)
    live = live_instance(host, "s-uvicorn")
    rc, out, seconds = apps_playbook("playbooks/deploy.yml", APPS, {"pydeploy_only": ["s-uvicorn"]}, group_app=False)
    record(f"TIME deploy.yml, an ASGI release that does not import: {seconds:.1f} s (rc={rc})")
    assert rc != 0
    assert "failed its gate" in out and "pydeploy_module_that_does_not_exist" in out, out[-4000:]
    assert release_of(host, "s-uvicorn") == "1"
    assert live_instance(host, "s-uvicorn") == live


def test_5_unknown_server_fails_before_anything_changes(host):
    before = host.run("ls -l --time-style=+%s.%N /etc/systemd/system/s-uwsgi@.service /srv/s-uwsgi").stdout
    bad = [dict(APPS[1], app_server="unicorn")]
    rc, out, _seconds = apps_playbook("site.yml", bad, group_app=False)
    assert rc != 0
    assert "app_server" in out and "s-uwsgi" in out and "unicorn" in out, out[-4000:]
    assert "Set up the host and deploy each app" not in out
    assert host.run("ls -l --time-style=+%s.%N /etc/systemd/system/s-uwsgi@.service /srv/s-uwsgi").stdout == before
    assert release_of(host, "s-uwsgi") == "1"


def test_6_procfile_release_without_web_line_keeps_the_live_one(host):
    """app_server procfile: a release whose Procfile has no web: line fails before any instance or link changes."""
    edits = {"app.py": FLASK_EDITS["app.py"],
             "Procfile": [("web: gunicorn app:app --bind 127.0.0.1:$PORT\n", "")]}
    publish_commit("flask_hello", 4, replace=edits, repo=FLASK, message=f"{FLASK} 4 without web:")
    live = live_instance(host, "s-procfile")
    rc, out, seconds = apps_playbook("playbooks/deploy.yml", APPS, {"pydeploy_only": ["s-procfile"]}, group_app=False)
    record(f"TIME deploy.yml, a Procfile without web: (app_server procfile): {seconds:.1f} s (rc={rc})")
    assert rc != 0
    assert "s-procfile: app_server is procfile" in out and "a Procfile without a web: line" in out, out[-4000:]
    assert release_of(host, "s-procfile") == "1"
    assert live_instance(host, "s-procfile") == live
