# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.api_url_problem filter: may an API token be sent to this URL?"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

DOCUMENTATION = r"""
---
name: api_url_problem
short_description: Why an API token may not be sent to a URL (empty when it may)
version_added: 0.3.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - A token goes only over https, or over plain http to a loopback address (C(127.0.0.0/8), C(::1), C(localhost)),
    where a local test double listens and no network carries it.
  - The URL must have a host and no user or password in it.
options:
  _input:
    description: The URL, such as C(https://api.digitalocean.com/v2).
    type: str
    required: true
  variable:
    description: The variable's name, for the message.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse to send the token in clear
  ansible.builtin.assert:
    that: pydeploy_do_api_url | pydeploy.web.api_url_problem('pydeploy_do_api_url') == ''
"""

RETURN = r"""
_value:
  description: The problem, naming the variable; empty when the URL may carry the token.
  type: str
"""


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_url_problem(url, variable):
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        parts.port  # pylint: disable=pointless-statement  # a bad port raises ValueError
    except ValueError:
        return "%s=%s is not a URL." % (variable, url)
    if not host or parts.username is not None or parts.password is not None:
        return "%s=%s must be an https URL with a host and no user or password in it." % (variable, url)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(host)):
        return ""
    return ("%s=%s would send the API token in clear: use https (plain http only to a loopback address such as "
            "127.0.0.1, for a local test double)." % (variable, url))


class FilterModule:
    def filters(self):
        return {"api_url_problem": api_url_problem}
