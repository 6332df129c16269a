# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.systemd_show filter: the output of one systemctl show of several units, unit by unit."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: systemd_show
short_description: The properties of each unit from one C(systemctl show) of several units
version_added: 0.3.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - C(systemctl show --property=Id,... -- unit1 unit2 ...) prints one block of C(Key=Value) lines per unit, with a
    blank line between blocks. This filter returns a dictionary from each unit's C(Id) to its properties, so one
    command reads the state of many units where M(ansible.builtin.systemd_service) takes one run per unit.
  - Ask for C(Id) among the properties. A block without C(Id) is an error.
options:
  _input:
    description: The standard output of C(systemctl show).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Read the state of two workers and a timer in one run
  ansible.builtin.command:
    argv: [systemctl, show, "--property=Id,ActiveState,SubState,NRestarts", --,
           myapp-worker@1.service, myapp-worker@2.service, myapp-report.timer]
  register: myapp_show
  changed_when: false

- name: Show the workers that are not active
  ansible.builtin.debug:
    msg: "{{ myapp_show.stdout | pydeploy.web.systemd_show | dict2items | rejectattr('value.ActiveState', 'eq', 'active')
             | map(attribute='key') | list }}"
"""

RETURN = r"""
_value:
  description: Each unit's C(Id) to a dictionary of the properties printed for it, all values strings.
  type: dict
  sample:
    myapp-worker@1.service: {Id: myapp-worker@1.service, ActiveState: active, SubState: running, NRestarts: "0"}
    myapp-report.timer: {Id: myapp-report.timer, ActiveState: active, SubState: waiting, NRestarts: "0"}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.pydeploy.web.plugins.module_utils.systemd import parse_show


def systemd_show(output):
    """{Id: {property: value}} from systemctl show's blocks."""
    if not isinstance(output, str):
        raise AnsibleFilterError("systemd_show: expects the text systemctl show printed, got %s" % type(output).__name__)
    try:
        return parse_show(output)
    except ValueError as exc:
        raise AnsibleFilterError("systemd_show: %s" % exc) from None


class FilterModule:  # pylint: disable=too-few-public-methods  # the interface Ansible loads
    """pydeploy.web systemctl show filter."""

    def filters(self):
        return {"systemd_show": systemd_show}
