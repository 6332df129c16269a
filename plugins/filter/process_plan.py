# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.process_plan filter: an app's process and timer settings, checked, as the units they make."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: process_plan
short_description: Check an app's background processes and timers and list the systemd units they make
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - The inputs of the C(pydeploy.web.processes) role, checked and completed with their defaults, and the names
    of the units they make. The role's preflight runs it, so bad input fails before the host changes.
  - Every problem found is reported at once, each naming the variable and the process or timer, such as
    C(processes_counts.worker=-1 must be an integer >= 0).
  - 'Names match C(^[a-z][a-z0-9_-]{0,30}$). V(web) is refused: a Procfile''s web line is the web server''s. A name
    may be a process or a timer, not both (they share the journal identifier C(<app>-<name>)).'
  - A command is run as C(/bin/sh -c "exec <command>") (see P(pydeploy.web.systemd_shell#filter)). So that the
    process systemd stops is the command itself, a command must be one program with its arguments and redirections,
    not a list or pipeline (C(a && b), C(a; b), C(a | b), C(a &)), and must not start with a variable assignment or a
    shell builtin (C(cd), C(export), C(if) ...). Write C(env NAME=value program) or put the steps in a script.
options:
  _input:
    description: The app name, the prefix of every unit.
    type: str
    required: true
  definitions:
    description:
      - Process name to a command, or to a mapping with C(command), C(stop_signal) (a signal name such as V(TERM) or
        V(SIGINT); default V(TERM)) and C(stop_timeout) (seconds; default 30).
    type: dict
    default: {}
  counts:
    description: Process name to the number of instances (default 1; 0 keeps the process defined but stopped).
    type: dict
    default: {}
  timers:
    description: Timer name to a mapping with C(command), C(on_calendar) and optionally C(timeout) (seconds).
    type: dict
    default: {}
  reserved:
    description: More names a process or timer may not take, besides V(web).
    type: list
    elements: str
    default: []
  labels:
    description:
      - The names messages give the inputs, by key C(name), C(definitions), C(counts) and C(timers), so they name
        what the user wrote (C(app_processes.worker) rather than C(processes_definitions.worker)).
      - Default the processes role's variables, C(processes_name) and so on.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: The units of a worker with two instances and a timer
  ansible.builtin.debug:
    msg: >-
      {{ 'myapp' | pydeploy.web.process_plan({'worker': 'celery -A app worker'}, {'worker': 2},
                                              {'report': {'command': 'python report.py', 'on_calendar': 'daily'}}) }}
  # processes: [{name: worker, command: celery -A app worker, stop_signal: SIGTERM, stop_timeout: 30, count: 2,
  #              unit: myapp-worker@.service, instances: [myapp-worker@1.service, myapp-worker@2.service]}]
  # timers: [{name: report, command: python report.py, on_calendar: daily, timeout: null,
  #           service: myapp-report.service, timer: myapp-report.timer}]
  # unit_files: [myapp-report.service, myapp-report.timer, myapp-worker@.service]
  # instances: [myapp-worker@1.service, myapp-worker@2.service]
  # timer_units: [myapp-report.timer]
"""

RETURN = r"""
_value:
  description: The processes and timers, sorted by name, and the unit names they make.
  type: dict
  contains:
    processes:
      description: Each process with C(name), C(command), C(stop_signal) (with its C(SIG) prefix), C(stop_timeout),
        C(count), its template unit C(unit) and its C(instances).
      type: list
      elements: dict
    timers:
      description: Each timer with C(name), C(command), C(on_calendar), C(timeout) (null without one), and its
        C(service) and C(timer) units.
      type: list
      elements: dict
    unit_files:
      description: The names of the unit files to write in C(/etc/systemd/system), sorted.
      type: list
      elements: str
    instances:
      description: The process instances that should run, C(<app>-<process>@<n>.service) for n in 1..count.
      type: list
      elements: str
    timer_units:
      description: The timers that should be active.
      type: list
      elements: str
"""

import re
import shlex
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
# Signals a process may be told to stop with. Not STOP, TSTP, CONT or CHLD: systemd would wait out stop_timeout.
SIGNALS = ("HUP", "INT", "QUIT", "ABRT", "KILL", "USR1", "USR2", "ALRM", "TERM", "WINCH", "PWR")
PROCESS_KEYS = ("command", "stop_signal", "stop_timeout")
TIMER_KEYS = ("command", "on_calendar", "timeout")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Words exec cannot run: shell keywords and builtins that only make sense inside the shell.
_BUILTINS = frozenset((".", "!", "[[", "case", "cd", "eval", "export", "for", "if", "set", "source", "until", "while"))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def command_problem(command):
    """Why /bin/sh -c "exec COMMAND" would not run COMMAND as the one main process, or None."""
    if not isinstance(command, str) or not command.strip():
        return "the command must be a non-empty string"
    if _CONTROL.search(command):
        return "the command must be one line without control characters"
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        return "the command is not a valid shell line (%s)" % str(exc).lower()
    if tokens and tokens[0] == "exec":
        tokens = tokens[1:]
    if not tokens:
        return "the command runs nothing"
    first = tokens[0]
    if _ASSIGNMENT.match(first):
        return ("the command starts with the assignment %s, which exec cannot run; write 'env %s ...'"
                % (first.split("=", 1)[0] + "=...", first))
    if first in _BUILTINS or first[0] in "({":
        return ("the command starts with the shell keyword or builtin %r, which exec cannot run; put the steps in a script"
                % first)
    for index, token in enumerate(tokens):
        if set(token) <= set(";&|"):
            if token == "&" and index > 0 and tokens[index - 1].endswith((">", "<")):
                continue  # a redirection such as 2>&1
            return ("the command is a list or pipeline (%r): only its first program would be the process systemd "
                    "signals and waits for; put the steps in a script" % token)
    return None


class _Checker:
    def __init__(self, reserved, labels=None):
        self.errors = []
        self.labels = dict(LABELS, **{k: str(v) for k, v in (labels or {}).items() if k in LABELS and v})
        self.reserved = {"web": "the Procfile's web line is the web server's, not a process"}
        for name in reserved or []:
            self.reserved.setdefault(name, "the collection's other units use it")

    def name(self, where, name):
        if not isinstance(name, str) or not NAME.match(name):
            self.errors.append("%s: the name must match %s" % (where, NAME.pattern))
        elif name in self.reserved:
            self.errors.append("%s: the name %r is reserved (%s)" % (where, name, self.reserved[name]))

    def mapping(self, variable, value):
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.errors.append("%s must be a mapping, got %s" % (variable, type(value).__name__))
            return {}
        return value

    def keys(self, where, spec, allowed):
        unknown = sorted(str(k) for k in spec if k not in allowed)
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            self.errors.append("%s: unknown key%s %s (known: %s)" % (where, plural, ", ".join(unknown), ", ".join(allowed)))

    def command(self, where, command):
        problem = command_problem(command)
        if problem:
            self.errors.append("%s: %s" % (where, problem))
        return command.strip() if isinstance(command, str) else command


LABELS = {"name": "processes_name", "definitions": "processes_definitions", "counts": "processes_counts",
          "timers": "processes_timers"}


def _process(check, app, name, spec, counts):
    where = "%s.%s" % (check.labels["definitions"], name)
    check.name(where, name)
    if isinstance(spec, str):
        spec = {"command": spec}
    elif not isinstance(spec, Mapping):
        check.errors.append("%s: must be a command, or a mapping with %s" % (where, ", ".join(PROCESS_KEYS)))
        return None
    check.keys(where, spec, PROCESS_KEYS)
    command = check.command(where, spec.get("command"))
    signal = spec.get("stop_signal", "TERM")
    short = signal[3:] if isinstance(signal, str) and signal.startswith("SIG") else signal
    if short not in SIGNALS:
        check.errors.append("%s: stop_signal=%r is not one of %s" % (where, signal, ", ".join(SIGNALS)))
    timeout = spec.get("stop_timeout", 30)
    if not _is_int(timeout) or timeout < 1:
        check.errors.append("%s: stop_timeout=%r must be an integer >= 1 (seconds)" % (where, timeout))
    count = counts.get(name, 1)
    if not _is_int(count) or count < 0:
        count = 0  # reported with the counts
    unit = "%s-%s@.service" % (app, name)
    return {
        "name": name, "command": command, "stop_signal": "SIG%s" % short, "stop_timeout": timeout, "count": count,
        "unit": unit, "instances": ["%s-%s@%d.service" % (app, name, n) for n in range(1, count + 1)],
    }


def _timer(check, app, name, spec):
    where = "%s.%s" % (check.labels["timers"], name)
    check.name(where, name)
    if not isinstance(spec, Mapping):
        check.errors.append("%s: must be a mapping with %s" % (where, ", ".join(TIMER_KEYS)))
        return None
    check.keys(where, spec, TIMER_KEYS)
    command = check.command(where, spec.get("command"))
    calendar = spec.get("on_calendar")
    if not isinstance(calendar, str) or not calendar.strip() or _CONTROL.search(calendar):
        check.errors.append("%s: on_calendar=%r must be a one-line calendar expression such as '*:0/15' or 'daily'"
                            % (where, calendar))
    timeout = spec.get("timeout")
    if timeout is not None and (not _is_int(timeout) or timeout < 1):
        check.errors.append("%s: timeout=%r must be an integer >= 1 (seconds) or absent" % (where, timeout))
    return {
        "name": name, "command": command, "on_calendar": calendar.strip() if isinstance(calendar, str) else calendar,
        "timeout": timeout, "service": "%s-%s.service" % (app, name), "timer": "%s-%s.timer" % (app, name),
    }


def process_plan(app, definitions=None, counts=None, timers=None, reserved=None, labels=None):
    """The checked processes and timers of APP and the units they make; AnsibleFilterError lists every problem."""
    check = _Checker(reserved, labels)
    names = check.labels
    if not isinstance(app, str) or not NAME.match(app):
        check.errors.append("%s=%r must match %s" % (names["name"], app, NAME.pattern))
        app = str(app)
    definitions = check.mapping(names["definitions"], definitions)
    counts = check.mapping(names["counts"], counts)
    timers = check.mapping(names["timers"], timers)

    processes = [_process(check, app, name, definitions[name], counts) for name in sorted(definitions, key=str)]
    for name in sorted(counts, key=str):
        if name not in definitions:
            check.errors.append("%s.%s: no process of that name in %s" % (names["counts"], name, names["definitions"]))
        elif not _is_int(counts[name]) or counts[name] < 0:
            check.errors.append("%s.%s=%r must be an integer >= 0" % (names["counts"], name, counts[name]))
    planned_timers = [_timer(check, app, name, timers[name]) for name in sorted(timers, key=str)]
    for name in sorted(set(definitions) & set(timers), key=str):
        check.errors.append("%s.%s: also a process in %s; a name is one or the other (both would log as %s-%s)"
                            % (names["timers"], name, names["definitions"], app, name))
    if check.errors:
        raise AnsibleFilterError("Invalid process settings:\n- " + "\n- ".join(check.errors))

    processes = [p for p in processes if p]
    planned_timers = [t for t in planned_timers if t]
    return {
        "processes": processes,
        "timers": planned_timers,
        "unit_files": sorted([p["unit"] for p in processes] + [t[k] for t in planned_timers for k in ("service", "timer")]),
        "instances": [i for p in processes for i in p["instances"]],
        "timer_units": [t["timer"] for t in planned_timers],
    }


class FilterModule:  # pylint: disable=too-few-public-methods  # the interface Ansible loads
    """pydeploy.web process filters."""

    def filters(self):
        return {"process_plan": process_plan}
