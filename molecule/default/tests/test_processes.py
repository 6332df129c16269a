"""The example app's background worker and timer (pydeploy.web.processes), as a user of the host sees them.

Expects hello deployed with app_processes {worker: "python worker.py"}, app_process_counts {worker: 2},
app_timers {tick: every 10 s} and WORKER_STATE_DIR=/srv/hello/shared/state in app_env. examples/flask_hello's
worker.py appends "pid version time" to $WORKER_STATE_DIR/worker-<instance>.txt every second; tick.py appends
"time version" to $WORKER_STATE_DIR/ticks.txt.

On Debian 12 the module first deploys a commit with a new VERSION, with those settings (earlier test files deploy with
an app_env of their own); elsewhere it checks the converged host as it is. About 30 s of waiting in all.
"""

import os
import time

import pytest
from pydeploy_testlib import APP, http, live_instance, playbook, publish_commit

FULL = os.environ.get("MOLECULE_DISTRO", "bookworm") == "bookworm"
# The settings above are deployed on Debian 12 only; elsewhere the converged host runs the Procfile's one worker,
# which test_default.py's served-stack checks cover.
pytestmark = pytest.mark.skipif(not FULL, reason="processes and timers are proven on Debian 12")
ROOT = f"/srv/{APP}"
STATE = f"{ROOT}/shared/state"
SETTINGS = {
    "app_env": {"GREETING": "Hello", "WORKER_STATE_DIR": STATE},
    "app_processes": {"worker": "python worker.py"},
    "app_process_counts": {"worker": 2},
    "app_timers": {"tick": {"command": "python tick.py", "on_calendar": "*:*:0/10"}},
}
WORKERS = {1: f"{APP}-worker@1.service", 2: f"{APP}-worker@2.service"}


def show(host, unit, *props):
    out = host.check_output("systemctl show %s " + " ".join("-p " + p for p in props), unit)
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def lines(host, path):
    f = host.file(path)
    return f.content_string.splitlines() if f.exists else []


def fields(line):
    """The worker's and the tick's lines are key=value pairs: pid=.. version=.. time=.."""
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def heartbeat(host, instance):
    got = lines(host, f"{STATE}/worker-{instance}.txt")
    return fields(got[-1]) if got else {}


def wait_for(check, timeout):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() > deadline:
            return value
        time.sleep(0.5)


def as_app(host, command, *args):
    return host.check_output("runuser -u %s -- " + command, APP, *args)


@pytest.fixture(scope="module")
def deployed(host):
    """{"version": the live VERSION, "before": {instance: PID of the worker that ran before the deploy}}."""
    if not FULL:
        return {"version": host.file(f"{ROOT}/current/VERSION").content_string.strip(), "before": {}}
    before = {i: show(host, unit, "MainPID")["MainPID"] for i, unit in WORKERS.items()}
    version = f"processes-{int(time.time())}"
    publish_commit(version=version)
    playbook("playbooks/deploy.yml", SETTINGS)
    return {"version": version, "before": {i: pid for i, pid in before.items() if pid != "0"}}


def test_both_worker_instances_run_as_the_app_user(host, deployed):
    pids = set()
    for unit in WORKERS.values():
        state = show(host, unit, "ActiveState", "SubState", "UnitFileState", "MainPID", "User", "NRestarts")
        assert (state["ActiveState"], state["SubState"], state["UnitFileState"]) == ("active", "running", "enabled"), state
        assert state["User"] == APP and state["NRestarts"] == "0", state
        assert host.check_output("ps -o user= -p %s", state["MainPID"]).strip() == APP
        pids.add(state["MainPID"])
    assert len(pids) == 2


def test_a_worker_runs_in_the_sandbox_in_the_live_release(host, deployed):
    props = show(host, WORKERS[2], "MainPID", "ProtectSystem", "NoNewPrivileges", "ReadWritePaths", "WorkingDirectory")
    assert props["ProtectSystem"] == "strict" and props["NoNewPrivileges"] == "yes"
    assert props["ReadWritePaths"] == f"{ROOT}/shared" and props["WorkingDirectory"] == f"{ROOT}/current"
    pid = props["MainPID"]
    status = host.file(f"/proc/{pid}/status").content_string
    assert "\nNoNewPrivs:\t1\n" in status and "\nCapEff:\t0000000000000000\n" in status
    # As the app user: reading another user's /proc/PID/{environ,cwd,mountinfo} needs CAP_SYS_PTRACE.
    env = dict(v.split("=", 1) for v in as_app(host, "cat /proc/%s/environ", pid).split("\x00") if "=" in v)
    assert env["PYDEPLOY_PROCESS"] == "worker" and env["PYDEPLOY_PROCESS_INSTANCE"] == "2"
    assert env["VIRTUAL_ENV"] == f"{ROOT}/current/.venv" and env["PATH"].startswith(f"{ROOT}/current/.venv/bin:")
    assert env["WORKER_STATE_DIR"] == STATE and "PORT" not in env
    release = host.file(f"{ROOT}/current").linked_to
    assert as_app(host, "readlink /proc/%s/cwd", pid).strip() == release
    # Inside its mount namespace the release is read-only and the shared data writable.
    mounts = [line.split() for line in as_app(host, "cat /proc/%s/mountinfo", pid).splitlines()]

    def options(path):
        point = max((m for m in mounts if path == m[4] or path.startswith(m[4].rstrip("/") + "/")), key=lambda m: len(m[4]))
        return point[5].split(",")

    assert "ro" in options(release)
    assert "rw" in options(STATE)


def test_heartbeats_come_from_each_instance_with_the_live_version(host, deployed):
    for instance, unit in WORKERS.items():
        path = f"{STATE}/worker-{instance}.txt"
        assert host.file(path).user == APP
        pid = show(host, unit, "MainPID")["MainPID"]
        first = heartbeat(host, instance)
        # A heartbeat a second (the file is replaced whole): a newer one within 3 s, from the running process.
        assert wait_for(lambda i=instance, t=first.get("time"): heartbeat(host, i).get("time") != t, 3), path
        last = heartbeat(host, instance)
        assert last["pid"] == pid and last["version"] == deployed["version"], (unit, last)


@pytest.mark.skipif(not FULL, reason="the deploy runs on Debian 12 only")
def test_a_deploy_of_a_new_version_restarts_the_workers_on_it(host, deployed):
    for instance, unit in WORKERS.items():
        pid = show(host, unit, "MainPID")["MainPID"]
        assert pid != deployed["before"].get(instance), f"{unit} was not restarted by the deploy"
        assert heartbeat(host, instance)["version"] == deployed["version"]


def test_timer_schedule_is_the_calendar(host, deployed):
    timer = show(host, f"{APP}-tick.timer", "ActiveState", "UnitFileState", "TimersCalendar", "Unit")
    assert (timer["ActiveState"], timer["UnitFileState"]) == ("active", "enabled"), timer
    assert timer["Unit"] == f"{APP}-tick.service"
    assert "OnCalendar=*-*-* *:*:00/10 ;" in timer["TimersCalendar"], timer


def test_timer_runs_in_the_live_release_and_is_inactive_between_runs(host, deployed):
    path = f"{STATE}/ticks.txt"
    count = len(lines(host, path))
    # Every 10 s: a new line within 12 s, written by the live release.
    assert wait_for(lambda: len(lines(host, path)) > count, 12), "no tick in 12 s"
    assert fields(lines(host, path)[-1])["version"] == deployed["version"]
    assert host.file(path).user == APP

    # A run takes well under a second; between runs the oneshot service is inactive, and the last run succeeded.
    def idle():
        state = show(host, f"{APP}-tick.service", "ActiveState", "Result", "ExecMainStatus", "User")
        return state if state["ActiveState"] == "inactive" else None

    service = wait_for(idle, 5)
    assert service, "hello-tick.service did not go back to inactive"
    assert service["Result"] == "success" and service["ExecMainStatus"] == "0" and service["User"] == APP, service


def test_z_a_release_whose_worker_crashes_is_switched_back(host, deployed):
    """The worker of the new release exits at start: the deploy fails naming it, and everything is as before."""
    live = host.file(f"{ROOT}/current").linked_to
    instance = live_instance(host)
    publish_commit(version="worker-crashes", replace={"worker.py": [
        ('if os.environ.get("WORKER_FAIL_AT_START"):', "if True:  # this release's worker crashes at start"),
    ]})
    try:
        rc, out = playbook("playbooks/deploy.yml", SETTINGS, check=False)
    finally:
        # The tests after this one deploy the branch's head: a good commit again.
        publish_commit(version=deployed["version"])
    assert rc != 0, "a release whose worker crashes at start was deployed"
    assert "failed once live and was switched back" in out and "did not stay up" in out, out[-3000:]
    assert f"{APP}-worker@1.service" in out and "WORKER_FAIL_AT_START is set" in out, out[-3000:]
    # The live release, its web instance, its boot entry and its workers are as before the deploy.
    assert host.file(f"{ROOT}/current").linked_to == live
    assert live_instance(host) == instance
    boot = host.file(f"/etc/tmpfiles.d/pydeploy-{APP}.conf").content_string
    assert f" /run/pydeploy/{APP}-{instance}.sock" in boot, boot
    other = "green" if instance == "blue" else "blue"
    assert show(host, f"{APP}@{other}.socket", "UnitFileState")["UnitFileState"] != "enabled"
    page = http(host, "/")
    assert page["status"] == 200 and f"(flask_hello {deployed['version']})" in page["body"], page
    for i, unit in WORKERS.items():
        state = show(host, unit, "ActiveState", "MainPID")
        assert state["ActiveState"] == "active", (unit, state)
        beat = wait_for(lambda i=i, pid=state["MainPID"]: heartbeat(host, i).get("pid") == pid and heartbeat(host, i), 5)
        assert beat and beat["version"] == deployed["version"], (unit, beat)
