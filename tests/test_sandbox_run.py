"""The sandbox_run filter: the systemd-run command line of a build step, as systemd-run will read it."""

import importlib.util
import pathlib

import pytest
from ansible.errors import AnsibleFilterError

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pydeploy_sandbox", ROOT / "plugins/filter/sandbox.py")
sandbox = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sandbox)

REL = "/srv/app/releases/r1"


def props(argv):
    return [a[len("--property="):] for a in argv if a.startswith("--property=")]


def test_a_build_unit_waits_pipes_and_kills_what_it_leaves():
    argv = sandbox.sandbox_run("app-build", "app", REL, [REL, "/srv/app/.cache"], env={"HOME": "/srv/app"})
    assert argv[:6] == ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec"]
    assert argv[-1] == "--"
    assert "--unit=app-build" in argv and "--uid=app" in argv and "--gid=app" in argv
    p = props(argv)
    assert "KillMode=control-group" in p
    assert "WorkingDirectory=" + REL in p
    assert {"ProtectSystem=strict", "PrivateTmp=true", "NoNewPrivileges=true", "RestrictSUIDSGID=true"} <= set(p)
    assert [x for x in p if x.startswith("ReadWritePaths=")] == ["ReadWritePaths=" + REL, "ReadWritePaths=/srv/app/.cache"]
    assert "--setenv=HOME=/srv/app" in argv
    assert not any(x.startswith("EnvironmentFile=") for x in p)


def test_env_file_umask_and_memory_options():
    argv = sandbox.sandbox_run("app-release-command", "app", REL, [REL], env_file="/etc/pydeploy/app/env", umask="0022",
                               memory_deny_write_execute=False)
    p = props(argv)
    assert "EnvironmentFile=/etc/pydeploy/app/env" in p
    assert [x for x in p if x.startswith("UMask=")] == ["UMask=0022"]
    assert "MemoryDenyWriteExecute=true" not in p
    assert "MemoryDenyWriteExecute=true" in props(sandbox.sandbox_run("u", "app", REL, []))


@pytest.mark.parametrize("unit, workdir, writable", [
    ("bad unit", REL, []), ("-x", REL, []), ("ok", "relative", []), ("ok", REL, ["/with space"]),
])
def test_bad_arguments_are_refused(unit, workdir, writable):
    with pytest.raises(AnsibleFilterError):
        sandbox.sandbox_run(unit, "app", workdir, writable)
