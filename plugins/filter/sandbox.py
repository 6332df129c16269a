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


def _check_path(path, what):
    if not str(path).startswith("/") or any(c in str(path) for c in " \n\t"):
        raise AnsibleFilterError("sandbox_run: %s must be an absolute path without spaces, got %r" % (what, path))


def sandbox_run(unit, user, workdir, writable, env=None, env_file="", umask="", memory_deny_write_execute=True):
    """argv of systemd-run up to '--': a transient service as user, in the sandbox, that ends with its processes.

    The command's output and exit code come back through --pipe and --wait; when the command exits, systemd stops
    the unit and kills whatever it left in its control group (KillMode=control-group). env values reach the unit
    through --setenv (no secrets: they are visible on systemd-run's command line); env_file is read by systemd.
    """
    if not unit or any(c in str(unit) for c in " /\n\t") or str(unit).startswith("-"):
        raise AnsibleFilterError("sandbox_run: bad unit name %r" % (unit,))
    _check_path(workdir, "workdir")
    argv = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
            "--unit=%s" % unit, "--uid=%s" % user, "--gid=%s" % user,
            "--property=WorkingDirectory=%s" % workdir,
            # Whatever the command leaves running is killed when it exits, SIGKILL 10 s after SIGTERM.
            "--property=KillMode=control-group", "--property=TimeoutStopSec=10s"]
    if env_file:
        _check_path(env_file, "env_file")
        argv.append("--property=EnvironmentFile=%s" % env_file)
    for key, value in sorted((env or {}).items()):
        argv.append("--setenv=%s=%s" % (key, value))
    lines = sandbox(None, writable, memory_deny_write_execute=memory_deny_write_execute)
    if umask:
        lines = [line for line in lines if not line.startswith("UMask=")] + ["UMask=%s" % umask]
    argv += ["--property=" + line for line in lines]
    return argv + ["--"]


class FilterModule:
    def filters(self):
        return {"sandbox": sandbox, "sandbox_run": sandbox_run}
