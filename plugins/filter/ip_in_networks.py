# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.ip_in_networks filter: is an address inside any of a list of IPv4/IPv6 networks?"""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ip_in_networks
short_description: Whether an IPv4 or IPv6 address lies inside any of a list of networks
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - Tests CIDR containment with Python's C(ipaddress) module, so the collection needs no C(ansible.utils) (and no
    C(netaddr)) for it. IPv4 addresses are matched against IPv4 networks and IPv6 addresses against IPv6 networks;
    an IPv4-mapped IPv6 address (C(::ffff:192.0.2.1)) counts as its IPv4 address, and a zone (C(%eth0)) is ignored.
  - A network may have host bits set (C(192.0.2.7/24) means C(192.0.2.0/24)); a bare address is a /32 or /128.
  - An address or a network that does not parse is an error, naming the value.
options:
  _input:
    description: The address, such as the client part of C(SSH_CONNECTION).
    type: str
    required: true
  networks:
    description: Networks such as C(203.0.113.0/24) or C(2001:db8::/32).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Fail when the controller's address would be dropped
  ansible.builtin.assert:
    that: client_address | pydeploy.web.ip_in_networks(firewall_ssh_sources)
  vars:
    client_address: 203.0.113.7
    firewall_ssh_sources: ["203.0.113.0/24", "2001:db8::/32"]
"""

RETURN = r"""
_value:
  description: True when the address is inside at least one of the networks.
  type: bool
"""

import ipaddress

from ansible.errors import AnsibleFilterError


def _address(value):
    text = str(value).strip().split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise AnsibleFilterError("ip_in_networks: %r is not an IPv4 or IPv6 address" % (value,)) from None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _network(value):
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise AnsibleFilterError("ip_in_networks: %r is not an IPv4 or IPv6 network" % (value,)) from None


def ip_in_networks(address, networks):
    """True when address lies inside any of networks (IPv4 against IPv4, IPv6 against IPv6)."""
    if isinstance(networks, (str, bytes)):
        networks = [networks]
    addr = _address(address)
    return any(addr.version == net.version and addr in net for net in map(_network, networks))


class FilterModule:  # pylint: disable=too-few-public-methods  # the interface Ansible loads
    """pydeploy.web network filters."""

    def filters(self):
        return {"ip_in_networks": ip_in_networks}
