# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.backend_address_problem filter: why a value cannot be an upstream address in nginx (or "")."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: backend_address_problem
short_description: Why a value is not an IPv4 address, an IPv6 address or a host name nginx may connect to
version_added: 0.3.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - Returns an empty string when the value is an IPv4 address in dotted-quad form, an IPv6 address (without a zone,
    brackets or a prefix length) or a host name made of letters, digits and hyphens in dot-separated labels of at
    most 63 characters (253 in all, a final dot allowed, the last label not all digits), else the reason.
  - Such a value can be written into an nginx C(server) or C(proxy_pass) line as it is (an IPv6 address in
    brackets), and nothing else can (no C(;), space, quote, brace, C(unix:) path, port or URL).
options:
  _input:
    description: The address, such as C(pydeploy_private_ip) or a host's C(ansible_default_ipv4.address).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse an address that would break or rewrite the balancer's configuration
  ansible.builtin.assert:
    that: (item.address | pydeploy.web.backend_address_problem) == ""
  loop: "{{ lb_backends }}"
"""

RETURN = r"""
_value:
  description: Empty when the value is a valid address or host name, else why it is not.
  type: str
"""

import ipaddress
import re

_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def backend_address_problem(value):
    """"" when value is an IPv4/IPv6 literal or a strict host name, else the reason."""
    if isinstance(value, bool) or not isinstance(value, str):
        return "is not a string"
    if value == "":
        return "is empty"
    if ":" in value:
        if "%" in value:
            return "is an IPv6 address with a zone, which nginx cannot connect to"
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return "is not an IPv6 address (give it without brackets, zone, prefix or port)"
        return ""
    if re.fullmatch(r"[0-9.]+", value):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return "is not an IPv4 address (four numbers 0-255, no leading zeros)"
        return ""
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        return "is longer than 253 characters"
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return "is not a host name (dot-separated labels of letters, digits and inner hyphens, 1-63 characters each)"
    if labels[-1].isdigit():
        return "is neither an IPv4 address nor a host name (its last label is all digits)"
    return ""


class FilterModule:  # pylint: disable=too-few-public-methods  # the interface Ansible loads
    """pydeploy.web address filters."""

    def filters(self):
        return {"backend_address_problem": backend_address_problem}
