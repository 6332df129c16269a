#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_log
short_description: Append one line to a pydeploy.web deploy log
description:
  - Appends a line (UTC time first, then C(key=value) fields in the given order) to an append-only log file.
  - Opens the file with C(O_APPEND) and never rewrites it, unlike M(ansible.builtin.lineinfile), so earlier lines
    are never lost or de-duplicated.
  - Opens it with C(O_NOFOLLOW) and writes only to a regular file; a symbolic link, a FIFO or a device at O(path)
    fails the module, and nothing is written through it.
  - Values with spaces or quotes are written JSON-quoted; only the first line of a value is kept.
version_added: 0.1.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  path:
    description: The log file. Created when missing.
    type: path
    required: true
  fields:
    description: "Ordered list of single-key dicts, for example C([{user: alice}, {result: deployed}])."
    type: list
    elements: dict
    required: true
extends_documentation_fragment: [ansible.builtin.files]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports the line it would append and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Always reports a change, since every call appends a line.
seealso:
  - module: ansible.builtin.lineinfile
  - module: pydeploy.web.releases
"""

EXAMPLES = r"""
- name: Record the deploy
  pydeploy.web.deploy_log:
    path: /srv/myapp/deploys.log
    fields:
      - user: alice
      - release: 0123456789ab
      - result: deployed
    owner: root
    group: myapp
    mode: "0640"

- name: Record a failed deploy with the reason (only its first line is kept)
  pydeploy.web.deploy_log:
    path: /srv/myapp/deploys.log
    fields:
      - user: "{{ lookup('ansible.builtin.env', 'USER') }}"
      - version: "{{ myapp_version }}"
      - result: failed
      - reason: "{{ ansible_failed_result.msg | default('unknown') }}"
"""

RETURN = r"""
line:
  description: The line written (or that would be written in check mode), without the newline.
  returned: always
  type: str
  sample: 2026-11-22T05:00:00Z user=alice release=0123456789ab result=deployed
"""

import errno
import json
import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule

MAX_VALUE = 300


def format_value(value):
    text = "" if value is None else str(value)
    text = (text.strip().splitlines() or [""])[0].strip()[:MAX_VALUE]
    if text == "" or any(c in text for c in ' "=\\'):
        return json.dumps(text)
    return text


def format_line(fields, now=None):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    parts = [stamp]
    for item in fields:
        for key, value in item.items():
            parts.append("%s=%s" % (key, format_value(value)))
    return " ".join(parts)


def append_line(path, line):
    """Append line to the regular file path, never through a symbolic link (O_NOFOLLOW: ELOOP), a FIFO or a device."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "fields": {"type": "list", "elements": "dict", "required": True},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    line = format_line(module.params["fields"])
    if not module.check_mode:
        try:
            append_line(path, line)
        except OSError as exc:
            module.fail_json(msg="deploy_log: cannot append to %s: %s" % (path, exc))
        file_args = module.load_file_common_arguments(module.params)
        module.set_fs_attributes_if_different(file_args, False)
    module.exit_json(changed=True, line=line)


if __name__ == "__main__":
    main()
