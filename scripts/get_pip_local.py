"""Offline stand-in for the get-pip.py script that ansible-test downloads to bootstrap its venvs.

ansible-test --venv creates a venv without pip, then runs ``get-pip-<version>.py`` from
https://ci-files.testing.ansible.com, which this machine may not reach. It first looks for the script in
``~/.ansible/test/cache/get_pip_<version>.py``; scripts/sanity.sh copies this file there.

Like get-pip.py, it runs pip from a wheel on sys.path: the one bundled with ensurepip (or Debian's
/usr/share/python-wheels), and installs the requested pip (e.g. ``pip==24.2``) from the package index.
"""

import glob
import os
import sys

# get-pip.py options that pip itself does not know.
GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def find_pip_wheel():
    """Return the path of a pip wheel this Python can run pip from."""
    candidates = []
    try:
        import ensurepip  # pylint: disable=import-outside-toplevel

        bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
        candidates.extend(glob.glob(os.path.join(bundled, "pip-*.whl")))
    except ImportError:
        pass
    candidates.extend(glob.glob("/usr/share/python-wheels/pip-*.whl"))
    if not candidates:
        sys.exit("get_pip_local: no pip wheel found (install python3-venv or python3-pip-whl)")
    return sorted(candidates)[-1]


def main():
    """Install the packages named on the command line with pip run from a bundled wheel."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    sys.path.insert(0, find_pip_wheel())
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel,import-error

    sys.exit(pip_main(["install", "--upgrade", "--force-reinstall"] + args))


if __name__ == "__main__":
    main()
