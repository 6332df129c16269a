"""Unit tests for the filters of the processes role: procfile, systemd_shell, process_plan and systemd_show."""

import importlib.util
import pathlib
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location("pydeploy_" + name, ROOT / "plugins/filter" / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


procfile = load("procfile").FilterModule().filters()["procfile"]
systemd_shell = load("systemd_shell").FilterModule().filters()["systemd_shell"]
plan_module = load("process_plan")
process_plan = plan_module.FilterModule().filters()["process_plan"]
systemd_show = load("systemd_show").FilterModule().filters()["systemd_show"]


# procfile

def test_procfile_reads_each_process_type_in_order():
    text = (
        "# the app's processes\n"
        "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"
        "\n"
        "worker:   celery -A app worker --loglevel INFO  \n"
        "   # an indented comment\n"
        "clock_2:python clock.py\n"
        "release-tasks: python manage.py migrate\r\n"
    )
    assert procfile(text) == {
        "web": "gunicorn app:app --bind 0.0.0.0:$PORT",
        "worker": "celery -A app worker --loglevel INFO",
        "clock_2": "python clock.py",
        "release-tasks": "python manage.py migrate",
    }
    assert list(procfile(text)) == ["web", "worker", "clock_2", "release-tasks"]


def test_procfile_keeps_colons_and_hashes_inside_the_command():
    assert procfile("worker: python -c 'print(1)' # not a comment: kept\n") == {
        "worker": "python -c 'print(1)' # not a comment: kept"}


def test_procfile_exclude_leaves_out_the_web_line():
    assert procfile("web: gunicorn app:app\nworker: python w.py\n", exclude=["web"]) == {"worker": "python w.py"}


def test_procfile_of_nothing_is_empty():
    assert procfile("") == {}
    assert procfile("# only a comment\n\n") == {}


@pytest.mark.parametrize("line", [
    "worker python w.py",          # no colon
    "worker:",                     # no command
    "worker:    ",                 # blank command
    "my worker: python w.py",      # space in the name
    "wörker: python w.py",         # a name out of [A-Za-z0-9_-]
    ": python w.py",               # no name
])
def test_procfile_malformed_line_is_an_error_naming_its_number(line):
    with pytest.raises(AnsibleFilterError, match=r"line 3 is not 'name: command'") as err:
        procfile("web: gunicorn app:app\n# comment\n" + line + "\n")
    assert repr(line) in str(err.value)


def test_procfile_duplicate_name_is_an_error_naming_both_lines():
    with pytest.raises(AnsibleFilterError, match=r"line 4 defines 'worker' again \(first defined on line 2\)"):
        procfile("web: a\nworker: b\n\nworker: c\n")


def test_procfile_checks_excluded_lines_too():
    with pytest.raises(AnsibleFilterError, match="line 2 defines 'web' again"):
        procfile("web: a\nweb: b\n", exclude=["web"])


def test_procfile_needs_text():
    with pytest.raises(AnsibleFilterError, match="expected the Procfile's text"):
        procfile({"worker": "x"})


# systemd_shell: what it writes (see tests/test_process_units.py for what systemd reads back)

@pytest.mark.parametrize("command, line", [
    ("python worker.py", '/bin/sh -c "exec python worker.py"'),
    ("  python worker.py  ", '/bin/sh -c "exec python worker.py"'),
    ('echo "$GREETING" \'$HOME\'', '/bin/sh -c "exec echo \\"$$GREETING\\" \'$$HOME\'"'),
    ("printf '%s\\n' 100%", '/bin/sh -c "exec printf \'%%s\\\\n\' 100%%"'),
    ("echo ${A:-b} $$", '/bin/sh -c "exec echo $${A:-b} $$$$"'),
    ("exec celery worker", '/bin/sh -c "exec celery worker"'),
    ("execute-me", '/bin/sh -c "exec execute-me"'),
    ("a\tb", '/bin/sh -c "exec a\tb"'),
])
def test_systemd_shell_escapes_for_the_unit_file(command, line):
    assert systemd_shell(command) == line


@pytest.mark.parametrize("command", ["", "   ", "python w.py\npython x.py", "a\rb", "a\x00b", "a\x1bb"])
def test_systemd_shell_refuses_what_is_not_one_line(command):
    with pytest.raises(AnsibleFilterError, match="systemd_shell: the command"):
        systemd_shell(command)


def test_systemd_shell_needs_a_string():
    with pytest.raises(AnsibleFilterError, match="must be a string"):
        systemd_shell(["python", "w.py"])


def test_escaped_line_gives_the_shell_the_command_back():
    """Undo systemd's unit file rules by hand (quotes, backslashes, %%, $$), then let /bin/sh run the result."""
    command = r"""printf '[%s]' "$GREETING" '$GREETING' 100% 'a\b' "say \"hi\"" ${GREETING}x %i"""
    line = systemd_shell(command)
    assert line.startswith('/bin/sh -c "') and line.endswith('"')
    inner = line[len('/bin/sh -c "'):-1]
    unescaped, i = "", 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 1
        elif inner[i] in "%$":
            assert inner[i + 1] == inner[i], inner  # every % and $ is doubled
            i += 1
        unescaped += inner[i]
        i += 1
    assert unescaped == "exec " + command
    out = subprocess.run(["/bin/sh", "-c", unescaped], env={"GREETING": "Bonjour", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout
    assert out == '[Bonjour][$GREETING][100%][a\\b][say "hi"][Bonjourx][%i]'


# process_plan

def test_plan_of_the_example_app():
    plan = process_plan("hello", {"worker": "python worker.py"}, {"worker": 2},
                        {"tick": {"command": "python tick.py", "on_calendar": "*:*:0/10"}})
    assert plan == {
        "processes": [{
            "name": "worker", "command": "python worker.py", "stop_signal": "SIGTERM", "stop_timeout": 30, "count": 2,
            "unit": "hello-worker@.service", "instances": ["hello-worker@1.service", "hello-worker@2.service"],
        }],
        "timers": [{
            "name": "tick", "command": "python tick.py", "on_calendar": "*:*:0/10", "timeout": None,
            "service": "hello-tick.service", "timer": "hello-tick.timer",
        }],
        "unit_files": ["hello-tick.service", "hello-tick.timer", "hello-worker@.service"],
        "instances": ["hello-worker@1.service", "hello-worker@2.service"],
        "timer_units": ["hello-tick.timer"],
    }


def test_plan_takes_the_long_form_and_sorts_by_name():
    plan = process_plan("shop", {
        "worker": {"command": "celery -A shop worker", "stop_signal": "INT", "stop_timeout": 600},
        "beat": {"command": "celery -A shop beat", "stop_signal": "SIGQUIT"},
        "idle": "python idle.py",
    }, {"idle": 0}, {"report": {"command": "python report.py", "on_calendar": "daily", "timeout": 900}})
    assert [p["name"] for p in plan["processes"]] == ["beat", "idle", "worker"]
    beat, idle, worker = plan["processes"]
    assert (beat["stop_signal"], beat["stop_timeout"], beat["count"]) == ("SIGQUIT", 30, 1)
    assert (worker["stop_signal"], worker["stop_timeout"]) == ("SIGINT", 600)
    assert idle["count"] == 0 and idle["instances"] == []  # defined (its unit is written) but stopped
    assert "shop-idle@.service" in plan["unit_files"]
    assert plan["instances"] == ["shop-beat@1.service", "shop-worker@1.service"]
    assert plan["timers"][0]["timeout"] == 900


def test_plan_of_nothing():
    for empty in ({}, None):
        assert process_plan("hello", empty, empty, empty) == {
            "processes": [], "timers": [], "unit_files": [], "instances": [], "timer_units": []}


@pytest.mark.parametrize("definitions, counts, timers, message", [
    ({"web": "gunicorn app:app"}, {}, {}, "processes_definitions.web: the name 'web' is reserved"),
    ({"Worker": "x"}, {}, {}, r"processes_definitions.Worker: the name must match \^\[a-z\]"),
    ({"w" * 32: "x"}, {}, {}, "processes_definitions.w{32}: the name must match"),
    ({"worker": ""}, {}, {}, "processes_definitions.worker: the command must be a non-empty string"),
    ({"worker": "a\nb"}, {}, {}, "processes_definitions.worker: the command must be one line"),
    ({"worker": ["python"]}, {}, {}, "processes_definitions.worker: must be a command, or a mapping"),
    ({"worker": {"stop_signal": "TERM"}}, {}, {}, "processes_definitions.worker: the command must be a non-empty"),
    ({"worker": {"command": "x", "signal": "TERM"}}, {}, {}, r"processes_definitions.worker: unknown key signal"),
    ({"worker": {"command": "x", "stop_signal": "STOP"}}, {}, {}, "processes_definitions.worker: stop_signal='STOP'"),
    ({"worker": {"command": "x", "stop_signal": "sigterm"}}, {}, {}, "stop_signal='sigterm' is not one of"),
    ({"worker": {"command": "x", "stop_timeout": 0}}, {}, {}, "processes_definitions.worker: stop_timeout=0 must"),
    ({"worker": {"command": "x", "stop_timeout": "30"}}, {}, {}, "stop_timeout='30' must be an integer"),
    ({"worker": "x"}, {"worker": -1}, {}, r"processes_counts.worker=-1 must be an integer >= 0"),
    ({"worker": "x"}, {"worker": "2"}, {}, r"processes_counts.worker='2' must be an integer >= 0"),
    ({"worker": "x"}, {"worker": True}, {}, r"processes_counts.worker=True must be an integer >= 0"),
    ({"worker": "x"}, {"wroker": 2}, {}, "processes_counts.wroker: no process of that name"),
    ({}, {}, {"tick": "python tick.py"}, "processes_timers.tick: must be a mapping"),
    ({}, {}, {"tick": {"command": "x"}}, "processes_timers.tick: on_calendar=None must be a one-line calendar"),
    ({}, {}, {"tick": {"command": "x", "on_calendar": "daily\nhourly"}}, "processes_timers.tick: on_calendar="),
    ({}, {}, {"tick": {"command": "x", "on_calendar": "daily", "timeout": 0}}, "processes_timers.tick: timeout=0"),
    ({}, {}, {"tick": {"command": "x", "on_calendar": "daily", "every": 5}}, "processes_timers.tick: unknown key every"),
    ({}, {}, {"tick": {"on_calendar": "daily"}}, "processes_timers.tick: the command must be a non-empty string"),
    ({}, {}, {"candidate": {"command": "x", "on_calendar": "daily"}}, "processes_timers.candidate: the name 'candidate' is reserved"),
    ({"job": "x"}, {}, {"job": {"command": "y", "on_calendar": "daily"}}, "processes_timers.job: also a process"),
    ("worker: x", {}, {}, "processes_definitions must be a mapping, got str"),
])
def test_plan_error_names_the_variable_and_the_process(definitions, counts, timers, message):
    with pytest.raises(AnsibleFilterError, match=message):
        process_plan("hello", definitions, counts, timers, reserved=["candidate", "gate-check", "release-build", "release-command"])


def test_plan_reports_every_problem_at_once():
    with pytest.raises(AnsibleFilterError) as err:
        process_plan("Hello", {"web": "x", "worker": "a | b"}, {"worker": -1}, {"tick": {"command": "y"}})
    lines = str(err.value).splitlines()
    assert lines[0] == "Invalid process settings:"
    assert [line.split(":")[0].split("=")[0] for line in lines[1:]] == [
        "- processes_name", "- processes_definitions.web", "- processes_definitions.worker",
        "- processes_counts.worker", "- processes_timers.tick"]


@pytest.mark.parametrize("command", [
    "python worker.py",
    "celery -A proj worker --loglevel INFO --concurrency 4",
    "python -c 'import app; app.run()'",         # ; inside quotes
    'sh -c "a && b"',                            # a list inside one argument
    "python worker.py 2>&1",                     # redirections
    "python worker.py >>/srv/app/shared/log 2>&1 </dev/null",
    "python worker.py >&2",
    "env QUEUE=high python worker.py",
    "exec python worker.py",
    "python worker.py --name $HOSTNAME-${PYDEPLOY_PROCESS_INSTANCE}",
    "python worker.py # a comment with ; and &&",
])
def test_commands_exec_can_run(command):
    assert plan_module.command_problem(command) is None


@pytest.mark.parametrize("command, problem", [
    ("python migrate.py && python worker.py", "is a list or pipeline ('&&')"),
    ("python a.py; python b.py", "is a list or pipeline (';')"),
    ("python a.py | tee log", "is a list or pipeline ('|')"),
    ("python a.py || true", "is a list or pipeline ('||')"),
    ("python worker.py &", "is a list or pipeline ('&')"),
    ("QUEUE=high python worker.py", "starts with the assignment QUEUE=..., which exec cannot run; write 'env QUEUE=high ...'"),
    ("cd sub && python w.py", "starts with the shell keyword or builtin 'cd'"),
    ("export A=1", "starts with the shell keyword or builtin 'export'"),
    ("(cd sub; python w.py)", "starts with the shell keyword or builtin '(cd'"),
    ("while true; do python w.py; done", "starts with the shell keyword or builtin 'while'"),
    ("python 'worker.py", "is not a valid shell line (no closing quotation)"),
    ("exec", "runs nothing"),
    ("# python w.py", "runs nothing"),
])
def test_commands_exec_cannot_run_are_refused(command, problem):
    assert problem in plan_module.command_problem(command)


def test_plan_errors_name_the_variables_the_labels_give():
    """The app role passes its own variable names (app_processes ...): messages name what the user wrote."""
    labels = {"name": "app_name", "definitions": "app_processes", "counts": "app_process_counts", "timers": "app_timers"}
    with pytest.raises(AnsibleFilterError) as err:
        process_plan("Hello", {"worker": "a | b"}, {"wroker": 1}, {"tick": {"command": "y"}}, labels=labels)
    lines = str(err.value).splitlines()
    assert [line.split(":")[0].split("=")[0] for line in lines[1:]] == [
        "- app_name", "- app_processes.worker", "- app_process_counts.wroker", "- app_timers.tick"]
    assert "no process of that name in app_processes" in str(err.value)
    assert "processes_" not in str(err.value)


# systemd_show

def test_systemd_show_gives_each_units_properties_by_id():
    out = (
        "Id=app-worker@1.service\nActiveState=active\nSubState=running\nNRestarts=0\n\n"
        "NRestarts=4\nId=app-worker@2.service\nActiveState=activating\nSubState=auto-restart\n\n"
        "Id=app-tick.timer\nActiveState=active\nSubState=waiting\nNRestarts=\n"
    )
    units = systemd_show(out)
    assert list(units) == ["app-worker@1.service", "app-worker@2.service", "app-tick.timer"]
    assert units["app-worker@2.service"] == {
        "Id": "app-worker@2.service", "ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "4"}
    assert units["app-tick.timer"]["NRestarts"] == ""
    assert systemd_show("") == {}


def test_systemd_show_needs_the_id_of_each_block():
    with pytest.raises(AnsibleFilterError, match="no Id= line"):
        systemd_show("ActiveState=active\n")
    with pytest.raises(AnsibleFilterError, match="expects the text"):
        systemd_show(None)
