#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Write several configuration files and symbolic links in one call, validated before any goes live
description:
  - Writes each file of O(files) whose content, owner, group or mode differ, then makes each link of O(links) and
    removes each path of O(absent). One module run, where a loop of M(ansible.builtin.template) makes one per file.
  - Render templates on the controller with the P(ansible.builtin.template#lookup) lookup and pass their text as
    O(files[].content). The content is a module argument, so it shows at high verbosity. This module is for
    configuration, never for secrets.
  - A new content is written to a temporary file beside its destination and checked with O(files[].validate) when
    one is given. Only when every changed file passed its check are they moved into place, each with an atomic rename.
  - A destination that is a symbolic link or a directory stops the module before it changes anything. Owner and mode
    are set on the file itself, never through a link.
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Absolute path of the file. Its directory must exist.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      owner:
        description: User name that owns the file.
        type: str
        default: root
      group:
        description: Group name of the file.
        type: str
        default: root
      mode:
        description: Octal mode as a string, such as V("0644").
        type: str
        required: true
      validate:
        description:
          - Command that checks the new content before it goes live; V(%s) is the temporary file's path.
          - The temporary file sits beside the destination, so the command should write nothing next to it.
        type: str
  backup:
    description: Keep a copy of each file that is replaced, named like M(ansible.builtin.copy) names its backups.
    type: bool
    default: false
  links:
    description:
      - Symbolic links to make (or to point elsewhere) after the files are written, as a mapping of each link's
        absolute path to what it points to.
    type: dict
    default: {}
  absent:
    description: Files or links to remove when they exist. A directory is refused.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what would change, changes nothing (validation commands do not run).
  diff_mode:
    support: full
    description: Shows each changed file's old and new content, and each changed link.
  platform:
    support: full
    platforms: posix
    description: Linux hosts.
"""

EXAMPLES = r"""
- name: Write a service's units in one call
  pydeploy.web.files:
    files:
      - dest: /etc/systemd/system/myapp.socket
        content: "{{ lookup('ansible.builtin.template', 'myapp.socket.j2') }}"
        mode: "0644"
      - dest: /etc/systemd/system/myapp.service
        content: "{{ lookup('ansible.builtin.template', 'myapp.service.j2') }}"
        mode: "0644"

- name: Write an nginx site, keep backups, enable it and disable Debian's default site
  pydeploy.web.files:
    files:
      - dest: /etc/nginx/sites-available/myapp.conf
        content: "{{ lookup('ansible.builtin.template', 'myapp.conf.j2') }}"
        mode: "0644"
    backup: true
    links:
      /etc/nginx/sites-enabled/myapp.conf: /etc/nginx/sites-available/myapp.conf
    absent: [/etc/nginx/sites-enabled/default]
  register: myapp_nginx

- name: A Python config file for the app's group, compiled before it goes live
  pydeploy.web.files:
    files:
      - dest: /etc/myapp/gunicorn.conf.py
        content: "workers = 3\n"
        group: myapp
        mode: "0640"
        validate: /usr/bin/python3 -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' %s
"""

RETURN = r"""
files:
  description: For each file of O(files), in order, whether it changed, and where its backup is.
  returned: always
  type: list
  elements: dict
  sample:
    - {dest: /etc/nginx/nginx.conf, changed: false, created: false}
    - {dest: /etc/nginx/sites-available/myapp.conf, changed: true, created: false,
       backup_file: /etc/nginx/sites-available/myapp.conf.1234.2026-11-24@10:00:00~}
links:
  description: For each link of O(links), whether it changed.
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /etc/nginx/sites-enabled/myapp.conf, changed: true, created: true}
removed:
  description: The paths of O(absent) that existed and were removed (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/nginx/sites-enabled/default]
"""

import os
import shlex
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible_collections.pydeploy.web.plugins.module_utils.fs import parse_mode, resolve_ids


def plan_file(spec, check_mode=False):
    """What writing one file would change: a dict with the new bytes, ids, mode and what differs. Changes nothing."""
    dest = spec["dest"]
    if not os.path.isabs(dest):
        raise ValueError("%s is not an absolute path" % dest)
    mode = parse_mode(spec["mode"], dest)
    uid, gid = resolve_ids(spec["owner"], spec["group"], check_mode)  # None: not created yet (check mode only)
    data = to_bytes(spec["content"], errors="surrogate_or_strict")
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise ValueError("%s is not a regular file (a symbolic link or a directory); remove it and run again" % dest)
    old = b""
    if st is not None:
        with open(dest, "rb") as fh:
            old = fh.read()
    return {
        "spec": spec, "data": data, "old": old, "uid": uid, "gid": gid, "mode": mode, "created": st is None,
        "content_changed": st is None or old != data,
        "attrs_changed": st is not None and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (uid, gid, mode),
    }


def stage(item, run_command):
    """Write the new content to a temporary file beside the destination, with its owner and mode, and validate it."""
    dest = item["spec"]["dest"]
    fd, tmp = tempfile.mkstemp(prefix=".pydeploy-", dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(item["data"])
            os.fchown(fh.fileno(), item["uid"], item["gid"])
            os.fchmod(fh.fileno(), item["mode"])
        validate = item["spec"].get("validate")
        if validate:
            if "%s" not in validate:
                raise ValueError("validate of %s must contain %%s" % dest)
            rc, out, err = run_command(shlex.split(validate.replace("%s", tmp)))
            if rc != 0:
                raise ValueError("the new %s failed its check (%s): %s" % (dest, validate, (err or out).strip()))
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def set_attrs(path, uid, gid, mode):
    """Owner and mode of an existing file, through a descriptor that does not follow a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def link_state(path, src):
    """'ok', 'missing' or 'wrong' for a wanted link; raises ValueError when something else is in its place."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISLNK(st.st_mode):
        raise ValueError("%s exists and is not a symbolic link; remove it and run again" % path)
    return "ok" if os.readlink(path) == src else "wrong"


def make_link(path, src):
    tmp = os.path.join(os.path.dirname(path), ".pydeploy-link-%d-%s" % (os.getpid(), os.path.basename(path)))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(src, tmp)
    os.replace(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str", "required": True},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str", "required": True},
                    "validate": {"type": "str"},
                },
            },
            "backup": {"type": "bool", "default": False},
            "links": {"type": "dict", "default": {}},
            "absent": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        planned = [plan_file(spec, module.check_mode) for spec in params["files"]]
        links = []
        for path, src in sorted(params["links"].items()):
            if not os.path.isabs(path):
                raise ValueError("link %s is not an absolute path" % path)
            links.append((path, src, link_state(path, src)))
        for path in params["absent"]:
            if os.path.isdir(path) and not os.path.islink(path):
                raise ValueError("%s is a directory; this module removes files and links only" % path)
    except ValueError as exc:
        module.fail_json(msg="files: %s" % exc)

    diffs = []
    for item in planned:
        if item["content_changed"]:
            diffs.append({"before_header": item["spec"]["dest"], "after_header": item["spec"]["dest"],
                          "before": to_text(item["old"], errors="surrogate_or_replace"),
                          "after": to_text(item["data"], errors="surrogate_or_replace")})
    for path, src, state in links:
        if state != "ok":
            diffs.append({"before_header": path, "after_header": path,
                          "before": "" if state == "missing" else "-> %s\n" % os.readlink(path), "after": "-> %s\n" % src})
    removed = [path for path in params["absent"] if os.path.lexists(path)]
    for path in removed:
        diffs.append({"before_header": path, "after_header": path, "before": "present\n", "after": "absent\n"})

    files_out = []
    if not module.check_mode:
        staged = []
        try:
            for item in planned:
                if item["content_changed"]:
                    staged.append((item, stage(item, module.run_command)))
        except (ValueError, OSError) as exc:
            for _item, tmp in staged:
                os.unlink(tmp)
            module.fail_json(msg="files: nothing was changed: %s" % exc)
        for item, tmp in staged:
            dest = item["spec"]["dest"]
            if params["backup"] and not item["created"]:
                item["backup_file"] = module.backup_local(dest)
            os.replace(tmp, dest)
        for item in planned:
            if item["attrs_changed"] and not item["content_changed"]:
                set_attrs(item["spec"]["dest"], item["uid"], item["gid"], item["mode"])
        for path, src, state in links:
            if state != "ok":
                make_link(path, src)
        for path in removed:
            os.unlink(path)
    for item in planned:
        out = {"dest": item["spec"]["dest"], "changed": item["content_changed"] or item["attrs_changed"],
               "created": item["created"]}
        if "backup_file" in item:
            out["backup_file"] = item["backup_file"]
        files_out.append(out)
    links_out = [{"path": path, "changed": state != "ok", "created": state == "missing"} for path, _src, state in links]
    changed = any(f["changed"] for f in files_out) or any(lk["changed"] for lk in links_out) or bool(removed)
    result = {"changed": changed, "files": files_out, "links": links_out, "removed": removed}
    if module._diff and diffs:  # pylint: disable=protected-access
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
