# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection reads from systemctl: shared by the releases module and the systemd_show filter."""

from __future__ import annotations


def parse_show(output):
    """systemctl show of several units (one block of Key=Value lines per unit, a blank line between) as
    {Id: {property: value}}. ValueError for a block without Id= (ask systemctl show for --property=Id,...)."""
    units = {}
    for block in output.strip().split("\n\n"):
        if not block.strip():
            continue
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" not in props:
            raise ValueError("a block of systemctl show has no Id= line; ask for --property=Id,...")
        units[props["Id"]] = props
    return units
