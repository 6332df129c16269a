#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_probe
short_description: Read what a pydeploy.web build decides on, in one call that changes nothing
description:
  - Looks up files in a release, checks a program, reads an installer's version and lists the complete virtualenvs.
    One module run, where M(ansible.builtin.find), M(ansible.builtin.stat) and M(ansible.builtin.command) make one
    each.
  - Run it as the user who owns the release (C(become_user)). The files are the user's, and root never reads through
    paths that user can change.
  - Each name of O(files) and O(checksum) is looked up with C(lstat). A symbolic link is reported as one and is never
    followed or hashed; directories on the way to a name in a subdirectory are resolved as they are for the user.
  - The version command is chosen on the host, so that no earlier module run is needed to pick it. When
    O(executable) is given and the user may execute it, the module runs it with O(executable_version_args);
    otherwise it runs O(version_command). The app role passes uv as O(executable) only where it may use uv (not
    with C(app_installer=pip) or an empty C(app_uv_path)), with V(--version), and as O(version_command) the command
    that prints the version of the pip C(python3 -m venv) installs. So RV(version) is that of the installer the role
    then picks, uv where uv is to be used and is there, else pip (with C(app_installer=uv) and no uv there, the role
    stops the build before it reads the version).
  - A version command that cannot start or exits with an error fails the module, with the command's error output.
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  path:
    description: The release directory that O(files) and O(checksum) are relative to.
    type: path
    required: true
  files:
    description: Release-relative names to look up. A name may be in a subdirectory, such as C(requirements/prod.txt).
    type: list
    elements: str
    default: []
  checksum:
    description: Release-relative names to look up and, when they are regular files, hash with SHA-256.
    type: list
    elements: str
    default: []
  executable:
    description:
      - Absolute path of a program to check. The module reports whether something exists there and whether the user
        may execute it (C(os.access) with C(X_OK), which follows a link as running the program would).
    type: path
  executable_version_args:
    description:
      - Arguments to run O(executable) with when the user may execute it, such as V(--version). Its output is
        RV(version), and O(version_command) does not run.
    type: list
    elements: str
    default: []
  version_command:
    description:
      - Command to run, as a list of arguments and without a shell, when O(executable_version_args) does not apply.
        Its output is RV(version).
    type: list
    elements: str
    default: []
  complete_dirs:
    description: Lists the subdirectories of O(complete_dirs.path) that hold the file O(complete_dirs.marker).
    type: dict
    suboptions:
      path:
        description: Directory whose subdirectories are checked. A missing directory has no complete subdirectory.
        type: path
        required: true
      marker:
        description: Name of the file that marks a subdirectory complete. A link of that name counts.
        type: str
        required: true
attributes:
  check_mode:
    support: full
    description: Changes nothing in any mode; the version command runs in check mode too, so it must only read.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show as a diff.
  platform:
    support: full
    platforms: posix
    description: Linux hosts.
"""

EXAMPLES = r"""
- name: Look for the lockfiles and hash the requirements file as the app user
  pydeploy.web.release_probe:
    path: /srv/myapp/releases/0123456789ab-1a2b3c4d
    files: [uv.lock, poetry.lock, pyproject.toml, setup.py]
    checksum: [requirements/prod.txt]
  become: true
  become_user: myapp
  register: myapp_probe

- name: Read uv's version when uv is there, else that of the pip a new virtualenv gets, and the complete virtualenvs
  pydeploy.web.release_probe:
    path: /srv/myapp/releases/0123456789ab-1a2b3c4d
    executable: /opt/pydeploy/uv/bin/uv
    executable_version_args: [--version]
    version_command: [/usr/bin/python3, -c, 'import ensurepip; print("pip", ensurepip.version())']
    complete_dirs:
      path: /srv/myapp/venvs
      marker: .pydeploy-complete
  become: true
  become_user: myapp
  register: myapp_probe

- name: Show whether the virtualenv named after the dependencies is complete
  ansible.builtin.debug:
    msg: "{{ 'req-0f1e2d3c4b5a6978' in myapp_probe.complete }}"
"""

RETURN = r"""
files:
  description:
    - For each name of O(files) and O(checksum), whether something exists there (a link counts, even a dangling one),
      whether it is a regular file and whether it is a symbolic link. Names of O(checksum) that are regular files also
      have C(sha256), the hex digest of their content.
  returned: always
  type: dict
  sample:
    uv.lock: {exists: false, isreg: false, islnk: false}
    pyproject.toml: {exists: true, isreg: true, islnk: false}
    requirements/prod.txt:
      exists: true
      isreg: true
      islnk: false
      sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
executable:
  description:
    - Whether something exists at O(executable) and whether the user may execute it; empty when O(executable) is not
      given.
  returned: always
  type: dict
  sample: {exists: true, executable: true}
version:
  description: The version command's output, with leading and trailing white space removed; empty when none ran.
  returned: always
  type: str
  sample: uv 0.13.9 (x86_64-unknown-linux-gnu)
version_command:
  description: The command that printed RV(version), as a list of arguments; empty when none ran.
  returned: always
  type: list
  elements: str
  sample: [/opt/pydeploy/uv/bin/uv, --version]
complete:
  description: Names of the subdirectories of O(complete_dirs.path) that hold O(complete_dirs.marker), sorted.
  returned: always
  type: list
  elements: str
  sample: [lock-3f2a9c0d1e2b4a5c, req-0f1e2d3c4b5a6978]
"""

import errno
import hashlib
import os
import stat

from ansible.module_utils.basic import AnsibleModule


def look_up(path, name, checksum=False):
    """What is at path/name, by lstat: exists, isreg, islnk, and sha256 of a regular file when checksum is set."""
    # Joined as the role's tasks join it, so a name with a leading slash stays inside path.
    full = path.rstrip("/") + "/" + name
    try:
        st = os.lstat(full)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
        return {"exists": False, "isreg": False, "islnk": False}
    out = {"exists": True, "isreg": stat.S_ISREG(st.st_mode), "islnk": stat.S_ISLNK(st.st_mode)}
    if checksum and out["isreg"]:
        out["sha256"] = sha256_of(full)
    return out


def sha256_of(path):
    """Hex SHA-256 of a regular file, opened without following a link (one swapped in meanwhile is refused)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ValueError("%s is no longer a regular file" % path)
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def executable_state(path):
    return {"exists": os.path.lexists(path), "executable": os.access(path, os.X_OK)}


def complete_subdirs(path, marker):
    """Names of the subdirectories of path holding marker (by lstat, so a link named marker counts)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    return sorted(name for name in names if os.path.lexists(os.path.join(path, name, marker)))


def read_version(argv, run_command):
    """The command's output, stripped; ValueError with its error output when it cannot start or fails."""
    try:
        rc, out, err = run_command(argv)
    except OSError as exc:
        raise ValueError("%s could not start: %s" % (" ".join(argv), exc.strerror)) from None
    if rc != 0:
        raise ValueError("%s exited with %d: %s" % (" ".join(argv), rc, (err or out).strip()))
    return out.strip()


def probe(params, run_command):
    """The module's result for its parameters; ValueError when a file cannot be read or the version command fails."""
    hashed = set(params["checksum"])
    files = {name: look_up(params["path"], name, name in hashed) for name in params["files"] + params["checksum"]}
    executable = executable_state(params["executable"]) if params["executable"] else {}
    if executable.get("executable") and params["executable_version_args"]:
        argv = [params["executable"]] + params["executable_version_args"]
    else:
        argv = params["version_command"]
    complete = params["complete_dirs"]
    return {
        "changed": False,
        "files": files,
        "executable": executable,
        "version": read_version(argv, run_command) if argv else "",
        "version_command": argv,
        "complete": complete_subdirs(complete["path"], complete["marker"]) if complete else [],
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "files": {"type": "list", "elements": "str", "default": []},
            "checksum": {"type": "list", "elements": "str", "default": []},
            "executable": {"type": "path"},
            "executable_version_args": {"type": "list", "elements": "str", "default": []},
            "version_command": {"type": "list", "elements": "str", "default": []},
            "complete_dirs": {
                "type": "dict",
                "options": {
                    "path": {"type": "path", "required": True},
                    "marker": {"type": "str", "required": True},
                },
            },
        },
        supports_check_mode=True,
    )

    def run_command(argv):
        # No shell, no expansion of ~ or $VAR in the arguments.
        return module.run_command(argv, handle_exceptions=False, expand_user_and_vars=False)

    try:
        result = probe(module.params, run_command)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="release_probe: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
