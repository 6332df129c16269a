# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd sandbox of an app's processes, defined once for unit files and for one-off runs."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

BASE = (
    "ProtectSystem=strict",
    "ProtectHome=true",
    "PrivateTmp=true",
    "PrivateDevices=true",
    "NoNewPrivileges=true",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "ProtectKernelTunables=true",
    "ProtectKernelModules=true",
    "ProtectKernelLogs=true",
    "ProtectControlGroups=true",
    "ProtectClock=true",
    "ProtectHostname=true",
    "ProtectProc=invisible",
    "ProcSubset=pid",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces=true",
    "RestrictRealtime=true",
    "RestrictSUIDSGID=true",
    "LockPersonality=true",
    "RemoveIPC=true",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources",
    "SystemCallErrorNumber=EPERM",
    "DevicePolicy=closed",
    "KeyringMode=private",
    "UMask=0027",
)


def sandbox(_value, writable=None, memory_deny_write_execute=True, chown=False):
    lines = list(BASE)
    for path in writable or []:
        if not str(path).startswith("/") or any(c in str(path) for c in " \n\t"):
            raise AnsibleFilterError("sandbox: writable paths must be absolute without spaces, got %r" % (path,))
        lines.append("ReadWritePaths=%s" % path)
    if chown:
        lines.append("SystemCallFilter=@chown")
    if memory_deny_write_execute:
        lines.append("MemoryDenyWriteExecute=true")
    return lines


class FilterModule:
    def filters(self):
        return {"sandbox": sandbox}
