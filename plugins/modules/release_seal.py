#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_seal
short_description: Make a built pydeploy.web release and its virtualenv read-only to the app and mark them complete
description:
  - A release is built by the app user. Sealing hands every file of the release tree and of its virtualenv to root
    (the group is the app's group) and drops group and other write bits, walking the trees by file descriptor without
    following symbolic links, so a link the app user planted cannot redirect the change.
  - Symbolic links in the release that resolve outside it are removed (a committed link to C(/etc) or to another
    app would otherwise be served by nginx or followed later), except the links named in O(links).
  - Then writes, as root and without following links, C(REVISION), C(.pydeploy/release.json) and
    C(.pydeploy/complete) in the release and C(.pydeploy-complete) in the virtualenv.
  - A release already sealed (root-owned, with its marker) is left as it is.
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  path:
    description: The release directory. Its parent must be owned by root and writable by root only.
    type: path
    required: true
  venv:
    description: The release's virtualenv directory. Its parent must be owned by root and writable by root only.
    type: path
  group:
    description: Group given to the sealed files (the app's group), so the app can read them.
    type: str
    required: true
  links:
    description: Release-relative symbolic links that may point outside the release (C(.venv), shared paths).
    type: list
    elements: str
    default: []
  meta:
    description: Release metadata written to C(.pydeploy/release.json). Its C(id) is also the marker's content.
    type: dict
    required: true
  revision:
    description: Commit written to C(REVISION).
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: Reports whether the release would be sealed, changes nothing.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
  platform:
    support: full
    platforms: posix
    description: Linux hosts.
"""

EXAMPLES = r"""
- name: Seal a release built by the app user
  pydeploy.web.release_seal:
    path: /srv/myapp/releases/0123456789ab-1a2b3c4d
    venv: /srv/myapp/venvs/req-0f1e2d3c4b5a6978
    group: myapp
    links: [.venv, instance]
    revision: 0123456789abcdef0123456789abcdef01234567
    meta:
      id: 0123456789ab-1a2b3c4d
      commit: 0123456789abcdef0123456789abcdef01234567

- name: Seal a release without a virtualenv check
  pydeploy.web.release_seal:
    path: /srv/myapp/releases/0123456789ab-1a2b3c4d
    group: myapp
    revision: 0123456789abcdef0123456789abcdef01234567
    meta: {id: 0123456789ab-1a2b3c4d}
"""

RETURN = r"""
removed_links:
  description: Release-relative links removed because they resolved outside the release.
  returned: always
  type: list
  elements: str
  sample: [static/etc]
sealed:
  description: Whether files were handed to root in this run.
  returned: always
  type: bool
  sample: true
"""

import grp
import json
import os
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule

MARKER_DIR = ".pydeploy"
VENV_MARKER = ".pydeploy-complete"


def check_parent(module, path):
    parent = os.path.dirname(path.rstrip("/"))
    st = os.lstat(parent)
    if st.st_uid != 0 or st.st_mode & 0o022:
        module.fail_json(msg="%s must be owned by root and writable by root only" % parent)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        module.fail_json(msg="%s is not a directory" % path)


def is_sealed(path, marker):
    try:
        return os.lstat(path).st_uid == 0 and os.path.exists(os.path.join(path, marker)) and os.lstat(os.path.join(path, marker)).st_uid == 0
    except OSError:
        return False


def seal_entry(name, dirfd, gid):
    """Hand one entry (name in dirfd, or dirfd itself when name is None) to root:gid without group/other write."""
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False) if name else os.fstat(dirfd)
    changed = False
    if st.st_uid != 0 or st.st_gid != gid:
        if name:
            os.chown(name, 0, gid, dir_fd=dirfd, follow_symlinks=False)
        else:
            os.fchown(dirfd, 0, gid)
        changed = True
    if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o022:
        mode = stat.S_IMODE(st.st_mode) & ~0o022
        if name:
            os.chmod(name, mode, dir_fd=dirfd)
        else:
            os.fchmod(dirfd, mode)
        changed = True
    return changed


def seal_tree(path, gid):
    """Hand a tree to root:gid without write bits for others; never follows a symbolic link."""
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        changed = seal_entry(None, top, gid)
        for _dirpath, dirnames, filenames, dirfd in os.fwalk(dir_fd=top, follow_symlinks=False):
            for name in dirnames + filenames:
                changed = seal_entry(name, dirfd, gid) or changed
    finally:
        os.close(top)
    return changed


def escaping_links(path, allowed):
    """Release-relative links whose target resolves outside the release."""
    real_top = os.path.realpath(path)
    out = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                continue
            rel = os.path.relpath(full, path)
            if rel in allowed:
                continue
            target = os.path.realpath(full)
            if target != real_top and not target.startswith(real_top + os.sep):
                out.append(rel)
    return sorted(out)


def remove(path):
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def write_new(path, text, mode=0o644, gid=0):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fchown(fd, 0, gid)
    finally:
        os.close(fd)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "venv": {"type": "path"},
            "group": {"type": "str", "required": True},
            "links": {"type": "list", "elements": "str", "default": []},
            "meta": {"type": "dict", "required": True},
            "revision": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    path = module.params["path"].rstrip("/")
    venv = (module.params["venv"] or "").rstrip("/")
    try:
        gid = grp.getgrnam(module.params["group"]).gr_gid
    except KeyError:
        module.fail_json(msg="group %s does not exist" % module.params["group"])
    check_parent(module, path)
    if venv:
        check_parent(module, venv)

    release_sealed = is_sealed(path, os.path.join(MARKER_DIR, "complete"))
    venv_sealed = not venv or is_sealed(venv, VENV_MARKER)
    if release_sealed and venv_sealed:
        module.exit_json(changed=False, sealed=False, removed_links=[])
    if module.check_mode:
        module.exit_json(changed=True, sealed=True, removed_links=[])

    if venv and not venv_sealed:
        seal_tree(venv, gid)
        remove(os.path.join(venv, VENV_MARKER))
        write_new(os.path.join(venv, VENV_MARKER), module.params["meta"].get("id", "") + "\n")
    removed = []
    if not release_sealed:
        seal_tree(path, gid)
        # From here on only root can change the tree: nothing can swap a path between the checks and the writes.
        removed = escaping_links(path, set(module.params["links"]))
        for rel in removed:
            os.unlink(os.path.join(path, rel))
        for name in (MARKER_DIR, "REVISION"):
            remove(os.path.join(path, name))
        os.mkdir(os.path.join(path, MARKER_DIR), 0o755)
        os.chown(os.path.join(path, MARKER_DIR), 0, gid, follow_symlinks=False)
        write_new(os.path.join(path, "REVISION"), module.params["revision"] + "\n", gid=gid)
        write_new(os.path.join(path, MARKER_DIR, "release.json"), json.dumps(module.params["meta"], indent=2, sort_keys=True) + "\n", gid=gid)
        write_new(os.path.join(path, MARKER_DIR, "complete"), module.params["meta"].get("id", "") + "\n", gid=gid)
    module.exit_json(changed=True, sealed=True, removed_links=removed)


if __name__ == "__main__":
    main()
