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
  - Waits until something listens on O(port) (IPv4 or IPv6, any address), then requires that every process holding
    a listening socket on that port runs in the control group of O(unit) (or below it). A listener of any other
    process (another user's, another unit's) fails the module, naming the port, the processes and their units, so
    that the caller never sends it a request.
  - The processes are found from C(/proc/net/tcp), C(/proc/net/tcp6) and the sockets in C(/proc/<pid>/fd); their
    control groups from C(/proc/<pid>/cgroup) and the unit's from its C(ControlGroup) property, both without the
    control group systemd itself runs in (a container's, as C(sd_pid_get_unit) does). Run it as root.
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
pids:
  description: The processes listening on the port, all in the unit.
  returned: success
  type: list
  elements: int
  sample: [4242, 4250]
cgroup:
  description: The unit's control group, as systemd names it.
  returned: success
  type: str
  sample: /system.slice/system-myapp.slice/myapp@blue.service
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

LISTEN = "0A"
SOCKET_LINK = re.compile(r"^socket:\[(\d+)\]$")


def listening_inodes(tables, port):
    """The socket inodes of the LISTEN rows for port in the texts of /proc/net/tcp and /proc/net/tcp6."""
    inodes = set()
    for text in tables:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port and inode != "0":
                inodes.add(inode)
    return inodes


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
    return bool(unit_cgroup) and (path == unit_cgroup or path.startswith(unit_cgroup.rstrip("/") + "/"))


def strangers(owners, unit_cgroup):
    """{pid: cgroup} of the owners (pid -> shifted cgroup) outside the unit's cgroup."""
    return {pid: path for pid, path in owners.items() if not inside(path, unit_cgroup)}


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def owners_of(inodes, root, proc="/proc"):
    """{pid: shifted cgroup} of every process that holds one of the socket inodes."""
    found = {}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        fd_dir = os.path.join(proc, name, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            match = SOCKET_LINK.match(target)
            if match and match.group(1) in inodes:
                found[int(name)] = shift(cgroup_path(read(os.path.join(proc, name, "cgroup"))) or "?", root)
                break
    return found


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
    root = systemd_root(read("/proc/1/cgroup"))
    deadline = time.monotonic() + module.params["timeout"]
    while True:
        rc, out, err = module.run_command([systemctl, "show", "--property=ActiveState,ControlGroup", unit])
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if rc == 0 else {}
        unit_cgroup = shift(props["ControlGroup"], root) if props.get("ControlGroup") else ""
        inodes = listening_inodes([read("/proc/net/tcp"), read("/proc/net/tcp6")], port)
        owners = owners_of(inodes, root) if inodes else {}
        if owners:
            others = strangers(owners, unit_cgroup)
            if others:
                module.fail_json(
                    msg="%s: a process outside %s listens there, so %s gets no request: %s" % (
                        what, unit, unit, ", ".join("pid %d in %s" % item for item in sorted(others.items()))),
                    pids=sorted(owners), cgroup=unit_cgroup)
            module.exit_json(changed=False, pids=sorted(owners), cgroup=unit_cgroup)
        if props.get("ActiveState", "inactive") in ("inactive", "failed"):
            module.fail_json(msg="%s: %s stopped before anything listened on the port%s" % (
                what, unit, (": " + err.strip()) if err.strip() else ""), pids=[], cgroup="")
        if time.monotonic() >= deadline:
            module.fail_json(msg="%s: nothing listens there %d s after %s started" % (
                what, module.params["timeout"], unit), pids=[], cgroup=unit_cgroup)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
