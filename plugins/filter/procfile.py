# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.procfile filter: the process types of a Procfile."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: procfile
short_description: Read a Procfile into a mapping of process type to command
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - 'Parses the Heroku Procfile format, one C(name: command) per line. The name is made of letters, digits, C(_) and
    C(-); the command is the rest of the line, with the spaces around it removed.'
  - Blank lines and lines starting with C(#) are ignored.
  - 'A line that is not C(name: command) (no colon, an empty command, a name with other characters) and a name defined
    twice are errors that give the line number.'
options:
  _input:
    description: The Procfile's text, for example from the P(ansible.builtin.file#lookup) lookup.
    type: str
    required: true
  exclude:
    description:
      - Process types to leave out of the result, for example V(web), which the web server runs.
      - Their lines are still checked.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: The app's processes from the Procfile in its repository, without the web line
  ansible.builtin.set_fact:
    app_processes: "{{ lookup('ansible.builtin.file', 'myapp/Procfile') | pydeploy.web.procfile(exclude=['web']) }}"
  # web: gunicorn app:app
  # worker: celery -A app worker --loglevel INFO
  # -> {"worker": "celery -A app worker --loglevel INFO"}
"""

RETURN = r"""
_value:
  description: Each process type's command, by name.
  type: dict
  sample: {worker: "celery -A app worker --loglevel INFO", clock: "python clock.py"}
"""

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(\S.*)$")


def procfile(text, exclude=None):
    """Process type -> command, in the order of the file."""
    if not isinstance(text, (str, bytes)):
        raise AnsibleFilterError("procfile: expected the Procfile's text, got %s" % type(text).__name__)
    skip = set(exclude or [])
    found = {}
    first_line = {}
    for number, raw in enumerate(to_text(text).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise AnsibleFilterError("procfile: line %d is not 'name: command': %r" % (number, raw))
        name, command = match.group(1), match.group(2).strip()
        if name in first_line:
            raise AnsibleFilterError("procfile: line %d defines %r again (first defined on line %d): %r"
                                     % (number, name, first_line[name], raw))
        first_line[name] = number
        if name not in skip:
            found[name] = command
    return found


class FilterModule:  # pylint: disable=too-few-public-methods  # the interface Ansible loads
    """pydeploy.web Procfile filter."""

    def filters(self):
        return {"procfile": procfile}
