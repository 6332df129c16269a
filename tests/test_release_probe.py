"""Unit tests for plugins/modules/release_probe.py: files by lstat, links never followed, which version command runs."""

import hashlib
import os
import subprocess
import sys

import pytest

import release_probe as mod

PIP_VERSION = [sys.executable, "-c", 'print(" pip 23.0.1 ")']


def run_command(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def params(path, **kwargs):
    """The module's parameters with its defaults, as AnsibleModule passes them."""
    out = {"path": str(path), "files": [], "checksum": [], "executable": None, "executable_version_args": [],
           "version_command": [], "complete_dirs": None}
    out.update(kwargs)
    return out


def program(path, text="#!/bin/sh\necho 'uv 0.13.9'\n", mode=0o755):
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_found_and_missing_files(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "uv.lock").mkdir()  # anything of that name counts, as it did for find with file_type any
    found = mod.probe(params(tmp_path, files=["uv.lock", "poetry.lock", "pyproject.toml"]), run_command)["files"]
    assert found == {
        "uv.lock": {"exists": True, "isreg": False, "islnk": False},
        "poetry.lock": {"exists": False, "isreg": False, "islnk": False},
        "pyproject.toml": {"exists": True, "isreg": True, "islnk": False},
    }


def test_a_link_is_reported_never_followed_or_hashed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("token\n")
    release = tmp_path / "release"
    release.mkdir()
    os.symlink(secret, release / "requirements.txt")
    os.symlink(tmp_path / "nowhere", release / "uv.lock")
    found = mod.probe(params(release, files=["uv.lock"], checksum=["requirements.txt"]), run_command)["files"]
    assert found["requirements.txt"] == {"exists": True, "isreg": False, "islnk": True}
    assert found["uv.lock"] == {"exists": True, "isreg": False, "islnk": True}  # dangling, still there


def test_sha256_of_a_requirements_file_in_a_subdirectory(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "prod.txt").write_text("flask==3.0.3\n")
    (tmp_path / "setup.py").write_text("")
    found = mod.probe(params(tmp_path, files=["setup.py"], checksum=["requirements/prod.txt", "requirements/dev.txt"]),
                      run_command)["files"]
    assert found["requirements/prod.txt"]["sha256"] == hashlib.sha256(b"flask==3.0.3\n").hexdigest()
    assert found["requirements/dev.txt"] == {"exists": False, "isreg": False, "islnk": False}
    assert "sha256" not in found["setup.py"]  # only names of checksum are hashed


def test_a_name_is_joined_as_the_role_joins_it(tmp_path):
    """A leading slash stays inside the release, a parent that is a file means no such file."""
    (tmp_path / "req.txt").write_text("x\n")
    found = mod.probe(params(tmp_path, checksum=["/req.txt", "req.txt/sub"]), run_command)["files"]
    assert found["/req.txt"]["isreg"] and not found["req.txt/sub"]["exists"]


def test_a_file_swapped_for_a_link_is_not_read(tmp_path):
    (tmp_path / "target").write_text("x\n")
    os.symlink(tmp_path / "target", tmp_path / "link")
    with pytest.raises(OSError):
        mod.sha256_of(str(tmp_path / "link"))


def test_executable(tmp_path):
    uv = program(tmp_path / "uv")
    plain = program(tmp_path / "plain", mode=0o644)
    assert mod.executable_state(uv) == {"exists": True, "executable": True}
    assert mod.executable_state(plain) == {"exists": True, "executable": False}
    assert mod.executable_state(str(tmp_path / "missing")) == {"exists": False, "executable": False}
    os.symlink(uv, tmp_path / "uv-link")  # followed, as running it would
    assert mod.executable_state(str(tmp_path / "uv-link")) == {"exists": True, "executable": True}
    assert mod.probe(params(tmp_path), run_command)["executable"] == {}  # not asked


@pytest.mark.parametrize("kind, argv", [
    ("runnable", "uv"),          # uv is there: its version
    ("not runnable", "pip"),     # a file that is no program: the other command
    ("missing", "pip"),
    (None, "pip"),               # executable not given (app_installer pip, or no app_uv_path)
])
def test_the_version_command_follows_the_executables_check(tmp_path, kind, argv):
    path = {"runnable": lambda: program(tmp_path / "uv"), "not runnable": lambda: program(tmp_path / "uv", mode=0o644),
            "missing": lambda: str(tmp_path / "uv"), None: lambda: None}[kind]()
    result = mod.probe(params(tmp_path, executable=path, executable_version_args=["--version"],
                              version_command=PIP_VERSION), run_command)
    if argv == "uv":
        assert result["version"] == "uv 0.13.9" and result["version_command"] == [path, "--version"]
    else:
        assert result["version"] == "pip 23.0.1" and result["version_command"] == PIP_VERSION
    assert result["changed"] is False


def test_no_version_command_reads_nothing(tmp_path):
    result = mod.probe(params(tmp_path), run_command)
    assert (result["version"], result["version_command"]) == ("", [])


def test_a_failing_version_command_fails_with_its_error_output(tmp_path):
    uv = program(tmp_path / "uv", "#!/bin/sh\necho 'error: broken install' >&2\nexit 3\n")
    with pytest.raises(ValueError, match=r"uv --version exited with 3: error: broken install"):
        mod.probe(params(tmp_path, executable=uv, executable_version_args=["--version"]), run_command)
    with pytest.raises(ValueError, match="could not start"):
        mod.read_version([str(tmp_path / "missing")], run_command)


def test_complete_dirs(tmp_path):
    venvs = tmp_path / "venvs"
    for name in ("req-a", "req-b", "lock-c"):
        (venvs / name).mkdir(parents=True)
    (venvs / "req-a" / ".pydeploy-complete").write_text("id\n")
    os.symlink("elsewhere", venvs / "lock-c" / ".pydeploy-complete")  # a link counts, as it did for stat
    (venvs / "stray-file").write_text("")
    complete = {"path": str(venvs), "marker": ".pydeploy-complete"}
    assert mod.probe(params(tmp_path, complete_dirs=complete), run_command)["complete"] == ["lock-c", "req-a"]
    missing = {"path": str(tmp_path / "none"), "marker": ".pydeploy-complete"}
    assert mod.probe(params(tmp_path, complete_dirs=missing), run_command)["complete"] == []
    assert mod.probe(params(tmp_path), run_command)["complete"] == []
