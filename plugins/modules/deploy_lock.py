#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take or release the per-host deploy lock of a pydeploy.web app
description:
  - Holds one deploy at a time per app and host. The lock is a small JSON file naming its holder
    (controller user, controller host, controller id, C(ansible-playbook) PID and its start time, since when, playbook).
  - The lock's directory belongs to the user the module runs as (root under C(become)) and nobody else can write it.
    The module creates it with mode 0700 when it is missing (its parent must exist), and refuses, changing nothing, a
    directory or lock file that is a symlink, is owned by another user, or (the directory) is writable by group or others.
    So a local user cannot create, replace or remove the lock (the world-writable C(/run/lock) would let them).
  - The action plugin of the same name runs on the controller. When the lock is held by someone else it decides
    whether the holder is dead and the lock may be broken, and otherwise fails at once naming the holder.
  - A lock is stale when its holder ran on this same controller (same host name and controller id; the id is
    made from C(/etc/machine-id) and a random id kept once per controller user in C(~/.ansible/pydeploy-controller-id),
    so two laptops with the same host name are told apart) and that C(ansible-playbook) process is gone
    (PID missing or reused), when it is older than O(ttl) seconds and was taken from another controller, or when
    O(force=true).
  - Never reports a change. The lock only exists while a deploy runs, so an idempotent re-run stays idempotent.
version_added: 0.1.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  path:
    description:
      - Lock file on the target. Its directory is created (mode 0700) when missing and must be owned by the user the
        module runs as, be no symlink and not be writable by group or others.
    type: path
    required: true
  state:
    description: C(acquired) takes the lock (or fails naming the holder); C(released) removes it if this run holds it.
    type: str
    choices: [acquired, released]
    default: acquired
  ttl:
    description: Seconds after which a lock taken from another controller counts as stale. 0 never.
    type: int
    default: 3600
  force:
    description: Break any lock held by someone else.
    type: bool
    default: false
  owner:
    description: Who takes the lock. Set by the action plugin on the controller; do not set it.
    type: dict
    required: true
  steal:
    description: Token of a stale lock the action plugin decided to break. Set by the action plugin; do not set it.
    type: str
    default: ""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports whether the lock could be taken or released, and writes or removes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: The action plugin of the same name identifies the holder and decides whether a held lock is stale.
notes:
  - Use it through the action (the task name C(pydeploy.web.deploy_lock)); the module alone fails without O(owner).
seealso:
  - module: pydeploy.web.deploy_log
  - module: pydeploy.web.releases
"""

EXAMPLES = r"""
- name: Take the deploy lock
  pydeploy.web.deploy_lock:
    path: /run/pydeploy-deploy/myapp.lock
    ttl: 3600

- name: Release the deploy lock
  pydeploy.web.deploy_lock:
    path: /run/pydeploy-deploy/myapp.lock
    state: released

- name: Break a lock left by a deploy whose controller is gone, then take it
  pydeploy.web.deploy_lock:
    path: /run/pydeploy-deploy/myapp.lock
    force: true
  register: myapp_lock

- name: Say whose lock was broken
  ansible.builtin.debug:
    msg: "Broke the lock of {{ myapp_lock.broken.user }}@{{ myapp_lock.broken.host }}"
  when: myapp_lock.broken | length > 0
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock now.
  returned: state=acquired
  type: bool
  sample: true
holder:
  description: The lock's content (user, host, controller, pid, pid_start, since, since_utc, playbook, token) after the call.
  returned: always
  type: dict
  sample:
    user: alice
    host: laptop.example.com
    controller: 3f2a9c0d51e7b8a4
    pid: 41235
    pid_start: "8812345"
    since: 1763786400.5
    since_utc: "2026-11-22T05:00:00Z"
    playbook: playbooks/deploy.yml
    token: "laptop.example.com:41235:8812345"
broken:
  description: The holder of a stale lock that was broken to take it, else an empty dict.
  returned: state=acquired
  type: dict
  sample: {}
released:
  description: Whether this run removed its lock.
  returned: state=released
  type: bool
  sample: true
"""

import errno
import fcntl
import json
import os
import stat
import tempfile
from contextlib import contextmanager

from ansible.module_utils.basic import AnsibleModule


class UnsafeLock(Exception):
    """The lock's directory or file could be written by someone else than the module's user."""


def secure_dir(directory):
    """Create the lock directory 0700 if missing; refuse one that another user could write or that is a symlink."""
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise UnsafeLock("The parent of the lock directory %s does not exist" % directory) from None
    st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeLock("The lock directory %s is a symlink or not a directory; refusing it" % directory)
    if st.st_uid != os.geteuid():
        raise UnsafeLock("The lock directory %s is owned by uid %d, not uid %d (root under become); refusing it"
                         % (directory, st.st_uid, os.geteuid()))
    if st.st_mode & 0o022:
        raise UnsafeLock("The lock directory %s is writable by group or others (mode %04o); refusing it"
                         % (directory, stat.S_IMODE(st.st_mode)))


def open_own(path, flags, mode=0o600):
    """Open a file in the lock directory without following a symlink, and only if the module's user owns it."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeLock("%s is a symlink; refusing it" % path) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafeLock("%s is not a regular file owned by uid %d; refusing it" % (path, os.geteuid()))
    return fd


@contextmanager
def guard(path):
    """Serialize check-and-write on the lock file between concurrent deploys (flock on a side file)."""
    fd = open_own(path + ".guard", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_holder(path):
    try:
        fd = open_own(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        with os.fdopen(fd, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {"token": "<unreadable>", "user": "?", "host": "?", "pid": 0, "since": 0}
    return data if isinstance(data, dict) else {"token": "<unreadable>"}


def write_holder(path, owner):
    # mkstemp creates a new 0600 file (O_EXCL); rename replaces the lock's directory entry, never a symlink's target.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".pydeploy-lock.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(owner, fh, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def acquire(path, owner, steal, check_mode):
    """Take the lock if free, already ours, or held by the token we were told to steal."""
    holder = read_holder(path)
    if holder is None or holder.get("token") == owner["token"] or (steal and holder.get("token") == steal):
        if not check_mode:
            write_holder(path, owner)
        broken = holder if holder and holder.get("token") != owner["token"] else {}
        return {"acquired": True, "holder": owner, "broken": broken}
    return {"acquired": False, "holder": holder, "broken": {}}


def release(path, token, check_mode):
    holder = read_holder(path)
    if holder is not None and holder.get("token") == token:
        if not check_mode:
            os.unlink(path)
        return {"released": True, "holder": {}}
    return {"released": False, "holder": holder or {}}


def run(path, state, owner, steal, check_mode):
    """Check the lock's directory, then take or release the lock under the guard."""
    directory = os.path.dirname(path)
    if check_mode and not os.path.lexists(directory):
        # Nothing to guard yet, and check mode creates nothing: the lock would be free.
        return acquire(path, owner, steal, True) if state == "acquired" else {"released": False, "holder": {}}
    secure_dir(directory)
    with guard(path):
        if state == "acquired":
            return acquire(path, owner, steal, check_mode)
        return release(path, owner["token"], check_mode)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
            # Filled in by the action plugin on the controller.
            "owner": {"type": "dict", "required": True},
            "steal": {"type": "str", "default": ""},
            # Evaluated by the action plugin on the controller, accepted here so the module validates alone.
            "ttl": {"type": "int", "default": 3600},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    owner = module.params["owner"]
    if not owner.get("token"):
        module.fail_json(msg="owner.token is required (use the pydeploy.web.deploy_lock action, not the module alone)")
    try:
        result = run(module.params["path"], module.params["state"], owner, module.params["steal"], module.check_mode)
    except UnsafeLock as exc:
        module.fail_json(msg="Unsafe deploy lock: %s. Only root may write the lock's directory; remove or fix it." % exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
