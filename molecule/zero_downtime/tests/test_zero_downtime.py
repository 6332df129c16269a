"""Zero-downtime releases, proven under load.

The steps run in file order and build on each other (one host, one app):
  a  code deploy of a new commit (VERSION 2) under load; the venv is reused and nothing is installed
  b  a gunicorn setting change through site.yml under load
  c  an nginx setting change through site.yml under load
  e  a deploy of a commit whose import fails, under load: the play fails, current and the old version stay
  k  a deploy killed with SIGKILL mid-build (new requirements): a second deploy meanwhile fails at once on the lock,
     current stays on a complete release, the next deploy breaks the stale lock and goes live with its own venv
  l  the lock is root's: a local user cannot create, replace or remove it, a lock directory that user owns is
     refused; a lock from a controller with this host name but another controller id is not broken by the PID rule
  d  a rollback under load, back to the release and the venv of VERSION 2; an unknown id fails listing releases
  g  app_keep_releases=3 prunes while the live and previous releases survive
  z  a no-change re-run of site.yml changes nothing and writes no deploy log line (timed)
Load: hey inside the container against nginx on 127.0.0.1:80 (Host example.test), started before the
operation and stopped two seconds after it ends; every step needs >= 5,000 requests and 0 failures
(non-2xx or connection errors). Counts and timings are printed and appended to .cache/zero_downtime/results.txt.
"""

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import yaml
from pydeploy_testlib import parse_hey

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
APP = "hello"
ROOT = "/srv/hello"
LOCK_DIR = "/run/pydeploy-deploy"
LOCK = LOCK_DIR + "/hello.lock"
URL_HOST = "example.test"
MIN_REQUESTS = 5000
LOAD_WORKERS = 8
LOAD_QPS_PER_WORKER = 40  # 320 requests/s: >= 5,000 in a 17 s step, and light on a busy 2-core machine
LOAD_MIN_SECONDS = 17
# In flight during the code deploy: longer than the deploy's switch, shorter than gunicorn_timeout (30 s).
SLOW_SECONDS = 25
# Fast requests during a code deploy, against the same load with no deploy, measured in the same run (test_00). With a
# restart in place (before 0.2.0) requests waited about 1 s in the socket's queue while the new master booted: about
# one request in fifteen, so the p99 rose to about 1 s. The bound is relative, so that a machine loaded by another
# scenario (which slows both measurements) does not fail it; the allowance stays well under the 1 s boot.
FAST_P99_FACTOR = 4
FAST_P99_ALLOWANCE = 0.25
RESULTS = os.path.join(PROJECT, ".cache", "zero_downtime", "results.txt")
STATE = {}


def _container():
    with open(INVENTORY, encoding="utf-8") as fh:
        inv = yaml.safe_load(fh)
    hosts = (inv.get("all") or {}).get("hosts") or {}
    assert len(hosts) == 1, hosts
    return next(iter(hosts))


CONTAINER = _container()


def record(line):
    print(line, flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as fh:
        fh.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + line + "\n")


def sh(script, check=True):
    """Run a shell script inside the container, return stdout."""
    proc = subprocess.run(["docker", "exec", CONTAINER, "sh", "-c", script], capture_output=True, text=True, timeout=120,
                          check=False)
    if check:
        assert proc.returncode == 0, "%s\n%s\n%s" % (script, proc.stdout, proc.stderr)
    return proc.stdout


def http(path="/", method="GET", data=None):
    extra = " -X %s --data-binary %s" % (method, json.dumps(data)) if data is not None else ""
    return sh("curl -sS --fail -H 'Host: %s'%s http://127.0.0.1%s" % (URL_HOST, extra, path))


def readlink(name):
    return sh("readlink -f %s/%s" % (ROOT, name)).strip()


def live_id():
    return os.path.basename(readlink("current"))


def live_unit():
    """The serving instance's unit: the app's socket path links to /run/pydeploy/<app>-<instance>.sock."""
    target = sh("readlink /run/pydeploy/%s.sock" % APP).strip()
    return "%s@%s.service" % (APP, target.rsplit("-", 1)[1][:-len(".sock")])


def master_pid():
    return int(sh("systemctl show %s -p MainPID --value" % live_unit()).strip())


def master_python():
    """The interpreter of the running gunicorn master: the release's virtualenv, resolved."""
    return sh("ps -o args= -p %d" % master_pid()).split()[0]


def deploy_log():
    return sh("cat %s/deploys.log 2>/dev/null || true" % ROOT).splitlines()


def ansible_env(json_out=True):
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(PROJECT, ".collections")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PY_COLORS", None)
    if json_out:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.json"
    return env


def playbook_cmd(playbook, extra_vars=None):
    cmd = ["ansible-playbook", "-i", os.path.dirname(INVENTORY), os.path.join(PROJECT, playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    return cmd


class Run:
    def __init__(self, proc, seconds):
        self.rc = proc.returncode
        self.seconds = seconds
        self.out = proc.stdout
        self.err = proc.stderr
        start = self.out.find("{")
        self.data = json.loads(self.out[start:]) if start >= 0 else {}

    def stats(self):
        return next(iter(self.data.get("stats", {}).values()), {})

    def tasks(self):
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                for res in task.get("hosts", {}).values():
                    yield task["task"]["name"], res

    def task(self, name):
        found = [res for tname, res in self.tasks() if tname.split(" : ", 1)[-1] == name]
        assert found, "task %r not in the run" % name
        return found

    def messages(self):
        return "\n".join(str(res.get("msg", "")) for _name, res in self.tasks() if res.get("failed"))

    def __repr__(self):
        return "rc=%s after %.1f s\nfailures:\n%s\nstderr:\n%s" % (self.rc, self.seconds, self.messages(), self.err[-3000:])


def play(playbook, extra_vars=None, timeout=600):
    t0 = time.monotonic()
    proc = subprocess.run(playbook_cmd(playbook, extra_vars), env=ansible_env(), capture_output=True, text=True,
                          timeout=timeout, cwd=PROJECT, check=False)
    return Run(proc, time.monotonic() - t0)


def commit(version, broken=False, requirements_comment=None):
    """Commit a modified copy of examples/flask_hello as the new tip of main and publish it on the host."""
    work = tempfile.mkdtemp(prefix="pydeploy-zd-")
    try:
        src = os.path.join(work, "flask_hello")
        shutil.copytree(os.path.join(PROJECT, "examples", "flask_hello"), src,
                        ignore=shutil.ignore_patterns("__pycache__"))
        with open(os.path.join(src, "VERSION"), "w", encoding="utf-8") as fh:
            fh.write("%s\n" % version)
        if broken:
            with open(os.path.join(src, "app.py"), "a", encoding="utf-8") as fh:
                fh.write("\nimport pydeploy_module_that_does_not_exist  # noqa: E402,F401\n")
        if requirements_comment:
            with open(os.path.join(src, "requirements.txt"), "a", encoding="utf-8") as fh:
                fh.write("# %s\n" % requirements_comment)
        out = subprocess.run(["bash", os.path.join(PROJECT, "scripts", "example-repo.sh"), "flask_hello", src,
                              "VERSION %s" % version], capture_output=True, text=True, check=True, cwd=PROJECT)
        sha = out.stdout.strip().splitlines()[-1]
    finally:
        shutil.rmtree(work)
    return sha


@pytest.fixture(scope="module")
def commits():
    """Commit every version the steps deploy, as a chain on main (the last is the tip), and publish once.

    Steps deploy them by commit id (-e app_version=<sha>), which also exercises deploying a pinned commit.
    """
    shas = {
        2: commit(2),
        3: commit(3, broken=True),
        4: commit(4, requirements_comment="new requirements hash: a new virtualenv"),
        5: commit(5, requirements_comment="new requirements hash: a new virtualenv"),
    }
    pub = play("examples/publish.yml")
    assert pub.rc == 0, pub
    return shas


class Load:
    """hey inside the container, through nginx, from before an operation until two seconds after it."""

    def __init__(self, name):
        self.name = name
        self.out = "/tmp/hey-%s.out" % name
        self.result = None

    def __enter__(self):
        sh("rm -f %s; nohup hey -z 300s -c %d -q %d -host %s http://127.0.0.1/ >%s 2>&1 & echo $! >/tmp/hey.pid"
           % (self.out, LOAD_WORKERS, LOAD_QPS_PER_WORKER, URL_HOST, self.out))
        self.t0 = time.monotonic()
        time.sleep(2)
        return self

    def __exit__(self, *exc):
        time.sleep(max(2.0, LOAD_MIN_SECONDS - (time.monotonic() - self.t0)))
        sh("kill -INT $(cat /tmp/hey.pid)")
        deadline = time.monotonic() + 30
        while sh("kill -0 $(cat /tmp/hey.pid) 2>/dev/null && echo running || true").strip() == "running":
            assert time.monotonic() < deadline, "hey did not stop"
            time.sleep(0.5)
        self.result = parse_hey(sh("cat %s" % self.out))
        self.result["seconds"] = time.monotonic() - self.t0
        return False


def check_load(step, load, run=None):
    r = load.result
    record("LOAD %-28s requests=%d failed=%d codes=%s p99=%ss slowest=%ss load=%.1fs%s" % (
        step, r["requests"], r["failed"], r["codes"], r["p99"], r["slowest"], r["seconds"],
        (" playbook=%.1fs rc=%s" % (run.seconds, run.rc)) if run else ""))
    assert r["failed"] == 0, "%s: %d failed requests: %s %s" % (step, r["failed"], r["codes"], r["errors"])
    assert r["requests"] >= MIN_REQUESTS, "%s: only %d requests under load" % (step, r["requests"])


def test_00_baseline():
    assert "(flask_hello 1)" in http("/")
    # The same load with no deploy: the latency the deploy's is compared with.
    with Load("baseline") as load:
        pass
    check_load("baseline (no deploy)", load)
    STATE["baseline_p99"] = load.result["p99"]
    http("/notes", "POST", "kept across releases")
    assert "kept across releases" in http("/notes")
    STATE["r1"] = live_id()
    STATE["venv1"] = readlink("current/.venv")
    assert sh("test -f %s/releases/%s/REVISION && cat %s/releases/%s/REVISION" % (ROOT, STATE["r1"], ROOT, STATE["r1"])).strip()


def test_a_code_deploy_under_load(commits):
    sha = commits[2]
    # A slow request in flight when the deploy starts finishes on the old release (the old instance drains).
    sh("rm -f /tmp/slow.out; nohup curl -s -o /dev/null -w '%%{http_code} %%{time_total}' -H 'Host: %s' "
       "'http://127.0.0.1/slow?seconds=%d' >/tmp/slow.out 2>&1 &" % (URL_HOST, SLOW_SECONDS))
    since = int(sh("date +%s"))
    with Load("a-code-deploy") as load:
        run = play("playbooks/deploy.yml", {"app_version": sha})
    assert run.rc == 0, run
    # What the later tests build on is recorded first, so that a miss below fails this test alone.
    STATE["r2"] = live_id()
    check_load("a code deploy", load, run)
    # Fast requests never waited for the new release to boot: the old instance served until the switch.
    bound = FAST_P99_FACTOR * STATE["baseline_p99"] + FAST_P99_ALLOWANCE
    assert load.result["p99"] <= bound, "fast requests waited during the deploy: p99 %ss, baseline p99 %ss (bound %.3fs)" % (
        load.result["p99"], STATE["baseline_p99"], bound)
    deadline = time.monotonic() + SLOW_SECONDS + 15
    while not sh("cat /tmp/slow.out 2>/dev/null || true").strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    slow = sh("cat /tmp/slow.out").split()
    record("SLOW a %d s request in flight during the deploy answered %s after %ss" % (SLOW_SECONDS, slow[0], slow[1]))
    assert slow[0] == "200", slow
    record("TIME code-only redeploy (playbooks/deploy.yml, 2 plays): %.1f s" % run.seconds)
    assert STATE["r2"].split("-")[0] == sha[:12] and STATE["r2"] != STATE["r1"]
    # f: the new code serves, from the new release.
    assert "(flask_hello 2)" in http("/")
    assert readlink("previous").endswith(STATE["r1"])
    # Same requirements: the virtualenv is reused and neither uv nor pip installs anything.
    assert readlink("current/.venv") == STATE["venv1"]
    # Every installer runs in the build's transient unit: it never started during this deploy.
    built = sh("journalctl -q -o cat -u %s-release-build.service --since @%d" % (APP, since)).strip()
    assert not built, "an installer ran although the requirements did not change:\n%s" % built
    assert sh("cat %s/.pydeploy-complete" % STATE["venv1"]).strip() == STATE["r1"]
    assert "kept across releases" in http("/notes")
    last = deploy_log()[-1]
    assert "release=%s" % STATE["r2"] in last and "from=%s" % STATE["r1"] in last and "result=deployed" in last, last


def test_b_gunicorn_setting_under_load(commits):
    before = master_pid()
    with Load("b-gunicorn-setting") as load:
        run = play("site.yml", {"app_version": commits[2], "gunicorn_timeout": 31})
    assert run.rc == 0, run
    check_load("b gunicorn setting (site.yml)", load, run)
    assert "timeout = 31" in sh("cat /etc/pydeploy/%s/gunicorn.conf.py" % APP)
    assert master_pid() != before, "gunicorn was not restarted to apply the setting"
    assert "(flask_hello 2)" in http("/")
    assert "result=restarted" in deploy_log()[-1] and "release=%s" % STATE["r2"] in deploy_log()[-1]


def test_c_nginx_setting_under_load(commits):
    before = master_pid()
    with Load("c-nginx-setting") as load:
        run = play("site.yml", {"app_version": commits[2], "gunicorn_timeout": 31, "nginx_keepalive_timeout": 11})
    assert run.rc == 0, run
    check_load("c nginx setting (site.yml)", load, run)
    assert "keepalive_timeout 11;" in sh("cat /etc/nginx/nginx.conf")
    assert any(res.get("changed") for res in run.task("configure | Reload nginx to apply the tested configuration and certificates"))
    assert master_pid() == before, "an nginx-only change restarted gunicorn"
    assert "(flask_hello 2)" in http("/")


def test_e_broken_release_under_load(commits):
    log_before = len(deploy_log())
    sha = commits[3]
    with Load("e-broken-release") as load:
        run = play("playbooks/deploy.yml", {"app_version": sha})
    check_load("e broken release (gate)", load, run)
    assert run.rc != 0, "a release whose import fails was deployed"
    assert "failed its gate" in run.messages() and "pydeploy_module_that_does_not_exist" in run.messages(), run
    assert live_id() == STATE["r2"], "current moved to the broken release"
    assert "(flask_hello 2)" in http("/")
    assert "kept across releases" in http("/notes")
    lines = deploy_log()
    assert len(lines) == log_before + 1, lines
    assert "release=%s" % sha[:12] in lines[-1] and "result=failed" in lines[-1] and "failed its gate" in lines[-1], lines[-1]
    assert sh("test -e %s && echo held || echo free" % LOCK).strip() == "free", "the lock was not released after a failure"
    record("GATE broken release rejected in %.1f s; deploy log: %s" % (run.seconds, lines[-1]))


def test_k_lock_and_interrupted_deploy(commits):
    # A commit with new requirements: a new virtualenv.
    sha = commits[4]
    cmd = playbook_cmd("playbooks/deploy.yml", {"app_version": sha, "app_release_commands": ["sleep 60"]})
    first = subprocess.Popen(cmd, env=ansible_env(json_out=False), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, cwd=PROJECT, start_new_session=True)
    seen = []
    deadline = time.monotonic() + 240
    for line in first.stdout:
        seen.append(line)
        if "build | Run the release commands" in line:
            break
        assert time.monotonic() < deadline, "".join(seen[-40:])
    else:
        pytest.fail("the first deploy ended before its release commands:\n" + "".join(seen[-60:]))
    time.sleep(1)
    holder = json.loads(sh("cat %s" % LOCK))
    assert holder["pid"] == first.pid and holder["host"] == socket.gethostname(), holder

    # A second deploy meanwhile fails at once, naming the holder.
    second = play("playbooks/deploy.yml", {"app_version": sha})
    assert second.rc != 0, second
    msg = second.messages()
    assert "Another deploy holds the lock" in msg and "%s@%s" % (getpass.getuser(), socket.gethostname()) in msg, msg
    assert "pid %d" % first.pid in msg, msg
    assert first.poll() is None, "the first deploy ended before the second one was refused"
    record("LOCK second deploy refused after %.1f s: %s" % (second.seconds, msg.splitlines()[0][:240]))

    # Kill the controller mid-build, as a lost laptop or a CI timeout would.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert live_id() == STATE["r2"]
    assert sh("test -f %s/current/.pydeploy/complete && echo ok" % ROOT).strip() == "ok"
    assert sh("test -f %s/releases/%s-*/.pydeploy/complete && echo complete || echo incomplete" % (ROOT, sha[:12])).strip() == "incomplete"
    assert sh("test -e %s && echo held || echo free" % LOCK).strip() == "held"
    assert "(flask_hello 2)" in http("/")

    # The next deploy finds the dead holder, breaks the lock, rebuilds the release and goes live.
    run = play("playbooks/deploy.yml", {"app_version": sha})
    assert run.rc == 0, run
    lock = run.task("lock | Take the deploy lock, or fail naming who holds it")[0]
    assert lock["acquired"] and lock["broken"]["pid"] == first.pid and "is gone" in lock["broken_reason"], lock
    record("LOCK stale lock of the killed deploy broken; next deploy took %.1f s" % run.seconds)
    STATE["r4"] = live_id()
    assert STATE["r4"].split("-")[0] == sha[:12]
    assert "(flask_hello 4)" in http("/")
    STATE["venv4"] = readlink("current/.venv")
    assert STATE["venv4"] != STATE["venv1"], "new requirements did not get a new virtualenv"
    assert master_python().startswith(STATE["venv4"] + "/")
    assert "kept across releases" in http("/notes")
    assert sh("test -e %s && echo held || echo free" % LOCK).strip() == "free"


def as_intruder(script):
    """Run a shell script as an unprivileged local user on the host; return its exit code."""
    proc = subprocess.run(["docker", "exec", CONTAINER, "runuser", "-u", "intruder", "--", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode


def test_l_lock_is_roots_and_knows_its_controller(commits):
    del commits
    sh("id intruder >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh intruder")
    assert sh("stat -c '%%U:%%G %%a %%F' %s" % LOCK_DIR).strip() == "root:root 700 directory"
    assert sh("test -e %s && echo held || echo free" % LOCK).strip() == "free"

    # Free lock: the user can neither create it nor plant a symlink in its place.
    assert as_intruder("echo '{}' > %s" % LOCK) != 0
    assert as_intruder("ln -s /tmp/x %s" % LOCK) != 0
    assert sh("test -e %s && echo held || echo free" % LOCK).strip() == "free"

    # A held lock from a controller with this very host name but another controller id (a second laptop called
    # the same), whose PID does not run here: it is respected, not broken as "same controller, PID gone".
    holder = {"user": "bob", "host": socket.gethostname(), "controller": "0" * 32, "pid": 2 ** 22 + 7,
              "pid_start": "1", "since": time.time(), "since_utc": "now", "playbook": "deploy.yml",
              "token": "%s:other:%d:1" % (socket.gethostname(), 2 ** 22 + 7)}
    sh("printf '%%s\\n' '%s' > %s" % (json.dumps(holder), LOCK))
    try:
        # Held lock: the user can neither remove nor replace it.
        assert as_intruder("rm -f %s" % LOCK) != 0
        assert as_intruder("echo '{}' > %s/.swap && mv -f %s/.swap %s" % (LOCK_DIR, LOCK_DIR, LOCK)) != 0
        assert json.loads(sh("cat %s" % LOCK))["user"] == "bob"

        run = play("playbooks/deploy.yml", {"app_version": STATE["r4"]})
        assert run.rc != 0, run
        msg = run.messages()
        assert "Another deploy holds the lock" in msg and "bob@%s" % socket.gethostname() in msg, msg
        assert json.loads(sh("cat %s" % LOCK))["user"] == "bob", "the other controller's lock was broken"
        record("LOCK same host name, other controller id: refused in %.1f s" % run.seconds)
    finally:
        sh("rm -f %s" % LOCK)

    # A lock directory that another user could write is refused before any change, naming the problem.
    sh("chown intruder %s" % LOCK_DIR)
    try:
        run = play("playbooks/deploy.yml", {"app_version": STATE["r4"]})
    finally:
        sh("chown root %s" % LOCK_DIR)
    assert run.rc != 0, run
    assert "Unsafe deploy lock" in run.messages() and "owned by uid" in run.messages(), run
    assert live_id() == STATE["r4"]


def test_d_rollback_under_load():
    bad = play("playbooks/rollback.yml", {"app_rollback_to": "0000deadbeef"})
    assert bad.rc != 0
    assert "0000deadbeef" in bad.messages() and STATE["r2"] in bad.messages() and "Available releases" in bad.messages(), bad
    assert live_id() == STATE["r4"]

    with Load("d-rollback") as load:
        run = play("playbooks/rollback.yml")
    assert run.rc == 0, run
    check_load("d rollback", load, run)
    record("TIME rollback (playbooks/rollback.yml): %.1f s" % run.seconds)
    assert live_id() == STATE["r2"]
    assert "(flask_hello 2)" in http("/")
    # The release's own virtualenv comes back with it.
    assert readlink("current/.venv") == STATE["venv1"]
    assert master_python().startswith(STATE["venv1"] + "/"), master_python()
    assert "kept across releases" in http("/notes")
    assert "version=rollback release=%s" % STATE["r2"] in deploy_log()[-1]


def test_g_keep_releases_prunes(commits):
    sha = commits[5]  # the tip of main
    run = play("playbooks/deploy.yml", {"app_version": "main", "app_keep_releases": 3})
    assert run.rc == 0, run
    releases = sh("ls %s/releases" % ROOT).split()
    record("PRUNE app_keep_releases=3 kept %s (live %s, previous %s); removed %s" % (
        releases, live_id(), os.path.basename(readlink("previous")),
        [r for res in run.task("prune | Keep app_keep_releases releases, never the live, previous or new one")
         for r in res.get("removed", [])]))
    assert len(releases) == 3, releases
    assert live_id().split("-")[0] == sha[:12] and live_id() in releases
    # The previous release (VERSION 2, the oldest left) survives; older releases beyond the 3 are gone.
    assert STATE["r2"] in releases and readlink("previous").endswith(STATE["r2"])
    assert STATE["r1"] not in releases
    assert "(flask_hello 5)" in http("/")
    assert sorted(sh("ls %s/venvs" % ROOT).split()) == sorted({os.path.basename(STATE["venv1"]), os.path.basename(STATE["venv4"])})


def test_z_no_change_rerun_is_quiet():
    # The tip of main is live; deploy.yml already put gunicorn's settings back to the inventory's and kept
    # nginx's from step c (it does not touch nginx): site.yml has nothing to change.
    lines = len(deploy_log())
    run = play("site.yml", {"nginx_keepalive_timeout": 11})
    assert run.rc == 0, run
    stats = run.stats()
    assert stats.get("changed") == 0, [name for name, res in run.tasks() if res.get("changed")]
    assert len(deploy_log()) == lines, "a no-change run wrote to the deploy log"
    for line in deploy_log():
        record("DEPLOYS.LOG " + line)
    ran = stats.get("ok", 0) + stats.get("changed", 0)
    record("TIME no-change site.yml: %.1f s, %d tasks ok, %d skipped, %.3f s per task run (docker connection, pipelining)" % (
        run.seconds, ran, stats.get("skipped", 0), run.seconds / max(ran, 1)))
