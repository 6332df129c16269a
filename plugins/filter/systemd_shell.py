# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.systemd_shell filter: a shell line as the value of a systemd ExecStart= setting."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: systemd_shell
short_description: The ExecStart= value that runs a shell line with /bin/sh, escaped for a systemd unit file
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - Returns C(/bin/sh -c "exec <command>"), escaped so that systemd hands the shell exactly the command given, the
    way a Procfile line is run. The shell then expands C($VARS) at run time, with the unit's environment (its
    C(EnvironmentFile=) included), and handles quotes, redirections and globs.
  - C(exec) makes the command the unit's main process, so systemd's stop signal reaches it and its exit status is
    the unit's. A command that already starts with C(exec) gets no second one.
  - 'In the unit file systemd would otherwise change the text: C(%) starts a specifier (written C(%%)), C($) an
    environment variable substitution by systemd itself (written C($$), so the shell, not systemd, expands it),
    C(\) an escape sequence and C(") ends the quoted argument (both escaped with C(\)).'
  - A command that is empty, spans several lines or holds another control character than a tab is an error.
options:
  _input:
    description: The shell command, for example C(celery -A proj worker --loglevel INFO).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: A unit that runs a worker through the shell
  ansible.builtin.copy:
    dest: /etc/systemd/system/myapp-worker.service
    content: |
      [Service]
      EnvironmentFile=/etc/myapp/env
      ExecStart={{ 'python worker.py --queue "$QUEUE" --rate 100%' | pydeploy.web.systemd_shell }}
    mode: "0644"
  # ExecStart=/bin/sh -c "exec python worker.py --queue \"$$QUEUE\" --rate 100%%"
"""

RETURN = r"""
_value:
  description: The value for C(ExecStart=), one line.
  type: str
  sample: /bin/sh -c "exec python worker.py --queue \"$$QUEUE\" --rate 100%%"
"""

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def systemd_shell(command):
    """/bin/sh -c "exec COMMAND", escaped for the unit file syntax of ExecStart=."""
    if not isinstance(command, str):
        raise AnsibleFilterError("systemd_shell: the command must be a string, got %s" % type(command).__name__)
    text = to_text(command).strip()
    if not text:
        raise AnsibleFilterError("systemd_shell: the command is empty")
    if _CONTROL.search(text):
        raise AnsibleFilterError("systemd_shell: the command must be one line without control characters, got %r" % text)
    if not re.match(r"exec\s", text):
        text = "exec " + text
    # Backslashes first: the escapes added for quotes must not be doubled.
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return '/bin/sh -c "%s"' % escaped


class FilterModule:  # pylint: disable=too-few-public-methods  # the interface Ansible loads
    """pydeploy.web systemd filters."""

    def filters(self):
        return {"systemd_shell": systemd_shell}
