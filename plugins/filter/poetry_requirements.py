# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydeploy.web.poetry_requirements filter: the main group of a poetry.lock as pinned requirement lines."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: poetry_requirements
short_description: The main dependency group of a poetry.lock as pinned requirement lines
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
description:
  - Reads a C(poetry.lock) (lock-version 2.1 or later, written by Poetry 2) on the controller and returns a requirements
    file that pins every package of its C(main) group to its locked version, with the lock's environment markers
    and, by default, the lock's file hashes. Packages only in other groups (C(dev), C(test)...) and optional
    packages (extras) are left out, as C(poetry install --only main) leaves them out.
  - The host needs no Poetry; pip or uv install the lines, evaluating the markers for the virtualenv's Python.
  - Packages from PyPI and from other package indexes (the index's URL becomes an C(--extra-index-url) line), from
    git (pinned to the locked commit) and from URLs are supported. Packages from a local file or directory, an
    index URL with credentials in it, a lock without dependency groups (lock-version before 2.1, Poetry 1) and text
    that is not TOML are errors that say so.
  - The lock is installed as it is; whether it is up to date with C(pyproject.toml) is Poetry's check
    (C(poetry check --lock)), best run before the commit is deployed.
options:
  _input:
    description: The text of C(poetry.lock).
    type: str
    required: true
  hashes:
    description:
      - Add the lock's C(--hash) options, so the installer refuses a file whose digest differs.
      - pip cannot mix requirements with and without hashes in one install; turn them off for pip.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Write the locked main group as a requirements file
  ansible.builtin.copy:
    content: "{{ lookup('ansible.builtin.file', 'poetry.lock') | pydeploy.web.poetry_requirements }}"
    dest: /srv/myapp/venvs/lock-0123/.pydeploy-requirements.txt
    mode: "0644"

- name: The same without hashes, for pip
  ansible.builtin.debug:
    msg: "{{ lookup('ansible.builtin.file', 'poetry.lock') | pydeploy.web.poetry_requirements(hashes=false) }}"
"""

RETURN = r"""
_value:
  description: Requirement lines, one package a line (continuation lines carry its hashes), ending in a newline.
  type: str
  sample: |
    # poetry.lock (lock-version 2.1): the main group, without extras
    flask==3.0.3 \
        --hash=sha256:34e815dfaa43340d1d15a5c3a02b8476004037eb4840b34910c6e21679d288f3
    importlib-metadata==8.7.1 ; python_version == "3.9"
"""

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

try:
    import tomllib
except ImportError:  # Python < 3.11 on the controller; ansible-core 2.19 needs 3.11, older cores may not
    tomllib = None

PYPI_INDEXES = ("https://pypi.org/simple", "https://pypi.python.org/simple")
NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
VERSION = re.compile(r"^[A-Za-z0-9.!+_-]+$")


def _fail(msg):
    raise AnsibleFilterError("poetry.lock: " + msg)


def _lock_version(data):
    text = str(data.get("metadata", {}).get("lock-version", ""))
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        _fail("lock-version %r is not a version" % text)


def _marker(pkg):
    """The marker under which the main group needs the package (None: always)."""
    markers = pkg.get("markers")
    if isinstance(markers, dict):
        markers = markers.get("main")
    if markers is not None and not isinstance(markers, str):
        _fail("%s has markers that are not a string: %r" % (pkg.get("name"), markers))
    return markers or None


def _index(url, name):
    parts = urlsplit(url)
    if parts.username or parts.password:
        _fail("%s comes from an index URL with credentials in it; pydeploy.web passes no credentials" % name)
    if parts.scheme not in ("https", "http"):
        _fail("%s comes from the index %r, which is not an http(s) URL" % (name, url))
    return url.rstrip("/")


def _requirement(pkg, indexes, unsupported):
    name, version = pkg.get("name"), pkg.get("version")
    if not isinstance(name, str) or not NAME.match(name):
        _fail("a package has no valid name: %r" % (name,))
    if not isinstance(version, str) or not VERSION.match(version):
        _fail("%s has no valid version: %r" % (name, version))
    source = pkg.get("source") or {}
    kind, url = source.get("type"), source.get("url", "")
    if kind in (None, "legacy"):
        if kind == "legacy":
            index = _index(url, name)
            if index not in PYPI_INDEXES and index not in indexes:
                indexes.append(index)
        return "%s==%s" % (name, version), True
    if kind == "git":
        commit = source.get("resolved_reference") or source.get("reference")
        if not url or not commit:
            _fail("%s comes from git without a URL and a locked commit" % name)
        req = "%s @ git+%s@%s" % (name, url, commit)
        if source.get("subdirectory"):
            req += "#subdirectory=" + source["subdirectory"]
        return req, False
    if kind == "url":
        if not url:
            _fail("%s comes from a URL source without a URL" % name)
        req = "%s @ %s" % (name, url)
        if source.get("subdirectory"):
            req += "#subdirectory=" + source["subdirectory"]
        return req, True
    unsupported.append("%s (%s %s)" % (name, kind, url))
    return None, False


def poetry_requirements(lock_text, hashes=True):
    if tomllib is None:
        raise AnsibleFilterError("poetry_requirements needs Python 3.11 or later on the controller (tomllib)")
    if not isinstance(lock_text, str):
        raise AnsibleFilterError("poetry_requirements takes the text of poetry.lock, got %s" % type(lock_text).__name__)
    try:
        data = tomllib.loads(lock_text)
    except tomllib.TOMLDecodeError as exc:
        _fail("not valid TOML: %s" % exc)
    version = _lock_version(data)
    packages = data.get("package", [])
    if not isinstance(packages, list):
        _fail("[[package]] is not a list of tables")
    if version < (2, 1) or any("groups" not in pkg for pkg in packages):
        _fail("lock-version %s records no dependency groups (Poetry 1 wrote it), so the main group cannot be told from "
              "the others. Lock again with Poetry 2 (poetry lock), or export a requirements file (poetry export) and "
              "set app_lockfile: requirements." % ".".join(map(str, version)))
    indexes, unsupported, lines = [], [], []
    for pkg in sorted(packages, key=lambda p: (str(p.get("name", "")).lower(), str(p.get("version", "")))):
        if "main" not in pkg.get("groups", []) or pkg.get("optional", False):
            continue
        req, has_files = _requirement(pkg, indexes, unsupported)
        if req is None:
            continue
        marker = _marker(pkg)
        if marker:
            req += " ; " + marker
        digests = [f.get("hash") for f in pkg.get("files", []) if isinstance(f, dict) and f.get("hash")] if has_files else []
        if hashes and digests:
            lines.append(" \\\n".join([req] + ["    --hash=" + d for d in digests]))
        else:
            lines.append(req)
    if unsupported:
        _fail("packages from local files or directories cannot go into a virtualenv shared by releases: %s. "
              "Publish them to an index or install them from git." % ", ".join(unsupported))
    header = ["# poetry.lock (lock-version %s): the main group, without extras" % ".".join(map(str, version))]
    return "\n".join(header + ["--extra-index-url " + i for i in indexes] + lines) + "\n"


class FilterModule:
    def filters(self):
        return {"poetry_requirements": poetry_requirements}
