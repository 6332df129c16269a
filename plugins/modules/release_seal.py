#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_seal
short_description: Make a built pydeploy.web release and its virtualenv read-only to the app and record them as sealed
description:
  - A release is built by the app user, in a transient unit that has ended before this module runs. Sealing hands
    every file of the release tree and of its virtualenv to root (the group is the app's group), walking the trees by
    file descriptor without following symbolic links, so a link the app user planted cannot redirect the change.
  - Modes are set, not kept. Directories become 0750 and files 0640 (0750 when any execute bit was set); setuid,
    setgid and sticky bits are dropped and file capabilities (the C(security.capability) attribute) removed. Paths
    listed in O(public) (what nginx serves) are readable by others (0755 and 0644), and the directories above them
    only traversable (0751).
  - A regular file with more than one hard link fails the module before anything is changed, naming the files (a
    hard link made during the build would give the app user a second name for a file root then owns).
  - Symbolic links in the release that resolve outside it are removed (a committed link to C(/etc) or to another
    app would otherwise be served by nginx or followed later), except the links named in O(links). The C(.venv) link
    is made by root, pointing at O(venv), whatever the build left there.
  - Then writes, as root and without following links, C(REVISION), C(.pydeploy/release.json) and C(.pydeploy/complete)
    in the release and C(.pydeploy-complete) in the virtualenv (for people and tools; never read back), and last the
    root-owned records in O(state) (C(venvs/<name>.json), C(releases/<id>.json)). Only these records say that a
    release or a virtualenv is complete and which virtualenv a release uses; nothing the app user could write does.
  - A release already recorded in O(state) is left as it is.
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
    description: Release-relative symbolic links that may point outside the release (shared paths).
    type: list
    elements: str
    default: []
  public:
    description: Release-relative paths that others may read (the static paths nginx serves).
    type: list
    elements: str
    default: []
  state:
    description:
      - Root's record of sealed releases and virtualenvs. Must be a directory owned by root and writable by root only;
        it and its C(releases) and C(venvs) subdirectories are made when missing.
    type: path
    required: true
  meta:
    description: Release metadata written to C(.pydeploy/release.json) and to the release's record.
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
    state: /srv/myapp/sealed
    group: myapp
    links: [instance]
    public: [static]
    revision: 0123456789abcdef0123456789abcdef01234567
    meta:
      id: 0123456789ab-1a2b3c4d
      commit: 0123456789abcdef0123456789abcdef01234567
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

import errno
import grp
import json
import os
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule

MARKER_DIR = ".pydeploy"
VENV_LINK = ".venv"
VENV_MARKER = ".pydeploy-complete"
CAPABILITY = "security.capability"
# Files named in a refusal: enough to find them, not the whole tree.
MAX_NAMED = 10


class SealError(Exception):
    pass


def check_root_dir(path, what):
    """path must be a directory (not a link) owned by root and writable by root only."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise SealError("%s %s does not exist" % (what, path)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise SealError("%s %s is not a directory (a symbolic link is refused)" % (what, path))
    if st.st_uid != 0 or st.st_mode & 0o022:
        raise SealError("%s %s must be owned by root and writable by root only" % (what, path))


def check_tree(path):
    parent = os.path.dirname(path.rstrip("/"))
    check_root_dir(parent, "the parent directory")
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise SealError("%s is not a directory" % path)


def record_path(state, kind, name):
    return os.path.join(state, kind, name + ".json")


def is_recorded(state, kind, name):
    """Whether root's record exists: a regular file owned by root in root's state directory."""
    try:
        st = os.lstat(record_path(state, kind, name))
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == 0


def read_record(state, kind, name):
    if not is_recorded(state, kind, name):
        return None
    fd = os.open(record_path(state, kind, name), os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="utf-8") as fh:
        return json.load(fh)


def is_public(rel, public):
    return any(rel == p or rel.startswith(p + "/") for p in public)


def is_above_public(rel, public):
    return any(rel == "." or p.startswith(rel + "/") for p in public)


def wanted_mode(st, rel, public):
    """The sealed mode of an entry: never setuid, setgid or sticky; readable by others only when public."""
    if stat.S_ISDIR(st.st_mode):
        if is_public(rel, public):
            return 0o755
        return 0o751 if public and is_above_public(rel, public) else 0o750
    mode = 0o750 if st.st_mode & 0o111 else 0o640
    if is_public(rel, public):
        mode |= 0o005 if mode & 0o100 else 0o004
    return mode


def _join(dirpath, name):
    return name if dirpath == "." else dirpath + "/" + name


def hard_linked(path):
    """Tree-relative names of regular files with more than one link, without following links."""
    out = []
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for dirpath, _dirnames, filenames, dirfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            for name in filenames:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    out.append(os.path.normpath(_join(dirpath, name)))
    finally:
        os.close(top)
    return sorted(out)


def drop_capability(fd):
    try:
        if CAPABILITY in os.listxattr(fd):
            os.removexattr(fd, CAPABILITY)
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.ENODATA):
            raise


def seal_fd(fd, st, mode, gid):
    """Hand an open file or directory to root:gid with mode; chown first (it clears setuid/setgid), then chmod."""
    if st.st_uid != 0 or st.st_gid != gid:
        os.fchown(fd, 0, gid)
    if stat.S_IMODE(st.st_mode) != mode or st.st_uid != 0:
        os.fchmod(fd, mode)
    drop_capability(fd)


def seal_file(name, dirfd, rel, gid, public):
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid != 0 or st.st_gid != gid:
            os.chown(name, 0, gid, dir_fd=dirfd, follow_symlinks=False)
        return
    if not stat.S_ISREG(st.st_mode):
        # A fifo or socket has no place in a release, and root never opens one.
        os.unlink(name, dir_fd=dirfd)
        return
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        st = os.fstat(fd)
        if st.st_nlink > 1:
            raise SealError("%s has %d hard links" % (rel, st.st_nlink))
        seal_fd(fd, st, wanted_mode(st, rel, public), gid)
    finally:
        os.close(fd)


def seal_tree(path, gid, public=()):
    """Hand a tree to root:gid with sealed modes; never follows a symbolic link."""
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            rel = os.path.normpath(dirpath)
            # Top-down: a directory is root's before its entries are handled, so no name in it can be swapped.
            st = os.fstat(dirfd)
            seal_fd(dirfd, st, wanted_mode(st, rel, public), gid)
            # fwalk lists a link to a directory with the directories (and does not enter it).
            links = [n for n in dirnames if stat.S_ISLNK(os.stat(n, dir_fd=dirfd, follow_symlinks=False).st_mode)]
            for name in filenames + links:
                seal_file(name, dirfd, os.path.normpath(_join(dirpath, name)), gid, public)
    finally:
        os.close(top)


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


def write_new(path, text, mode=0o640, gid=0):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fchown(fd, 0, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def write_record(state, kind, name, data, gid):
    """Root's record, written whole (a temporary file renamed over it) in a directory only root can write."""
    directory = os.path.join(state, kind)
    if not os.path.lexists(directory):
        os.mkdir(directory, 0o750)
        os.chown(directory, 0, gid, follow_symlinks=False)
    check_root_dir(directory, "the state directory")
    tmp = os.path.join(directory, "." + name + ".tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    write_new(tmp, json.dumps(data, indent=2, sort_keys=True) + "\n", gid=gid)
    os.rename(tmp, record_path(state, kind, name))


def make_venv_link(path, venv, gid):
    link = os.path.join(path, VENV_LINK)
    remove(link)
    os.symlink(venv, link)
    os.chown(link, 0, gid, follow_symlinks=False)


def seal(params, gid):
    """Seal as the module does; returns (changed, removed_links). SealError for a refusal."""
    path = params["path"].rstrip("/")
    venv = (params["venv"] or "").rstrip("/")
    state = params["state"].rstrip("/")
    release_id = os.path.basename(path)
    venv_name = os.path.basename(venv) if venv else ""
    if not os.path.lexists(state) and not params.get("check_mode"):
        # A host upgraded by a run that skipped the app's setup (--tags app_release): made here, in root's app_root.
        check_root_dir(os.path.dirname(state), "the parent directory")
        os.mkdir(state, 0o750)
        os.chown(state, 0, gid, follow_symlinks=False)
    if os.path.lexists(state):
        check_root_dir(state, "the state directory")
    check_tree(path)
    if venv:
        check_tree(venv)
    release_sealed = is_recorded(state, "releases", release_id)
    venv_sealed = not venv or is_recorded(state, "venvs", venv_name)
    if release_sealed and venv_sealed:
        return False, []
    if params.get("check_mode"):
        return True, []

    # Refused before anything changes, so a refused build stays as it was (the app's, never live).
    linked = (hard_linked(venv) if not venv_sealed else []) + ([] if release_sealed else hard_linked(path))
    if linked:
        raise SealError("hard-linked files in the build (%s%s): a release may hold no file with a second name"
                        % (", ".join(linked[:MAX_NAMED]), ", ..." if len(linked) > MAX_NAMED else ""))

    if not venv_sealed:
        seal_tree(venv, gid)
        # For people and tools: says which release built the virtualenv; root never reads it.
        remove(os.path.join(venv, VENV_MARKER))
        write_new(os.path.join(venv, VENV_MARKER), params["meta"].get("id", "") + "\n", gid=gid)
        write_record(state, "venvs", venv_name, {"path": venv, "release": params["meta"].get("id", "")}, gid)
    removed = []
    if not release_sealed:
        seal_tree(path, gid, [os.path.normpath(p).strip("/") for p in params["public"] if p.strip("/")])
        # From here on only root can change the tree: nothing can swap a path between the checks and the writes.
        if venv:
            make_venv_link(path, venv, gid)
        removed = escaping_links(path, set(params["links"]) | {VENV_LINK})
        for rel in removed:
            os.unlink(os.path.join(path, rel))
        for name in (MARKER_DIR, "REVISION"):
            remove(os.path.join(path, name))
        os.mkdir(os.path.join(path, MARKER_DIR), 0o750)
        os.chown(os.path.join(path, MARKER_DIR), 0, gid, follow_symlinks=False)
        os.chmod(os.path.join(path, MARKER_DIR), 0o750)
        meta = json.dumps(params["meta"], indent=2, sort_keys=True) + "\n"
        write_new(os.path.join(path, "REVISION"), params["revision"] + "\n", gid=gid)
        write_new(os.path.join(path, MARKER_DIR, "release.json"), meta, gid=gid)
        write_new(os.path.join(path, MARKER_DIR, "complete"), params["meta"].get("id", "") + "\n", gid=gid)
        write_record(state, "releases", release_id,
                     {"id": release_id, "venv": venv, "revision": params["revision"], "meta": params["meta"]}, gid)
    return True, removed


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "venv": {"type": "path"},
            "group": {"type": "str", "required": True},
            "links": {"type": "list", "elements": "str", "default": []},
            "public": {"type": "list", "elements": "str", "default": []},
            "state": {"type": "path", "required": True},
            "meta": {"type": "dict", "required": True},
            "revision": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    try:
        gid = grp.getgrnam(module.params["group"]).gr_gid
    except KeyError:
        module.fail_json(msg="group %s does not exist" % module.params["group"])
    try:
        changed, removed = seal(dict(module.params, check_mode=module.check_mode), gid)
    except SealError as exc:
        module.fail_json(msg="release %s not sealed: %s" % (module.params["path"], exc))
    module.exit_json(changed=changed, sealed=changed, removed_links=removed)


if __name__ == "__main__":
    main()
