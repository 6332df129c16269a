#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: directories
short_description: Create directories with their owner and mode, and remove paths, in one call, never following links
description:
  - Makes sure each directory of O(directories) exists, in the order given, with its owner, group and mode.
  - A path that is a symbolic link, or anything other than a directory, stops the module with an error naming it,
    before it changes anything. Owner and mode are changed through a descriptor opened with C(O_NOFOLLOW), so a
    link that replaces a directory meanwhile is not followed either.
  - Missing parents of a path are created as root with mode 0755, like C(mkdir -p).
  - Then removes each path of O(absent) that exists. A symbolic link is removed itself, never what it points to; a
    directory is removed with its contents, without following links inside it.
  - One module call for a list of directories, where a loop of M(ansible.builtin.file) makes one call per directory.
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  directories:
    description: The directories, parents before children.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      owner:
        description: User name that owns the directory.
        type: str
        default: root
      group:
        description: Group name of the directory.
        type: str
        default: root
      mode:
        description: Octal mode as a string, such as V("0750").
        type: str
        required: true
  absent:
    description: Paths to remove when they exist (files, links or directory trees), after the directories are made.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what would be created or changed, changes nothing.
  diff_mode:
    support: full
    description: Shows each changed directory's owner, group and mode before and after.
  platform:
    support: full
    platforms: posix
    description: Linux hosts.
"""

EXAMPLES = r"""
- name: Create an app's directories, root's and the app user's
  pydeploy.web.directories:
    directories:
      - {path: /srv/myapp, mode: "0755"}
      - {path: /srv/myapp/releases, mode: "0755"}
      - {path: /srv/myapp/shared, owner: myapp, group: myapp, mode: "0750"}

- name: A config directory the app's group may read, without the deploy key of an earlier configuration
  pydeploy.web.directories:
    directories:
      - {path: /etc/myapp, group: myapp, mode: "0750"}
    absent: [/etc/myapp/deploy_key]
"""

RETURN = r"""
directories:
  description: For each directory, whether it was created or changed.
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /srv/myapp, created: false, changed: false}
    - {path: /srv/myapp/shared, created: true, changed: true}
removed:
  description: The paths of O(absent) that existed and were removed (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/myapp/deploy_key]
"""

import os
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pydeploy.web.plugins.module_utils.fs import parse_mode, resolve_ids


def _state(st):
    return {"uid": st.st_uid, "gid": st.st_gid, "mode": "%04o" % stat.S_IMODE(st.st_mode)}


def _describe(path, state):
    if state is None:
        return "%s: absent\n" % path
    return "%s: owner %s, group %s, mode %s\n" % (path, state["uid"], state["gid"], state["mode"])


def plan(entries, lstat=os.lstat, check_mode=False):
    """Check every entry before anything changes. Returns [(entry, uid, gid, mode, current state or None)].

    In check mode an unknown owner or group (a user the same play creates first) has the id None and counts as a
    change, not an error.
    """
    planned = []
    for entry in entries:
        path = entry["path"]
        if not os.path.isabs(path):
            raise ValueError("%s is not an absolute path" % path)
        mode = parse_mode(entry["mode"], path)
        uid, gid = resolve_ids(entry["owner"], entry["group"], check_mode)
        try:
            st = lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise ValueError("%s is a symbolic link; it must be a directory (remove the link and run again)" % path)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise ValueError("%s exists and is not a directory" % path)
        planned.append((entry, uid, gid, mode, _state(st) if st else None))
    return planned


def apply(path, uid, gid, mode):
    """Create path (and missing parents) and set its owner and mode without following a link. Returns created."""
    created = False
    if not os.path.lexists(path):
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        os.mkdir(path, 0o700)
        created = True
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return created


def remove(path):
    """Remove a file, a link (not its target) or a directory tree (links inside are removed, not followed)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str", "required": True},
                },
            },
            "absent": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    entries = [dict(e, path=e["path"].rstrip("/") or "/") for e in module.params["directories"]]
    try:
        planned = plan(entries, check_mode=module.check_mode)
    except ValueError as exc:
        module.fail_json(msg="directories: %s" % exc)
    results, before, after = [], "", ""
    for entry, uid, gid, mode, current in planned:
        wanted = {"uid": uid, "gid": gid, "mode": "%04o" % mode}
        changed = current != wanted
        if changed:
            before += _describe(entry["path"], current)
            # An id not known yet (check mode) is shown by its name.
            after += _describe(entry["path"], dict(wanted, uid=entry["owner"] if uid is None else uid,
                                                   gid=entry["group"] if gid is None else gid))
            if not module.check_mode:
                try:
                    apply(entry["path"], uid, gid, mode)
                except OSError as exc:
                    module.fail_json(msg="cannot make %s a directory of %s:%s %s: %s" % (
                        entry["path"], entry["owner"], entry["group"], entry["mode"], exc), directories=results)
        results.append({"path": entry["path"], "created": current is None, "changed": changed})
    removed = []
    for path in module.params["absent"]:
        if not os.path.lexists(path):
            continue
        before += "%s: present\n" % path
        after += "%s: absent\n" % path
        if not module.check_mode:
            try:
                remove(path)
            except OSError as exc:
                module.fail_json(msg="cannot remove %s: %s" % (path, exc), directories=results, removed=removed)
        removed.append(path)
    changed = bool(removed) or any(r["changed"] for r in results)
    module.exit_json(changed=changed, directories=results, removed=removed,
                     diff={"before": before, "after": after} if changed else {})


if __name__ == "__main__":
    main()
