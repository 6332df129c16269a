"""Unit tests for the pydeploy.web.poetry_requirements filter (the app role installs a poetry.lock with it)."""

import importlib.util
import pathlib
import textwrap

import pytest
from ansible.errors import AnsibleFilterError
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pydeploy_poetry_requirements", ROOT / "plugins/filter/poetry_requirements.py")
flt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(flt)
poetry_requirements = flt.FilterModule().filters()["poetry_requirements"]

# Written by Poetry 2.5.1 (`poetry lock`) for molecule/default/tests/test_lockfiles.py: flask locked at 3.0.3 while
# pyproject.toml allows any flask >= 3.0, pytest in the dev group.
REAL_LOCK = ROOT / "molecule/default/tests/lockfiles/poetry/poetry.lock"


def lock(packages, version="2.1"):
    return textwrap.dedent(packages) + '\n[metadata]\nlock-version = "%s"\npython-versions = ">=3.9"\ncontent-hash = "0"\n' % version


def requirements(text):
    """The requirement lines (continuations joined, hash options and comments dropped), as parsed by packaging."""
    logical = text.replace("\\\n", " ").splitlines()
    reqs = []
    for line in logical:
        line = line.split(" --hash=")[0].strip()
        if line and not line.startswith(("#", "--")):
            reqs.append(Requirement(line))
    return reqs


MAIN_AND_DEV = lock('''
    [[package]]
    name = "flask"
    version = "3.0.3"
    optional = false
    groups = ["main"]
    files = [
        {file = "flask-3.0.3-py3-none-any.whl", hash = "sha256:aaa"},
        {file = "flask-3.0.3.tar.gz", hash = "sha256:bbb"},
    ]

    [[package]]
    name = "colorama"
    version = "0.4.6"
    optional = false
    groups = ["main", "dev"]
    files = [{file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:ccc"}]
    markers = {main = "platform_system == \\"Windows\\"", dev = "sys_platform == \\"win32\\""}

    [[package]]
    name = "pytest"
    version = "8.4.2"
    optional = false
    groups = ["dev"]
    files = [{file = "pytest-8.4.2-py3-none-any.whl", hash = "sha256:ddd"}]

    [[package]]
    name = "zipp"
    version = "3.23.1"
    optional = false
    groups = ["main"]
    markers = "python_version == \\"3.9\\""
    files = [{file = "zipp-3.23.1-py3-none-any.whl", hash = "sha256:eee"}]

    [[package]]
    name = "redis"
    version = "5.0.0"
    optional = true
    groups = ["main"]
    files = [{file = "redis-5.0.0-py3-none-any.whl", hash = "sha256:fff"}]
''')


def test_main_group_pinned_with_markers_and_hashes():
    text = poetry_requirements(MAIN_AND_DEV)
    reqs = {r.name: r for r in requirements(text)}
    # Only the main group: pytest is dev-only, redis is optional (an extra), neither is installed.
    assert sorted(reqs) == ["colorama", "flask", "zipp"]
    assert all(str(r.specifier) == "==" + v for r, v in zip(
        (reqs["colorama"], reqs["flask"], reqs["zipp"]), ("0.4.6", "3.0.3", "3.23.1")))
    # A package in two groups takes the main group's marker, not dev's.
    assert str(reqs["colorama"].marker) == 'platform_system == "Windows"'
    assert str(reqs["zipp"].marker) == 'python_version == "3.9"'
    assert reqs["flask"].marker is None
    assert "flask==3.0.3 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb\n" in text
    assert "sha256:ddd" not in text and "sha256:fff" not in text


def test_without_hashes_for_pip():
    text = poetry_requirements(MAIN_AND_DEV, hashes=False)
    assert "--hash" not in text
    assert "flask==3.0.3\n" in text


def test_markers_are_evaluated_by_the_installer():
    reqs = {r.name: r for r in requirements(poetry_requirements(MAIN_AND_DEV))}
    assert reqs["zipp"].marker.evaluate({"python_version": "3.9"})
    assert not reqs["zipp"].marker.evaluate({"python_version": "3.11"})
    assert not reqs["colorama"].marker.evaluate({"platform_system": "Linux"})


def test_a_main_package_without_a_main_marker_is_always_needed():
    text = poetry_requirements(lock('''
        [[package]]
        name = "six"
        version = "1.17.0"
        optional = false
        groups = ["main", "dev"]
        markers = {dev = "python_version < \\"3.10\\""}
        files = []
    '''))
    assert requirements(text)[0].marker is None


def test_git_url_and_other_index_sources():
    text = poetry_requirements(lock('''
        [[package]]
        name = "mylib"
        version = "1.2.0"
        optional = false
        groups = ["main"]
        files = []

        [package.source]
        type = "git"
        url = "https://git.example.com/me/mylib.git"
        reference = "main"
        resolved_reference = "0123456789abcdef0123456789abcdef01234567"
        subdirectory = "python"

        [[package]]
        name = "wheelonly"
        version = "0.1"
        optional = false
        groups = ["main"]
        files = [{file = "wheelonly-0.1-py3-none-any.whl", hash = "sha256:abc"}]

        [package.source]
        type = "url"
        url = "https://files.example.com/wheelonly-0.1-py3-none-any.whl"

        [[package]]
        name = "torch"
        version = "2.5.0"
        optional = false
        groups = ["main"]
        files = [{file = "torch-2.5.0-cp311-none-linux_x86_64.whl", hash = "sha256:t"}]

        [package.source]
        type = "legacy"
        url = "https://download.example.com/whl/cpu/"
        reference = "cpu"

        [[package]]
        name = "numpy"
        version = "2.0.0"
        optional = false
        groups = ["main"]
        files = [{file = "numpy-2.0.0.tar.gz", hash = "sha256:n"}]

        [package.source]
        type = "legacy"
        url = "https://pypi.org/simple/"
        reference = "pypi-simple"
    '''))
    assert "mylib @ git+https://git.example.com/me/mylib.git@0123456789abcdef0123456789abcdef01234567#subdirectory=python\n" in text
    assert "wheelonly @ https://files.example.com/wheelonly-0.1-py3-none-any.whl \\\n    --hash=sha256:abc" in text
    # A package index other than PyPI becomes one --extra-index-url line; PyPI's own simple index none.
    assert text.count("--extra-index-url") == 1
    assert "--extra-index-url https://download.example.com/whl/cpu\n" in text
    assert "numpy==2.0.0" in text and "torch==2.5.0" in text
    assert {r.name for r in requirements(text)} == {"mylib", "wheelonly", "torch", "numpy"}


@pytest.mark.parametrize("source, message", [
    ('type = "directory"\nurl = "libs/mylib"', "mylib (directory libs/mylib)"),
    ('type = "file"\nurl = "dist/mylib-1.0.tar.gz"', "mylib (file dist/mylib-1.0.tar.gz)"),
    ('type = "legacy"\nurl = "https://deploy:s3cret@pypi.example.com/simple"\nreference = "private"', "credentials"),
])
def test_sources_a_shared_virtualenv_cannot_take_are_refused(source, message):
    text = lock('''
        [[package]]
        name = "mylib"
        version = "1.0"
        optional = false
        groups = ["main"]
        files = []

        [package.source]
        %s
    ''' % source.replace("\n", "\n        "))
    with pytest.raises(AnsibleFilterError, match="poetry.lock: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        poetry_requirements(text)


def test_a_poetry_1_lock_is_refused_with_the_way_out():
    old = lock('''
        [[package]]
        name = "flask"
        version = "3.0.3"
        category = "main"
        optional = false
        python-versions = ">=3.8"
    ''', version="2.0")
    with pytest.raises(AnsibleFilterError, match=r"lock-version 2\.0 records no dependency groups.*app_lockfile: requirements"):
        poetry_requirements(old)


@pytest.mark.parametrize("text, message", [
    ("[[package]\nname = ", "not valid TOML"),
    (lock('[[package]]\nname = "../evil"\nversion = "1"\ngroups = ["main"]\n'), "no valid name"),
    (lock('[[package]]\nname = "ok"\nversion = "1 ; os_name"\ngroups = ["main"]\n'), "no valid version"),
])
def test_bad_locks_are_errors(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        poetry_requirements(text)


def test_the_lock_poetry_wrote():
    text = poetry_requirements(REAL_LOCK.read_text())
    reqs = {r.name: r for r in requirements(text)}
    assert str(reqs["flask"].specifier) == "==3.0.3"  # pyproject.toml allows flask>=3.0; the lock says 3.0.3
    assert "pytest" not in reqs and "iniconfig" not in reqs and "pluggy" not in reqs  # the dev group
    assert reqs["importlib-metadata"].marker.evaluate({"python_version": "3.9"})
    assert not reqs["importlib-metadata"].marker.evaluate({"python_version": "3.11"})
    # The lock's source is PyPI's simple index: no extra index; every line carries its hashes.
    assert "--extra-index-url" not in text
    assert all(" --hash=sha256:" in block for block in text.split("\n", 1)[1].replace("\\\n", " ").splitlines())
