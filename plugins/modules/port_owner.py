#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: port_owner
short_description: Wait for a TCP listener and require that it belongs to a systemd unit
description:
  - Waits until something listens on O(port) (IPv4 or IPv6, any address), then requires that every listening socket
    on that port was made in the control group of O(unit) (or below it). A listener of any other process (another
    user's, another unit's) fails the module, naming the port and the listener's control group, so that the caller
    never sends it a request.
  - A socket's control group is that of the process that made it, kept for the socket's life (it does not follow a
    passed file descriptor); C(ss --cgroup) reads it from the kernel (sock_diag), so the module needs no access to
    other users' processes (a container without C(CAP_SYS_PTRACE) works too). Both it and the unit's C(ControlGroup)
    property are compared without the control group systemd itself runs in (a container's), as C(sd_pid_get_unit)
    does. Needs the unified (v2) cgroup hierarchy, alone or beside v1 (hybrid). Run it as root.
  - Fails early when O(unit) is inactive or failed (not when systemd is about to restart it) before anything
    listens, and after O(timeout) seconds when nothing listens.
  - Changes nothing; check mode runs it as well.
version_added: 0.3.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  port:
    description: The TCP port.
    type: int
    required: true
  unit:
    description: The systemd unit whose processes alone may listen on O(port), such as C(myapp@blue.service).
    type: str
    required: true
  timeout:
    description: Seconds to wait for a listener.
    type: int
    default: 30
  label:
    description: Names the setting the port comes from, in the failure message (such as C(myapp app_server_ports)).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Require that the web command of myapp@blue listens on its port
  pydeploy.web.port_owner:
    port: 18000
    unit: myapp@blue.service
    label: "myapp: app_server_ports"
"""

RETURN = r"""
listeners:
  description: The listening sockets on the port, each with its local address and control group, all in the unit.
  returned: success
  type: list
  elements: dict
  sample: [{"local": "127.0.0.1:18000", "cgroup": "/system.slice/system-myapp.slice/myapp@blue.service"}]
cgroup:
  description: The unit's control group, as systemd names it.
  returned: success
  type: str
  sample: /system.slice/system-myapp.slice/myapp@blue.service
"""

import re
import time

from ansible.module_utils.basic import AnsibleModule

CGROUP = re.compile(r"\scgroup:(\S+)")


def listeners(ss_output):
    """The listening sockets in the output of ss -Htln --cgroup: [{"local": address, "cgroup": path or None}]."""
    found = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        match = CGROUP.search(line)
        found.append({"local": fields[3], "cgroup": match.group(1) if match else None})
    return found


def cgroup_path(text):
    """The path systemd tracks a process by in the text of /proc/<pid>/cgroup: the unified (v2) hierarchy's, else
    (cgroup v1 without it) the name=systemd hierarchy's; None without either."""
    found = {}
    for line in text.splitlines():
        _num, _sep, rest = line.partition(":")
        controllers, _sep, path = rest.partition(":")
        found.setdefault(controllers, path)
    return found.get("", found.get("name=systemd"))


def shift(path, root):
    """path as systemd names it: without the cgroup systemd itself runs in (root, PID 1's without /init.scope)."""
    root = root.rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):] or "/"
    return path


def systemd_root(pid1_cgroup):
    path = cgroup_path(pid1_cgroup) or "/"
    if path.endswith("/init.scope"):
        path = path[:-len("/init.scope")]
    return path


def inside(path, unit_cgroup):
    return bool(path) and bool(unit_cgroup) and (path == unit_cgroup or path.startswith(unit_cgroup.rstrip("/") + "/"))


def strangers(found, unit_cgroup, root):
    """The listeners (from listeners()) whose control group, shifted by root, is not the unit's or below it."""
    unit_cgroup = shift(unit_cgroup, root) if unit_cgroup else ""
    return [item for item in found
            if not inside(shift(item["cgroup"], root) if item["cgroup"] else None, unit_cgroup)]


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def main():
    module = AnsibleModule(
        argument_spec={
            "port": {"type": "int", "required": True},
            "unit": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 30},
            "label": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    port, unit, label = module.params["port"], module.params["unit"], module.params["label"]
    what = "port %d%s" % (port, " (%s)" % label if label else "")
    systemctl = module.get_bin_path("systemctl", required=True)
    ss = module.get_bin_path("ss", required=True)
    root = systemd_root(read("/proc/1/cgroup"))
    deadline = time.monotonic() + module.params["timeout"]
    while True:
        rc, out, err = module.run_command([systemctl, "show", "--property=ActiveState,ControlGroup", unit])
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if rc == 0 else {}
        unit_cgroup = props.get("ControlGroup", "")
        rc, out, err = module.run_command([ss, "-Htln", "--cgroup", "sport = :%d" % port])
        if rc != 0:
            module.fail_json(msg="%s: ss --cgroup failed: %s" % (what, err.strip()))
        found = listeners(out)
        if found:
            others = strangers(found, unit_cgroup, root)
            if others:
                module.fail_json(
                    msg="%s: a listener outside %s holds it, so %s gets no request: %s" % (
                        what, unit, unit, ", ".join("%s in %s" % (item["local"], item["cgroup"] or "an unknown control group")
                                                    for item in others)),
                    listeners=found, cgroup=unit_cgroup)
            module.exit_json(changed=False, listeners=found, cgroup=unit_cgroup)
        if props.get("ActiveState", "inactive") in ("inactive", "failed"):
            module.fail_json(msg="%s: %s stopped before anything listened on the port" % (what, unit),
                             listeners=[], cgroup=unit_cgroup)
        if time.monotonic() >= deadline:
            module.fail_json(msg="%s: nothing listens there %d s after %s started" % (
                what, module.params["timeout"], unit), listeners=[], cgroup=unit_cgroup)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
