"""The release_seal module: hands a tree to root without following links, and finds links out of the release."""

import os

import release_seal as mod


def test_seal_tree_drops_write_bits_and_never_follows_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("x")
    os.chmod(outside / "victim", 0o666)
    rel = tmp_path / "release"
    (rel / "pkg").mkdir(parents=True)
    (rel / "pkg" / "mod.py").write_text("x = 1\n")
    os.chmod(rel / "pkg" / "mod.py", 0o666)
    os.symlink(outside, rel / "pkg" / "out")
    assert mod.seal_tree(str(rel), os.getgid()) is True
    assert os.stat(rel / "pkg" / "mod.py").st_mode & 0o777 == 0o644
    assert os.stat(outside / "victim").st_mode & 0o777 == 0o666  # behind a link: untouched
    assert mod.seal_tree(str(rel), os.getgid()) is False  # sealed already


def test_escaping_links_are_found_and_allowed_ones_kept(tmp_path):
    rel = tmp_path / "release"
    (rel / "static").mkdir(parents=True)
    (rel / "static" / "a.txt").write_text("a")
    os.symlink("/etc", rel / "static" / "leak")
    os.symlink("a.txt", rel / "static" / "inside")
    os.symlink("../../shared", rel / "static" / "up")
    os.symlink("/srv/app/venvs/x", rel / ".venv")
    assert mod.escaping_links(str(rel), {".venv"}) == ["static/leak", "static/up"]
