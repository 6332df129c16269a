#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: releases
short_description: Inspect and prune the releases of a pydeploy.web app
description:
  - Lists the releases under C(<root>/releases), oldest first, by the build time recorded in each release.
  - Finds the live and the previous release by reading the C(current) and C(previous) symlinks, never by mtime.
  - With O(state=pruned), deletes the oldest complete releases beyond O(keep), never the live, the previous
    or a protected release, then deletes virtualenvs under C(<root>/venvs) that no remaining release uses.
  - Deletes incomplete releases (an interrupted build) unless they are protected.
version_added: 0.1.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  root:
    description: The app root holding C(releases/), C(venvs/), C(current) and C(previous).
    type: path
    required: true
  state:
    description:
      - V(listed) only reports the releases and changes nothing.
      - V(pruned) also deletes old and incomplete releases and unused virtualenvs.
    type: str
    choices: [listed, pruned]
    default: listed
  keep:
    description: How many complete releases to keep, counting the live one. At least 2.
    type: int
    default: 5
  protect:
    description: Release ids never to delete (e.g. the candidate being deployed).
    type: list
    elements: str
    default: []
  read_links:
    description:
      - Other paths to report in RV(links), such as the links the app's server instances run from, so one call reads
        everything a switch decides on.
    type: list
    elements: path
    default: []
    version_added: 0.2.0
  read_units:
    description:
      - systemd units whose state to report in RV(units), such as the app's server instances, read with one
        C(systemctl show).
    type: list
    elements: str
    default: []
    version_added: 0.3.0
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: With O(state=pruned), reports in RV(removed) what would be deleted and deletes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - A release is complete when root's record C(<root>/sealed/releases/<id>.json) exists (a regular file owned by root in
    directories only root can write); C(pydeploy.web.release_seal) writes it last. The record also names the release's
    virtualenv. A C(.pydeploy/complete) marker or a C(.venv) link in the release counts for nothing, as the app user could
    have written them while it built the release (the C(.venv) link of an incomplete release only keeps its virtualenv
    from being pruned).
seealso:
  - module: pydeploy.web.deploy_lock
  - module: pydeploy.web.deploy_log
"""

EXAMPLES = r"""
- name: Prune old releases, keeping five complete ones
  pydeploy.web.releases:
    root: /srv/myapp
    state: pruned
    keep: 5

- name: Prune, but never the release being deployed
  pydeploy.web.releases:
    root: /srv/myapp
    state: pruned
    keep: 3
    protect:
      - "{{ myapp_candidate_release }}"

- name: List the releases
  pydeploy.web.releases:
    root: /srv/myapp
  register: myapp_releases

- name: Read the live release, the socket link and the state of both server instances in one run
  pydeploy.web.releases:
    root: /srv/myapp
    read_links: [/run/pydeploy/myapp.sock]
    read_units: [myapp@blue.service, myapp@green.service]
  register: myapp_state

- name: Show the live and the previous release
  ansible.builtin.debug:
    msg: "live {{ myapp_releases.live }}, previous {{ myapp_releases.previous }}"
"""

RETURN = r"""
releases:
  description: Releases, oldest first, after pruning.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Release id, the directory name under C(releases/).
      type: str
      sample: 0123456789ab
    path:
      description: Absolute path of the release.
      type: str
      sample: /srv/myapp/releases/0123456789ab
    complete:
      description: Whether root sealed the release (its record in C(<root>/sealed/releases/)).
      type: bool
      sample: true
    created:
      description: Build time, seconds since the epoch (the directory mtime when the release records none).
      type: float
      sample: 1763786400.0
    commit:
      description: Git commit of the release, or an empty string.
      type: str
      sample: 0123456789abcdef0123456789abcdef01234567
    version:
      description: App version (branch, tag or commit) the release was built from, or an empty string.
      type: str
      sample: main
    venv:
      description: The virtualenv root recorded for a complete release, or an empty string.
      type: str
      sample: /srv/myapp/venvs/req-3f2a9c0d1e2b4a5c
    link_venv:
      description: Resolved target of the release's C(.venv) link (used only to keep a virtualenv from being pruned).
      type: str
      sample: /srv/myapp/venvs/req-3f2a9c0d1e2b4a5c
  sample:
    - id: 0123456789ab
      path: /srv/myapp/releases/0123456789ab
      complete: true
      created: 1763786400.0
      commit: 0123456789abcdef0123456789abcdef01234567
      version: main
      venv: /srv/myapp/venvs/req-3f2a9c0d1e2b4a5c
live:
  description: Id of the release C(current) points at, or an empty string.
  returned: always
  type: str
  sample: 0123456789ab
previous:
  description: Id of the release C(previous) points at, or an empty string.
  returned: always
  type: str
  sample: fedcba987654
sealed_venvs:
  description: Names of the virtualenvs under C(<root>/venvs) that root sealed (recorded in C(<root>/sealed/venvs/)).
  returned: always
  type: list
  elements: str
  sample: [req-3f2a9c0d1e2b4a5c]
  version_added: 0.4.0
removed:
  description: Release ids and venvs (as C(venvs/<name>)) deleted, or that would be deleted in check mode.
  returned: always
  type: list
  elements: str
  sample: [aaaaaaaaaaaa, venvs/req-1b2c3d4e5f6a7b8c]
links:
  description:
    - For each path of O(read_links), whether something exists there, whether it is a symbolic link, and its target
      (an empty string when it is not a link).
  returned: always
  type: dict
  sample:
    /run/pydeploy/myapp.sock: {exists: true, islnk: true, target: /run/pydeploy/myapp-blue.sock}
    /srv/myapp/green: {exists: false, islnk: false, target: ""}
units:
  description:
    - For each unit of O(read_units), its C(ActiveState) (V(active), V(inactive), V(failed), V(activating)...).
      systemd reports an unknown unit as V(inactive).
  returned: always
  type: dict
  sample:
    myapp@blue.service: active
    myapp@green.service: inactive
  version_added: 0.3.0
"""

import json
import os
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pydeploy.web.plugins.module_utils.systemd import parse_show

META = ".pydeploy/release.json"
# Root's record of sealed releases and virtualenvs (the release_seal module writes them): the only thing that makes a
# release complete and names its virtualenv. Nothing the app user could write counts.
STATE = "sealed"
# Who must own the record and its directories (the unit tests stand in with their own user).
ROOT_UID = 0


def _link_target_id(root, name):
    path = os.path.join(root, name)
    if not os.path.islink(path):
        return ""
    target = os.path.realpath(path)
    releases = os.path.realpath(os.path.join(root, "releases"))
    if os.path.dirname(target) != releases:
        return ""
    return os.path.basename(target)


def _read_json(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        with os.fdopen(fd, encoding="utf-8") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return {}
            data = json.load(fh)
            return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def read_record(root, kind, name):
    """Root's record of a sealed release or virtualenv, or None: a regular file owned by root, in root's directory."""
    directory = os.path.join(root, STATE, kind)
    try:
        for path in (os.path.join(root, STATE), directory):
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != ROOT_UID or st.st_mode & 0o022:
                return None
        st = os.lstat(os.path.join(directory, name + ".json"))
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != ROOT_UID:
        return None
    return _read_json(os.path.join(directory, name + ".json"))


def sealed_venvs(root):
    """Names of the virtualenvs root sealed that are still there (root-owned directories under venvs/)."""
    try:
        names = os.listdir(os.path.join(root, STATE, "venvs"))
    except OSError:
        return []
    out = []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        venv = name[:-len(".json")]
        try:
            st = os.lstat(os.path.join(root, "venvs", venv))
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == ROOT_UID and read_record(root, "venvs", venv) is not None:
            out.append(venv)
    return sorted(out)


def list_releases(root):
    base = os.path.join(root, "releases")
    out = []
    if not os.path.isdir(base):
        return out
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name.startswith(".") or not os.path.isdir(path) or os.path.islink(path):
            continue
        record = read_record(root, "releases", name)
        complete = record is not None
        meta = (record or {}).get("meta") or _read_json(os.path.join(path, META))
        # The virtualenv of a complete release is the one root recorded. The link of an incomplete one (the app user's
        # work) only ever keeps a virtualenv from being pruned.
        venv_link = os.path.join(path, ".venv")
        link_venv = os.path.realpath(venv_link) if os.path.islink(venv_link) else ""
        out.append({
            "id": name,
            "path": path,
            "complete": complete,
            "created": float(meta.get("created", 0) or 0) or os.stat(path).st_mtime,
            "commit": meta.get("commit", ""),
            "version": meta.get("version", ""),
            "venv": str((record or {}).get("venv", "")),
            "link_venv": link_venv,
        })
    out.sort(key=lambda r: (r["created"], r["id"]))
    return out


def plan_prune(releases, keep, protected):
    """Return the ids to delete: incomplete unprotected ones, then the oldest complete beyond keep."""
    doomed = [r["id"] for r in releases if not r["complete"] and r["id"] not in protected]
    complete = [r for r in releases if r["complete"]]
    excess = len(complete) - keep
    for rel in complete:  # oldest first
        if excess <= 0:
            break
        if rel["id"] in protected:
            continue
        doomed.append(rel["id"])
        excess -= 1
    return doomed


def unused_venvs(root, releases):
    base = os.path.join(root, "venvs")
    if not os.path.isdir(base):
        return []
    used = {os.path.realpath(v) for r in releases for v in (r["venv"], r.get("link_venv", "")) if v}
    out = []
    for name in sorted(os.listdir(base)):
        path = os.path.realpath(os.path.join(base, name))
        if os.path.isdir(path) and path not in used:
            out.append(name)
    return out


def remove_record(root, kind, name):
    try:
        os.unlink(os.path.join(root, STATE, kind, name + ".json"))
    except FileNotFoundError:
        pass


def read_links(paths):
    """For each path: whether something exists there, whether it is a symbolic link, and what the link points to."""
    out = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            out[path] = {"exists": False, "islnk": False, "target": ""}
            continue
        islnk = stat.S_ISLNK(st.st_mode)
        out[path] = {"exists": True, "islnk": islnk, "target": os.readlink(path) if islnk else ""}
    return out


def read_units(module, names):
    """The ActiveState of each unit, in one systemctl run."""
    if not names:
        return {}
    systemctl = module.get_bin_path("systemctl", required=True)
    rc, out, err = module.run_command([systemctl, "show", "--property=Id,ActiveState", "--"] + names)
    if rc != 0:
        module.fail_json(msg="systemctl show %s failed: %s" % (" ".join(names), err.strip()))
    try:
        states = parse_show(out)
    except ValueError as exc:
        module.fail_json(msg="systemctl show %s: %s" % (" ".join(names), exc))
    # systemctl names an instance of a template unit by its full name; report the names as asked.
    return {name: states.get(name if "." in name else name + ".service", {}).get("ActiveState", "") for name in names}


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["listed", "pruned"], "default": "listed"},
            "keep": {"type": "int", "default": 5},
            "protect": {"type": "list", "elements": "str", "default": []},
            "read_links": {"type": "list", "elements": "path", "default": []},
            "read_units": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    root = module.params["root"]
    keep = module.params["keep"]
    if keep < 2:
        module.fail_json(msg="keep must be at least 2 (the live and the previous release), got %d" % keep)
    live = _link_target_id(root, "current")
    previous = _link_target_id(root, "previous")
    releases = list_releases(root)
    removed = []
    if module.params["state"] == "pruned":
        protected = {live, previous, *module.params["protect"]} - {""}
        doomed = plan_prune(releases, keep, protected)
        remaining = [r for r in releases if r["id"] not in doomed]
        venvs = unused_venvs(root, remaining)
        if not module.check_mode:
            # The record goes first: a release half deleted is never taken for a complete one.
            for rid in doomed:
                remove_record(root, "releases", rid)
                shutil.rmtree(os.path.join(root, "releases", rid))
            for name in venvs:
                remove_record(root, "venvs", name)
                shutil.rmtree(os.path.join(root, "venvs", name))
        removed = doomed + ["venvs/" + v for v in venvs]
        releases = remaining
    module.exit_json(changed=bool(removed), releases=releases, live=live, previous=previous, removed=removed,
                     sealed_venvs=sealed_venvs(root),
                     links=read_links(module.params["read_links"]),
                     units=read_units(module, module.params["read_units"]))


if __name__ == "__main__":
    main()
