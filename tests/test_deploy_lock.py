"""Unit tests for the deploy lock: the remote module's acquire/release/steal and the controller's staleness rules."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


lockmod = load("pydeploy_deploy_lock_module", "plugins/modules/deploy_lock.py")
action = load("pydeploy_deploy_lock_action", "plugins/action/deploy_lock.py")
logmod = load("pydeploy_deploy_log_module", "plugins/modules/deploy_log.py")


def owner(token, **kw):
    data = {"token": token, "user": "alice", "host": "ctl", "pid": 1, "since": time.time()}
    data.update(kw)
    return data


def test_acquire_release_and_reentry(tmp_path):
    path = str(tmp_path / "app.lock")
    res = lockmod.acquire(path, owner("a"), "", False)
    assert res["acquired"] and not res["broken"]
    assert json.loads(pathlib.Path(path).read_text())["token"] == "a"
    assert lockmod.acquire(path, owner("a"), "", False)["acquired"]  # the same run again
    other = lockmod.acquire(path, owner("b"), "", False)
    assert not other["acquired"] and other["holder"]["token"] == "a"
    assert not lockmod.release(path, "b", False)["released"]  # never someone else's lock
    assert os.path.exists(path)
    assert lockmod.release(path, "a", False)["released"]
    assert not os.path.exists(path)


def test_steal_only_the_lock_judged_stale(tmp_path):
    path = str(tmp_path / "app.lock")
    lockmod.acquire(path, owner("dead"), "", False)
    assert not lockmod.acquire(path, owner("me"), "someone-else", False)["acquired"]
    res = lockmod.acquire(path, owner("me"), "dead", False)
    assert res["acquired"] and res["broken"]["token"] == "dead"


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "app.lock")
    assert lockmod.acquire(path, owner("a"), "", True)["acquired"]
    assert not os.path.exists(path)


def test_unreadable_lock_is_reported(tmp_path):
    path = tmp_path / "app.lock"
    path.write_text("{not json")
    assert lockmod.read_holder(str(path))["token"] == "<unreadable>"


def test_process_alive_detects_dead_and_reused_pids():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = action.process_start(proc.pid)
        assert start and action.process_alive(proc.pid, start)
        assert not action.process_alive(proc.pid, str(int(start) + 1))  # same PID, another process
    finally:
        proc.kill()
        proc.wait()
    assert not action.process_alive(proc.pid, start)


def stale(holder, me, ttl=3600, force=False):
    return action.ActionModule._stale(None, holder, me, ttl, force)


def test_staleness_rules():
    me = {"host": "ctl", "token": "me"}
    alive = {"host": "ctl", "pid": os.getpid(), "pid_start": action.process_start(os.getpid()), "since": time.time(), "token": "x"}
    assert stale(alive, me) == ""
    assert "gone" in stale(dict(alive, pid=2 ** 22 + 7), me)
    assert "app_deploy_unlock" in stale(alive, me, force=True)
    remote = {"host": "other", "pid": 1, "since": time.time() - 100, "token": "y"}
    assert stale(remote, me) == ""  # another controller: only the TTL can expire it
    assert "app_deploy_lock_ttl" in stale(remote, me, ttl=60)
    assert stale(dict(remote, since=time.time() - 10 ** 6), me, ttl=0) == ""  # 0 never expires


def test_playbook_names_hide_extra_vars(tmp_path, monkeypatch):
    argv = ["/usr/bin/python3", "/venv/bin/ansible-playbook", "-i", "inv/hosts.yml", "-e", "secret=hunter2.yml",
            "--vault-password-file", "pw.yml", "-v", "/src/playbooks/deploy.yml", "pydeploy.web.rollback"]
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes("\0".join(argv).encode() + b"\0")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: real_open(cmdline if str(p).endswith("/cmdline") else p, *a, **k))
    assert action.playbook_names(1) == "deploy.yml pydeploy.web.rollback"


def test_deploy_log_line_format():
    line = logmod.format_line([{"user": "alice"}, {"release": "0123456789ab"}, {"result": "failed"},
                               {"reason": "Release x failed its gate\nTraceback ..."}], now=0)
    assert line == '1970-01-01T00:00:00Z user=alice release=0123456789ab result=failed reason="Release x failed its gate"'
