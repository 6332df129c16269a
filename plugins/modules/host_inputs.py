#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_inputs
short_description: Read what the host says about an app's user, tree and unit names, changing nothing
description:
  - The preflight's probe for inputs that could cross a boundary of the host. It only reads; the decisions are the
    C(pydeploy.web.app_user_problems), C(app_root_problems) and C(unit_problems) filters.
  - Lists the accounts (name, uid, home, shell) and group names, C(UID_MIN) from C(/etc/login.defs), the apps this
    collection made on the host, the file at O(root) (with C(lstat), never following a link), and the unit files
    in the systemd unit directories.
  - The apps this collection made are its records C(/var/lib/pydeploy/apps/<app>.json) (root-owned, written by the app
    role before it creates the app's user). A host deployed before 0.3.0 has none; there an app is known by its
    root-owned config directory C(/etc/pydeploy/<app>), whose group is the app's user, and its tree is that user's
    home.
version_added: 0.3.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  root:
    description: A path to look at with C(lstat) (app_root). Nothing is read below it except whether it is empty.
    type: path
  unit_dirs:
    description: The directories whose unit file names are listed.
    type: list
    elements: path
    default: [/etc/systemd/system, /run/systemd/system, /usr/local/lib/systemd/system, /lib/systemd/system,
              /usr/lib/systemd/system]
  records:
    description: The directory of this collection's records of the apps it made.
    type: path
    default: /var/lib/pydeploy/apps
  config_dir:
    description: The directory holding each app's config directory.
    type: path
    default: /etc/pydeploy
attributes:
  check_mode:
    support: full
    description: Changes nothing in any mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show as a diff.
  platform:
    support: full
    platforms: posix
    description: Reads the account and group databases with C(pwd) and C(grp), and the directories given.
"""

EXAMPLES = r"""
- name: Read the host's side of app_user, app_root and the unit names
  pydeploy.web.host_inputs:
    root: /srv/shop
  register: __facts
"""

RETURN = r"""
accounts:
  description: Every account, as C(getpwall) reads it.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "admin", "uid": 1000, "home": "/home/admin", "shell": "/bin/bash"}]
groups:
  description: Every group name.
  returned: always
  type: list
  elements: str
uid_min:
  description: The first uid of a login account (C(UID_MIN) of C(/etc/login.defs), else 1000).
  returned: always
  type: int
apps:
  description: The apps this collection made on the host, each with its user and tree.
  returned: always
  type: dict
  sample: {"shop": {"user": "shop", "root": "/srv/shop", "record": true}}
root:
  description: What is at O(root) (C(exists), C(link), C(dir), C(uid), C(entries)).
  returned: always
  type: dict
unit_files:
  description: For each directory of O(unit_dirs) that exists, the names of the files and links in it.
  returned: always
  type: dict
"""

import grp
import json
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def read_uid_min(path="/etc/login.defs"):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "UID_MIN" and fields[1].isdigit():
                    return int(fields[1])
    except OSError:
        pass
    return 1000


def read_apps(records, config_dir, accounts):
    """The apps this collection made: its records, then (hosts of before 0.3.0) root-owned config dirs."""
    apps = {}
    homes = {a["name"]: a["home"] for a in accounts}
    try:
        names = sorted(os.listdir(records))
    except OSError:
        names = []
    for entry in names:
        if not entry.endswith(".json"):
            continue
        path = os.path.join(records, entry)
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != 0:
                continue
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            apps[entry[:-len(".json")]] = {"user": str(record.get("user", "")), "root": str(record.get("root", "")),
                                           "record": True}
    try:
        names = sorted(os.listdir(config_dir))
    except OSError:
        names = []
    for name in names:
        if name in apps:
            continue
        try:
            st = os.lstat(os.path.join(config_dir, name))
            group = grp.getgrgid(st.st_gid).gr_name
        except (OSError, KeyError):
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and group != "root" and group in homes:
            apps[name] = {"user": group, "root": homes[group], "record": False}
    return apps


def read_root(path):
    if not path:
        return {"exists": False}
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    info = {"exists": True, "link": stat.S_ISLNK(st.st_mode), "dir": stat.S_ISDIR(st.st_mode), "uid": st.st_uid}
    entries = []
    if info["dir"]:
        entries = sorted(e for e in os.listdir(path) if e != "lost+found")
    info["entries"] = len(entries)
    return info


def probe(params):
    accounts = [{"name": p.pw_name, "uid": p.pw_uid, "home": p.pw_dir, "shell": p.pw_shell} for p in pwd.getpwall()]
    unit_files = {}
    for directory in params["unit_dirs"]:
        try:
            unit_files[directory] = sorted(os.listdir(directory))
        except OSError:
            continue
    return {
        "changed": False,
        "accounts": accounts,
        "groups": sorted(g.gr_name for g in grp.getgrall()),
        "uid_min": read_uid_min(),
        "apps": read_apps(params["records"], params["config_dir"], accounts),
        "root": read_root(params["root"]),
        "unit_files": unit_files,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path"},
            "unit_dirs": {"type": "list", "elements": "path", "default": [
                "/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system",
                "/usr/lib/systemd/system"]},
            "records": {"type": "path", "default": "/var/lib/pydeploy/apps"},
            "config_dir": {"type": "path", "default": "/etc/pydeploy"},
        },
        supports_check_mode=True,
    )
    try:
        result = probe(module.params)
    except OSError as exc:
        module.fail_json(msg="host_inputs: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
