"""CHANGELOG.rst is what antsibull-changelog generates from changelogs/, and the pending fragments are valid."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def antsibull_changelog(*args, cwd):
    exe = shutil.which("antsibull-changelog", path=str(Path(sys.executable).parent)) or "antsibull-changelog"
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_changelog_rst_is_generated_from_changelog_yaml(tmp_path):
    shutil.copy(ROOT / "galaxy.yml", tmp_path)
    (tmp_path / "changelogs").mkdir()
    for name in ("config.yaml", "changelog.yaml"):
        shutil.copy(ROOT / "changelogs" / name, tmp_path / "changelogs")
    proc = antsibull_changelog("generate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "CHANGELOG.rst").read_text() == (ROOT / "CHANGELOG.rst").read_text(), (
        "CHANGELOG.rst differs from changelogs/changelog.yaml: run `antsibull-changelog generate` "
        "(or `antsibull-changelog release` when releasing) and commit the result")


def test_changelog_fragments_lint():
    proc = antsibull_changelog("lint", cwd=ROOT)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
