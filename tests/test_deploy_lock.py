"""Unit tests for the deploy lock: the remote module's acquire/release/steal and the controller's staleness rules."""

import importlib.util
import json
import os
import pathlib
import stat
import subprocess
import sys
import time

import pytest

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
    me = {"host": "ctl", "controller": "c1", "token": "me"}
    alive = {"host": "ctl", "controller": "c1", "pid": os.getpid(), "pid_start": action.process_start(os.getpid()),
             "since": time.time(), "token": "x"}
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


def run_deploy_log(tmp_path, path):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"path": str(path), "fields": [{"result": "deployed"}]}}))
    done = subprocess.run([sys.executable, str(ROOT / "plugins/modules/deploy_log.py"), str(args)],
                          capture_output=True, text=True, check=False)
    return json.loads(done.stdout)


def test_deploy_log_appends_to_its_file(tmp_path):
    log = tmp_path / "deploys.log"
    assert not run_deploy_log(tmp_path, log).get("failed")
    assert not run_deploy_log(tmp_path, log).get("failed")
    assert log.read_text().count("result=deployed\n") == 2


def test_deploy_log_never_writes_through_a_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    (tmp_path / "deploys.log").symlink_to(target)
    result = run_deploy_log(tmp_path, tmp_path / "deploys.log")
    assert result.get("failed") and "cannot append" in result["msg"]
    assert target.read_text() == "precious\n"


def test_lock_directory_is_created_private(tmp_path):
    path = str(tmp_path / "locks" / "app.lock")
    assert lockmod.run(path, "acquired", owner("a"), "", False)["acquired"]
    st = os.lstat(tmp_path / "locks")
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert lockmod.run(path, "released", owner("a"), "", False)["released"]


def test_check_mode_creates_no_directory(tmp_path):
    path = str(tmp_path / "locks" / "app.lock")
    assert lockmod.run(path, "acquired", owner("a"), "", True)["acquired"]
    assert not (tmp_path / "locks").exists()


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770, 0o702])
def test_lock_directory_writable_by_others_is_refused(tmp_path, mode):
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(mode)
    with pytest.raises(lockmod.UnsafeLock, match="writable by group or others"):
        lockmod.run(str(locks / "app.lock"), "acquired", owner("a"), "", False)
    assert not any(locks.iterdir())  # refused before anything was written


def test_lock_directory_owned_by_someone_else_is_refused(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    monkeypatch.setattr(lockmod.os, "geteuid", lambda: os.getuid() + 1)  # as if another user made it
    with pytest.raises(lockmod.UnsafeLock, match="owned by uid"):
        lockmod.run(str(locks / "app.lock"), "acquired", owner("a"), "", False)


def test_symlinked_lock_directory_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    (tmp_path / "locks").symlink_to(real)
    with pytest.raises(lockmod.UnsafeLock, match="symlink"):
        lockmod.run(str(tmp_path / "locks" / "app.lock"), "acquired", owner("a"), "", False)
    assert not any(real.iterdir())


@pytest.mark.parametrize("name", ["app.lock", "app.lock.guard"])
def test_symlinked_lock_or_guard_file_is_refused(tmp_path, name):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    target = tmp_path / "victim"
    target.write_text("keep me\n")
    (locks / name).symlink_to(target)
    with pytest.raises(lockmod.UnsafeLock, match="symlink"):
        lockmod.run(str(locks / "app.lock"), "acquired", owner("a"), "", False)
    assert target.read_text() == "keep me\n"


def test_lock_file_owned_by_someone_else_is_refused(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    lockmod.run(str(locks / "app.lock"), "acquired", owner("a"), "", False)
    real_fstat = os.fstat

    def fstat(fd):  # the lock file, as if another user had put it there
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid + 1) + tuple(st)[5:])
    monkeypatch.setattr(lockmod.os, "fstat", fstat)
    with pytest.raises(lockmod.UnsafeLock, match="not a regular file owned by"):
        lockmod.read_holder(str(locks / "app.lock"))


def test_controller_id_tells_same_named_controllers_apart(tmp_path):
    machine = tmp_path / "machine-id"
    machine.write_text("0123456789abcdef0123456789abcdef\n")
    assert action.machine_id([str(tmp_path / "missing"), str(machine)]) == "0123456789abcdef0123456789abcdef"
    keep = tmp_path / "home" / ".ansible" / "pydeploy-controller-id"
    first = action.user_id_file(str(keep))
    assert len(first) == 32 and action.user_id_file(str(keep)) == first  # made once, then kept
    assert stat.S_IMODE(keep.stat().st_mode) == 0o600
    same = action.controller_id("m", first)
    assert same == action.controller_id("m", first)
    assert same != action.controller_id("m", "another laptop's id")  # cloned image, same machine id
    assert same != action.controller_id("another machine", first)  # home shared over NFS


def test_same_hostname_other_controller_is_not_judged_by_pid():
    me = {"host": "ctl", "controller": "mine", "token": "me"}
    dead = 2 ** 22 + 7
    theirs = {"host": "ctl", "controller": "theirs", "pid": dead, "pid_start": "1", "since": time.time(), "token": "t"}
    assert stale(theirs, me) == ""  # its PID means nothing here: only the TTL can expire it
    assert "app_deploy_lock_ttl" in stale(dict(theirs, since=time.time() - 7200), me, ttl=3600)
    legacy = {"host": "ctl", "pid": dead, "since": time.time(), "token": "old"}  # a lock without a controller id
    assert stale(legacy, me) == ""
    assert "gone" in stale(dict(theirs, controller="mine"), me)
