"""The app role's choice of dependency file and installer, its messages, and the virtualenv's name.

These are Jinja expressions in roles/app/vars/main.yml, rendered here by Ansible's own templar with the registered
result of build.yml's release_probe (the release's files, uv at app_uv_path, the installer's version) and uv export.
"""

from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[1]

LOCKED = "flask==3.0.3 \\\n    --hash=sha256:aaa\nwerkzeug==3.1.9 \\\n    --hash=sha256:bbb\n"


def trusted(obj):
    """Variables as Ansible loads them from a role: templates are trusted."""
    if isinstance(obj, str):
        return trust_as_template(obj)
    if isinstance(obj, dict):
        return {k: trusted(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [trusted(v) for v in obj]
    return obj


def probe(files=(), requirements=False, uv="present", version="uv 0.13.9 (x86_64-unknown-linux-gnu)"):
    """release_probe's result for a release holding `files` (and requirements.txt), with uv present, absent or unset."""
    names = ["uv.lock", "poetry.lock", "pyproject.toml", "setup.py"]
    found = {name: {"exists": name in files, "isreg": name in files, "islnk": False} for name in names}
    found["requirements.txt"] = {"exists": requirements, "isreg": requirements, "islnk": False,
                                 **({"sha256": "c0ffee"} if requirements else {})}
    executable = {"present": {"exists": True, "executable": True}, "absent": {"exists": False, "executable": False}}
    return {"files": found, "executable": executable.get(uv, {}), "version": version, "complete": []}


def render(expr, files=(), requirements=False, uv="present", **inputs):
    """Render expr with the role's defaults and vars, the release holding `files`, and uv present, absent or unset."""
    loader = DataLoader()
    variables = {
        **trusted(loader.load_from_file(str(ROOT / "roles/app/defaults/main.yml"))),
        **trusted(loader.load_from_file(str(ROOT / "roles/app/vars/main.yml"))),
        "app_name": "hello",
        "app_uv_path": "/opt/pydeploy/uv/bin/uv",
        "ansible_facts": {"python_version": "3.11.2"},
        "__app_release_id": "0123456789ab-cafef00d",
        "__app_probe": probe(files, requirements, uv),
        "__app_uv_export": {"stdout": LOCKED},
        **inputs,
    }
    return Templar(loader=loader, variables=variables).template(trust_as_template(expr))


@pytest.mark.parametrize("files, requirements, kind", [
    (["uv.lock", "pyproject.toml", "poetry.lock"], True, "uv"),      # uv.lock first
    (["uv.lock"], True, "requirements"),                             # uv.lock needs its pyproject.toml
    (["poetry.lock", "pyproject.toml"], True, "poetry"),             # then poetry.lock, over requirements.txt
    (["pyproject.toml"], True, "requirements"),                      # then the requirements file
    (["pyproject.toml"], False, "none"),                             # then the project itself
    (["setup.py"], False, "none"),
])
def test_auto_takes_the_first_pinning_file(files, requirements, kind):
    assert render("{{ __app_deps_kind }}", files, requirements) == kind
    assert render("{{ __app_deps_problem }}", files, requirements) in (None, "")


def test_app_lockfile_overrides_the_order():
    both = ["uv.lock", "pyproject.toml"]
    assert render("{{ __app_deps_kind }}", both, True, app_lockfile="requirements") == "requirements"
    assert render("{{ __app_deps_kind }}", both, True, app_lockfile="none") == "none"


@pytest.mark.parametrize("lockfile, files, requirements, message", [
    ("poetry", ["pyproject.toml"], True, "app_lockfile is poetry, but the release has no poetry.lock."),
    ("uv", ["uv.lock"], False, "app_lockfile is uv, but the release has no uv.lock and pyproject.toml."),
    ("requirements", ["pyproject.toml"], False, "app_lockfile is requirements, but the release has no requirements.txt."),
    ("auto", ["README.md"], False, "The release has nothing to install: no uv.lock, poetry.lock, requirements.txt"),
])
def test_a_missing_file_is_named(lockfile, files, requirements, message):
    assert render("{{ __app_deps_problem }}", files, requirements, app_lockfile=lockfile).startswith(message)


@pytest.mark.parametrize("installer, uv, effective", [
    ("auto", "present", "uv"),
    ("auto", "absent", "pip"),   # app_uv_path set, no uv there (deploy.yml before site.yml installed it)
    ("auto", "unset", "pip"),    # app_uv_path empty: the probe does not check it
    ("pip", "present", "pip"),
    ("uv", "present", "uv"),
])
def test_installer(installer, uv, effective):
    assert render("{{ __app_installer_effective }}", ["pyproject.toml"], True, uv=uv, app_installer=installer) == effective


def test_uv_lock_without_uv_and_app_installer_uv_without_uv_fail_with_the_reason():
    lock = ["uv.lock", "pyproject.toml"]
    msg = render("{{ __app_deps_problem }}", lock, uv="absent")
    assert msg.startswith('The release pins its dependencies in uv.lock, which needs uv (no uv at app_uv_path "/opt/pydeploy/uv/bin/uv").')
    assert "app_installer is pip" in render("{{ __app_deps_problem }}", lock, uv="unset", app_installer="pip")
    msg = render("{{ __app_deps_problem }}", ["pyproject.toml"], True, uv="absent", app_installer="uv")
    assert msg.startswith('app_installer is uv, but app_uv_path ("/opt/pydeploy/uv/bin/uv") is not a program')


def test_the_virtualenv_is_named_after_everything_installed():
    lock = ["uv.lock", "pyproject.toml"]
    base = render("{{ __app_venv_name }}", lock)
    assert base.startswith("lock-") and len(base) == len("lock-") + 16
    assert render("{{ __app_venv_name }}", lock) == base  # equal inputs share it
    changed = {
        "locked set": render("{{ __app_venv_name }}", lock, __app_uv_export={"stdout": LOCKED.replace("3.1.9", "3.1.8")}),
        "python": render("{{ __app_venv_name }}", lock, ansible_facts={"python_version": "3.11.4"}),
        "installer version": render("{{ __app_venv_name }}", lock, __app_probe=probe(lock, version="uv 0.13.10")),
        "installer": render("{{ __app_venv_name }}", lock, __app_probe=probe(lock, version="pip 23.0.1")),
        "packages": render("{{ __app_venv_name }}", lock, app_server_packages=["gunicorn>=23.0.0"]),
    }
    for what, name in changed.items():
        assert name.startswith("lock-") and name != base, what
    assert len(set(changed.values())) == len(changed)
    # The commit, the release id and the app's own version are not inputs: a code-only release reuses the venv.
    assert render("{{ __app_venv_name }}", lock, __app_release_id="fedcba987654-cafef00d") == base


def test_requirements_and_project_names():
    req = render("{{ __app_venv_name }}", ["pyproject.toml"], True)
    other = probe(["pyproject.toml"], True)
    other["files"]["requirements.txt"]["sha256"] = "beef"
    assert req.startswith("req-")
    assert req != render("{{ __app_venv_name }}", ["pyproject.toml"], True, __app_probe=other)
    assert render("{{ __app_venv_name }}", ["pyproject.toml"], False) == "rel-0123456789ab-cafef00d"


def test_installer_settings_are_build_inputs():
    inputs = render("{{ __app_build_inputs }}", app_installer="pip", app_lockfile="poetry")
    assert inputs["installer"] == "pip" and inputs["lockfile"] == "poetry"


def test_existing_virtualenvs_keep_their_names():
    """Pinned names: a change to the expression would rebuild every host's virtualenvs. They changed once on purpose,
    with layout 2 (root's record of sealed virtualenvs): a virtualenv sealed before it is never trusted."""
    assert render("{{ __app_venv_name }}", ["uv.lock", "pyproject.toml"]) == "lock-ccc79388b4629202"
    assert render("{{ __app_venv_name }}", ["pyproject.toml"], True) == "req-ce3163f30428382e"
    pip = probe(["pyproject.toml"], True, uv="absent", version="pip 23.0.1")
    name = render("{{ __app_venv_name }}", app_server_packages=["gunicorn>=23.0.0"], __app_probe=pip)
    assert name == "req-f46129fc8edf0164"


def test_a_link_counts_as_found_like_a_file():
    """find (file_type any) and stat (not following links) found links too; the probe's exists keeps that."""
    found = probe(["pyproject.toml"])
    found["files"]["uv.lock"] = {"exists": True, "isreg": False, "islnk": True}
    assert render("{{ __app_deps_kind }}", __app_probe=found) == "uv"
