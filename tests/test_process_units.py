"""The processes role's units as systemd reads them, and its preflight, run on this machine.

The units are rendered by the role's own tasks (tasks/render.yml, through ansible-playbook on localhost), checked
with `systemd-analyze verify`, and loaded by systemd's own parser: `systemd --test` dumps every setting as systemd
understood it, the command lines included. The preflight runs against localhost (it only reads the host); the unit
directory is a temporary one. Needs systemd's binaries (not a running systemd); skipped without them.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = "/lib/systemd/systemd"
pytestmark = pytest.mark.skipif(not (os.path.exists(SYSTEMD) and shutil.which("systemd-analyze")),
                                reason="needs systemd's binaries")

BASE = {
    "processes_name": "hello",
    "processes_user": "hello",
    "processes_root": "/srv/hello",
    "processes_env_file": "/etc/pydeploy/hello/env",
}
# Commands with everything the unit file syntax would otherwise change: quotes, $VARS, %, backslashes.
QUOTES = r"""printf '[%s]' "$GREETING" '$GREETING' 100% 'a\b' "say \"hi\"" ${GREETING}x %i %% "$(printf sub)" """.strip()
QUOTES_OUT = r"""[Bonjour][$GREETING][100%][a\b][say "hi"][Bonjourx][%i][%%][sub]"""
SETTINGS = {
    **BASE,
    "processes_definitions": {
        "worker": "python worker.py",
        "celery": {"command": "celery -A proj worker", "stop_signal": "INT", "stop_timeout": 600},
        "quotes": QUOTES,
    },
    "processes_counts": {"worker": 2},
    "processes_timers": {
        "tick": {"command": "python tick.py", "on_calendar": "*:*:0/10"},
        "report": {"command": "echo 100% done in $HOME", "on_calendar": "Mon *-*-* 03:00", "timeout": 900},
    },
}


def ansible(tasks, extra_vars, *args):
    """Run TASKS in a play on localhost with EXTRA_VARS; return (rc, output)."""
    link = ROOT / ".collections/ansible_collections/pydeploy/web"
    if not link.exists():  # as scripts/lib.sh ensure_collection_link does
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("../../..")
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "play.yml"
        book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "tasks": tasks}]))
        variables = Path(tmp) / "vars.json"
        variables.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **extra_vars}))
        env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections")}
        proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-e", "@" + str(variables), str(book), *args],
                              env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def role_task(tasks_from):
    return {"ansible.builtin.include_role": {"name": "pydeploy.web.processes", "tasks_from": tasks_from}}


@pytest.fixture(scope="module")
def unit_dir():
    """The role's units for SETTINGS, in a directory systemd can read as nobody."""
    path = Path(tempfile.mkdtemp(prefix="pydeploy-units-"))
    path.chmod(0o755)
    out = path / "units.json"
    rc, output = ansible([role_task("render.yml"),
                          {"ansible.builtin.copy": {"content": "{{ __processes_unit_files | to_json }}",
                                                    "dest": str(out), "mode": "0644"}}], SETTINGS)
    assert rc == 0, output[-3000:]
    files = json.loads(out.read_text())
    out.unlink()
    for unit in files:
        assert os.path.dirname(unit["dest"]) == "/etc/systemd/system" and unit["mode"] == "0644"
        (path / os.path.basename(unit["dest"])).write_text(unit["content"])
    # A target that wants the units below, so that one `systemd --test` loads them all.
    (path / "pydeploy-test.target").write_text(
        "[Unit]\nWants=hello-worker@2.service hello-celery@1.service hello-quotes@1.service "
        "hello-tick.timer hello-report.timer\n")
    for child in path.iterdir():
        child.chmod(0o644)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def loaded(unit_dir):
    """{unit: {setting: [values], "Command Line": [argv, ...]}} as systemd's parser loaded them."""
    argv = [SYSTEMD, "--test", "--system", "--unit=pydeploy-test.target", "--log-target=console"]
    if os.geteuid() == 0:  # systemd refuses test mode as root
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
    proc = subprocess.run(argv, env={"SYSTEMD_UNIT_PATH": "%s:" % unit_dir, "PATH": os.environ["PATH"]},
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    units, current = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("\t-> Unit "):
            current = units.setdefault(line[len("\t-> Unit "):].rstrip(":"), {})
        elif current is not None and line.startswith("\t\t") and ": " in line:
            key, value = line.lstrip("\t").split(": ", 1)
            current.setdefault(key, []).append(value)
        elif line and not line.startswith("\t\t"):
            current = None
    return units


def dump_argv(line):
    """Split a command line as `systemd --test` prints it: words, double-quoted with \\ escapes where needed."""
    words, i = [], 0
    while i < len(line):
        if line[i] == " ":
            i += 1
        elif line[i] == '"':
            word, i = "", i + 1
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                word += line[i]
                i += 1
            words.append(word)
            i += 1
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            words.append(line[i:end])
            i = end
    return words


def run_time(word):
    """systemd's own $ handling at start: $$ is a literal $, and no other $ may be left for systemd to expand."""
    parts = word.split("$$")
    assert all("$" not in part for part in parts), word
    return "$".join(parts)


def test_units_pass_systemd_analyze_verify(unit_dir):
    units = sorted(p.name for p in unit_dir.iterdir() if not p.name.startswith("pydeploy-test"))
    assert units == ["hello-celery@.service", "hello-quotes@.service", "hello-report.service", "hello-report.timer",
                     "hello-tick.service", "hello-tick.timer", "hello-worker@.service"]
    for name in units:
        proc = subprocess.run(["systemd-analyze", "verify", str(unit_dir / name)], capture_output=True, text=True,
                              env={**os.environ, "SYSTEMD_UNIT_PATH": "%s:" % unit_dir}, check=False)
        assert proc.returncode == 0 and not proc.stderr.strip(), (name, proc.stderr)


def test_every_unit_carries_the_marker_the_role_finds_it_by(unit_dir):
    for unit in unit_dir.glob("hello-*"):
        assert "\n# pydeploy.web.processes unit of hello\n" in unit.read_text(), unit


def test_a_worker_instance_as_systemd_loads_it(loaded):
    unit = loaded["hello-worker@2.service"]
    assert unit["Description"] == ["hello process worker, instance 2"]
    assert unit["Type"] == ["exec"]
    assert unit["User"] == ["hello"] and unit["Group"] == ["hello"]
    assert unit["WorkingDirectory"] == ["/srv/hello/current"]
    assert unit["EnvironmentFile"] == ["/etc/pydeploy/hello/env"]
    assert unit["Environment"] == ["PATH=/srv/hello/current/.venv/bin:/usr/local/bin:/usr/bin:/bin",
                                   "VIRTUAL_ENV=/srv/hello/current/.venv", "PYTHONUNBUFFERED=1",
                                   "PYDEPLOY_PROCESS=worker", "PYDEPLOY_PROCESS_INSTANCE=2"]
    assert unit["UnsetEnvironment"] == ["PORT"]
    assert [dump_argv(c) for c in unit["Command Line"]] == [["/bin/sh", "-c", "exec python worker.py"]]
    assert unit["Restart"] == ["on-failure"] and unit["RestartSec"] == ["1s"]
    assert unit["KillMode"] == ["mixed"] and unit["KillSignal"] == ["SIGTERM"] and unit["TimeoutStopSec"] == ["30s"]
    assert unit["StandardOutput"] == ["journal"] and unit["StandardError"] == ["journal"]
    # The sandbox of pydeploy.web.sandbox, with the shared data writable.
    assert unit["ProtectSystem"] == ["strict"] and unit["ReadWritePaths"] == ["/srv/hello/shared"]
    assert unit["ProtectHome"] == ["yes"] and unit["CapabilityBoundingSet"] == [""]
    assert unit["MemoryDenyWriteExecute"] == ["yes"] and unit["PrivateTmp"] == ["yes"]


def test_stop_signal_and_timeout_reach_the_unit(loaded):
    unit = loaded["hello-celery@1.service"]
    assert unit["KillSignal"] == ["SIGINT"]
    assert unit["TimeoutStopSec"] == ["10min"]


def test_timer_runs_its_oneshot_service_on_the_calendar(loaded):
    timer = loaded["hello-tick.timer"]
    assert timer["Unit"] == ["hello-tick.service"]
    assert timer["OnCalendar"] == ["*-*-* *:*:00/10"]
    assert timer["Accuracy"] == ["1s"]
    service = loaded["hello-tick.service"]
    assert service["Type"] == ["oneshot"] and service["Restart"] == ["no"]
    assert service["TimeoutStartSec"] == ["infinity"]
    assert service["User"] == ["hello"] and service["WorkingDirectory"] == ["/srv/hello/current"]
    assert service["EnvironmentFile"] == ["/etc/pydeploy/hello/env"] and service["UnsetEnvironment"] == ["PORT"]
    assert service["ProtectSystem"] == ["strict"] and service["ReadWritePaths"] == ["/srv/hello/shared"]
    assert [dump_argv(c) for c in service["Command Line"]] == [["/bin/sh", "-c", "exec python tick.py"]]


def test_timer_timeout_bounds_a_run(loaded):
    assert loaded["hello-report.timer"]["OnCalendar"] == ["Mon *-*-* 03:00:00"]
    service = loaded["hello-report.service"]
    assert service["TimeoutStartSec"] == ["15min"]
    (argv,) = [dump_argv(c) for c in service["Command Line"]]
    assert argv[:2] == ["/bin/sh", "-c"] and run_time(argv[2]) == "exec echo 100% done in $HOME"


def test_commands_reach_the_shell_unchanged_and_vars_expand_at_run_time(loaded):
    """Quotes, $VARS, %, %i and backslashes as systemd loads them, then as /bin/sh runs them with the app's env."""
    (line,) = loaded["hello-quotes@1.service"]["Command Line"]
    argv = [run_time(word) for word in dump_argv(line)]
    assert argv == ["/bin/sh", "-c", "exec " + QUOTES]
    out = subprocess.run(argv, env={"GREETING": "Bonjour", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                         check=True).stdout
    assert out == QUOTES_OUT


# preflight, against localhost, each case with its own unit directory, all in one run in check mode

PREFLIGHT_CASES = {
    "bad settings": {**BASE, "processes_definitions": {"web": "gunicorn app:app", "worker": "a && b"},
                     "processes_counts": {"worker": -1, "beat": 1}},
    "bad calendar": {**BASE, "processes_timers": {
        "tick": {"command": "python tick.py", "on_calendar": "*:*:0/10"},
        "nightly": {"command": "python nightly.py", "on_calendar": "every night at 3"}}},
    "bad path": {**BASE, "processes_root": "/srv/my app"},
    "foreign unit": SETTINGS,
    "own unit": SETTINGS,
}


@pytest.fixture(scope="module")
def preflight(unit_dir, tmp_path_factory):
    """{case: (passed, what the failure said)} for PREFLIGHT_CASES, and the unit directories they saw."""
    base = tmp_path_factory.mktemp("preflight")
    out = base / "results.json"
    dirs, tasks = {}, [{"ansible.builtin.set_fact": {"results": {}}}]
    for index, (case, settings) in enumerate(PREFLIGHT_CASES.items()):
        dirs[case] = base / str(index)
        dirs[case].mkdir()
        tasks.append({"block": [{**role_task("preflight.yml"),
                                 "vars": {**settings, "__processes_unit_dir": str(dirs[case])}},
                                {"ansible.builtin.set_fact": {"results": "{{ results | combine({%s: 'passed'}) }}"
                                                                         % json.dumps(case)}}],
                      "rescue": [{"ansible.builtin.set_fact": {
                          "results": "{{ results | combine({%s: ansible_failed_result | to_json}) }}" % json.dumps(case)}}]})
    # The role's own unit may be replaced; another app's unit of the same name may not.
    for case in ("foreign unit", "own unit"):
        shutil.copy(unit_dir / "hello-worker@.service", dirs[case])
    (dirs["foreign unit"] / "hello-tick.service").write_text("[Service]\nExecStart=/usr/bin/true\n")
    tasks.append({"ansible.builtin.copy": {"content": "{{ results | to_json }}", "dest": str(out), "mode": "0644"},
                  "check_mode": False})
    rc, output = ansible(tasks, {}, "--check")
    assert rc == 0, output[-3000:]
    results = json.loads(out.read_text())
    assert set(results) == set(PREFLIGHT_CASES), output[-3000:]
    return results, dirs


def test_preflight_passes_good_settings_in_check_mode_and_changes_nothing(preflight, unit_dir):
    """The role's own unit file (it carries the marker) may be replaced: the check passes and leaves it alone."""
    results, dirs = preflight
    assert results["own unit"] == "passed"
    assert [p.name for p in dirs["own unit"].iterdir()] == ["hello-worker@.service"]
    assert (dirs["own unit"] / "hello-worker@.service").read_text() == (unit_dir / "hello-worker@.service").read_text()


def test_preflight_lists_every_bad_setting(preflight):
    failure = preflight[0]["bad settings"]
    for problem in ("processes_definitions.web: the name 'web' is reserved",
                    "processes_definitions.worker: the command is a list or pipeline ('&&')",
                    "processes_counts.worker=-1 must be an integer >= 0",
                    "processes_counts.beat: no process of that name in processes_definitions"):
        assert problem in failure, failure


def test_preflight_checks_calendars_with_systemd_even_in_check_mode(preflight):
    failure = preflight[0]["bad calendar"]
    assert 'processes_timers.nightly: on_calendar=\\"every night at 3\\" is not a systemd calendar expression' in failure
    assert "Failed to parse calendar specification" in failure
    assert "processes_timers.tick:" not in failure


def test_preflight_names_a_bad_path(preflight):
    failure = preflight[0]["bad path"]
    assert 'processes_root=\\"/srv/my app\\": must be an absolute path' in failure, failure


def test_preflight_refuses_to_replace_a_unit_it_did_not_write(preflight):
    results, dirs = preflight
    failure = results["foreign unit"]
    assert "%s/hello-tick.service already exists and was not written by pydeploy.web.processes for hello" \
        % dirs["foreign unit"] in failure, failure
    assert "hello-worker@.service already" not in failure


# What the role reads from systemctl and makes of it (vars/main.yml), fed with made-up host state

LIST_UNITS = """\
hello-worker@1.service loaded active running hello process worker, instance 1
  hello-worker@2.service    loaded failed     failed  hello process worker, instance 2
\u25cf hello-worker@3.service loaded active running hello process worker, instance 3 (x.service a b c)
hello-old@1.service loaded failed failed hello process old, instance 1
hello-tick.service loaded activating start start hello timer tick
hello-tick.timer loaded active waiting hello timer tick (*:*:0/10)
hello-gone.service loaded inactive dead hello timer gone
hello-gone.timer loaded active waiting hello timer gone
hello-world.service loaded active running Gunicorn for hello-world
hello-world-mail@1.service loaded active running hello-world process mail, instance 1
"""
OWNED = ["hello-gone.service", "hello-gone.timer", "hello-old@.service", "hello-tick.service", "hello-tick.timer",
         "hello-worker@.service"]


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    out = tmp_path_factory.mktemp("computed") / "computed.json"
    names = ["loaded", "owned_files", "owned_units", "active_units", "stale_units", "stale_files", "stop_ordered",
             "stop_failed", "down", "down_report"]
    settings = {**BASE, "processes_definitions": {"worker": "python worker.py"}, "processes_counts": {"worker": 2},
                "processes_timers": {"tick": {"command": "python tick.py", "on_calendar": "*:*:0/10"}}}
    facts = {
        "__processes_found_ours": {"files": [{"path": "/etc/systemd/system/" + f} for f in reversed(OWNED)]},
        "__processes_list_units": {"stdout": LIST_UNITS},
        # systemctl show --property=Id,ActiveState,SubState,NRestarts of the wanted units (a timer has no NRestarts).
        "__processes_show": {"stdout": (
            "Id=hello-worker@1.service\nActiveState=active\nSubState=running\nNRestarts=0\n\n"
            "NRestarts=3\nSubState=running\nActiveState=active\nId=hello-worker@2.service\n\n"
            "Id=hello-tick.timer\nActiveState=inactive\nSubState=dead\n")},
        "__processes_release_stat": {"stat": {"exists": True, "lnk_source": "/srv/hello/releases/abc"}},
        "__processes_down_logs": {"results": [{"item": "hello-tick.timer", "stdout": ""},
                                              {"item": "hello-worker@2.service", "stdout": "starting\nTraceback: boom"}]},
    }
    rc, output = ansible([
        {"ansible.builtin.include_role": {"name": "pydeploy.web.processes", "tasks_from": "render.yml", "public": True}},
        {"ansible.builtin.set_fact": facts},
        {"ansible.builtin.copy": {"content": "{{ {%s} | to_json }}" % ", ".join(
            "'%s': __processes_%s" % (n, n) for n in names), "dest": str(out), "mode": "0644"},
         "vars": {"__processes_stop": "{{ __processes_stale_units }}"}},
    ], settings)
    assert rc == 0, output[-3000:]
    return json.loads(out.read_text())


def test_list_units_lines_are_read_whatever_their_leading_marks(computed):
    assert [u[0] for u in computed["loaded"]] == [
        "hello-worker@1.service", "hello-worker@2.service", "hello-worker@3.service", "hello-old@1.service",
        "hello-tick.service", "hello-tick.timer", "hello-gone.service", "hello-gone.timer", "hello-world.service",
        "hello-world-mail@1.service"]
    assert computed["loaded"][1] == ["hello-worker@2.service", "loaded", "failed", "failed"]
    assert computed["loaded"][2] == ["hello-worker@3.service", "loaded", "active", "running"]


def test_only_units_from_the_apps_own_files_are_its_units(computed):
    """hello-world (another app, same prefix) is never touched: its units come from files without the marker."""
    assert computed["owned_files"] == OWNED
    assert [u[0] for u in computed["owned_units"]] == [u[0] for u in computed["loaded"]][:8]


def test_units_and_files_no_longer_wanted_are_retired_timers_first(computed):
    # worker@3 is above the count, old is no longer defined, gone is a removed timer; the tick's service is kept even
    # mid-run (its timer is still defined).
    assert computed["stale_units"] == ["hello-worker@3.service", "hello-old@1.service", "hello-gone.service",
                                       "hello-gone.timer"]
    assert computed["stop_ordered"] == ["hello-gone.timer", "hello-worker@3.service", "hello-old@1.service",
                                        "hello-gone.service"]
    assert computed["stale_files"] == ["hello-gone.service", "hello-gone.timer", "hello-old@.service"]
    assert computed["stop_failed"] == ["hello-old@1.service"]  # its failed state is reset once stopped
    assert "hello-worker@2.service" not in computed["active_units"]  # failed: a restart is needed


def test_a_unit_that_is_down_is_reported_with_its_journal(computed):
    assert computed["down"] == ["hello-tick.timer", "hello-worker@2.service"]
    report = computed["down_report"]
    assert report.startswith("2 unit(s) of hello did not stay up in /srv/hello/current\n(-> /srv/hello/releases/abc):")
    assert "- hello-worker@2.service: active/running,\n  restarted by systemd 3 times" in report
    assert "    starting\n    Traceback: boom" in report
    assert "- hello-tick.timer: inactive/dead" in report
