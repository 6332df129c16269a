# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of pydeploy.web.deploy_lock: who am I, and is the holder of a lock still alive?"""

from __future__ import annotations

import getpass
import hashlib
import multiprocessing
import os
import secrets
import socket
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.validation import check_type_bool, check_type_int
from ansible.plugins.action import ActionBase
MODULE = "pydeploy.web.deploy_lock"
OPTIONS_WITH_VALUE = frozenset((
    "-e", "--extra-vars", "-i", "--inventory", "-l", "--limit", "-t", "--tags", "--skip-tags", "-u", "--user",
    "--vault-id", "--vault-password-file", "-f", "--forks", "-c", "--connection", "-M", "--module-path",
    "--become-user", "--become-method", "--private-key", "--key-file", "--start-at-task", "-T", "--timeout",
))


MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
CONTROLLER_ID_FILE = "~/.ansible/pydeploy-controller-id"


def machine_id(files=MACHINE_ID_FILES):
    """The controller's /etc/machine-id, or '' where there is none (macOS, some containers)."""
    for name in files:
        try:
            with open(name, encoding="ascii") as fh:
                value = fh.read().strip()
        except (OSError, ValueError):
            continue
        if value:
            return value
    return ""


def user_id_file(path=CONTROLLER_ID_FILE):
    """A random id made once per controller user and kept in ~/.ansible (0600), or '' if it cannot be kept."""
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="ascii") as fh:
            value = fh.read().strip()
        if value:
            return value
    except (OSError, ValueError):
        pass
    value = secrets.token_hex(16)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return user_id_file(path) if os.path.getsize(path) else ""
    except OSError:
        return ""
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return value


def controller_id(machine=None, user=None):
    """Tells controllers apart beyond their host name: the machine id plus a random id per controller user.

    Two laptops that share a host name (or a cloned image, hence a machine id) still differ in the random id; a home
    directory shared over NFS still differs in the machine id. Only a hash is written into the lock.
    """
    machine = machine_id() if machine is None else machine
    user = user_id_file() if user is None else user
    if not machine and not user:
        return ""
    return hashlib.sha256(("%s:%s" % (machine, user)).encode()).hexdigest()[:32]


def playbook_pid():
    """PID of the ansible-playbook process: task workers are forked from it."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getppid()


def process_start(pid):
    """Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or '' where unknown."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as fh:
            stat = fh.read()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid, start):
    """Whether PID still runs and is the same process (not a reused PID)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start and os.path.isdir("/proc/%d" % pid):
        return process_start(pid) == start
    return True


def playbook_names(pid):
    """The playbook arguments of the ansible-playbook command line (never -e values, which may hold secrets)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            argv = fh.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return ""
    names, skip = [], False
    for arg in argv[1:]:
        if skip or arg.startswith("-"):
            skip = not skip and arg in OPTIONS_WITH_VALUE
            continue
        if arg.endswith((".yml", ".yaml")) or arg.startswith("pydeploy.web."):
            names.append(arg)
    return " ".join(os.path.basename(n) for n in names)[:200]


def describe(holder):
    since = float(holder.get("since") or 0)
    age = "%d s ago" % (time.time() - since) if since else "at an unknown time"
    return "%s@%s (ansible-playbook pid %s, controller id %s%s) since %s (%s)" % (
        holder.get("user", "?"), holder.get("host", "?"), holder.get("pid", "?"), (holder.get("controller") or "?")[:12],
        (", " + holder["playbook"]) if holder.get("playbook") else "",
        holder.get("since_utc", "?"), age)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("path", "state", "ttl", "force"))

    def _owner(self):
        pid = playbook_pid()
        start = process_start(pid)
        host = socket.gethostname()
        controller = controller_id()
        now = time.time()
        return {
            "user": getpass.getuser(),
            "host": host,
            "controller": controller,
            "pid": pid,
            "pid_start": start,
            "since": now,
            "since_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "playbook": playbook_names(pid),
            # Stable for the whole ansible-playbook run, unique across runs.
            "token": "%s:%s:%d:%s" % (host, controller[:12], pid, start),
        }

    def _stale(self, holder, me, ttl, force):
        """Return why the holder's lock may be broken, or '' if it must be respected."""
        if force:
            return "app_deploy_unlock=true was given"
        if holder.get("token") == "<unreadable>":
            return "the lock file is unreadable"
        # The PID rule holds only on the very controller that took the lock: same host name AND same controller id
        # (a lock without an id, or with an empty one, is never judged by PID).
        if holder.get("host") == me["host"] and me.get("controller") and holder.get("controller") == me["controller"]:
            try:
                pid = int(holder.get("pid"))
            except (TypeError, ValueError):
                return "it names no controller process"
            if not process_alive(pid, str(holder.get("pid_start", ""))):
                return "its ansible-playbook process %d on this controller is gone" % pid
            return ""
        age = time.time() - float(holder.get("since") or 0)
        if ttl > 0 and age > ttl:
            return "it was taken from another controller %d s ago, more than app_deploy_lock_ttl=%d" % (age, ttl)
        return ""

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        path = args.get("path")
        if not path:
            raise AnsibleActionFail("path is required")
        state = args.get("state", "acquired")
        if state not in ("acquired", "released"):
            raise AnsibleActionFail("state must be acquired or released, got %r" % state)
        ttl = check_type_int(args.get("ttl", 3600))
        force = check_type_bool(args.get("force", False))
        me = self._owner()

        def call(**extra):
            res = self._execute_module(
                module_name=MODULE,
                module_args=dict(path=path, state=state, owner=me, **extra),
                task_vars=task_vars,
            )
            if res.get("failed"):
                raise AnsibleActionFail(res.get("msg", "deploy_lock failed"), result=res)
            return res

        res = call()
        if state == "released" or res.get("acquired"):
            result.update(res)
            return result

        holder = res.get("holder") or {}
        why = self._stale(holder, me, ttl, force)
        if not why:
            result.update(res)
            result["failed"] = True
            result["msg"] = (
                "Another deploy holds the lock %s: %s. Wait for it to finish. If that deploy is dead, re-run with "
                "-e app_deploy_unlock=true (a lock from a dead ansible-playbook on the same controller, or older than "
                "app_deploy_lock_ttl=%d s from another controller, is broken automatically)." % (path, describe(holder), ttl)
            )
            return result

        res = call(steal=str(holder.get("token", "")))
        result.update(res)
        if not res.get("acquired"):
            result["failed"] = True
            result["msg"] = "Lost the race for the stale lock %s; now held by %s." % (path, describe(res.get("holder") or {}))
            return result
        warning = "Broke the stale deploy lock %s held by %s: %s." % (path, describe(holder), why)
        result.setdefault("warnings", []).append(warning)
        result["broken_reason"] = why
        return result
