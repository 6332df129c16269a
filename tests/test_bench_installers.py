"""bench/installers.py: the table reports medians and pip/uv ratios of what was measured."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pydeploy_bench_installers", ROOT / "bench/installers.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_table_has_medians_and_ratios():
    results = {"sets": {"flask_hello": {
        "packages": 7,
        "pip": {"cold": [4.0, 9.0, 5.0], "warm": [3.0, 3.5, 2.5], "offline": [2.0, 2.0, 2.0]},
        "uv": {"cold": [0.5, 0.4, 2.0], "warm": [0.25, 0.3, 0.2], "offline": [0.1, 0.2, 0.4]},
    }}}
    rows = bench.table(results).splitlines()
    assert rows[2] == "| flask_hello (7) | cold | 5.00 s | 0.50 s | 10.0x |"  # medians, not means
    assert rows[3] == "| flask_hello (7) | warm | 3.00 s | 0.25 s | 12.0x |"
    assert rows[4] == "| flask_hello (7) | offline | 2.00 s | 0.20 s | 10.0x |"


def test_the_default_sets_exist_and_the_installer_config_of_the_machine_is_left_out(monkeypatch):
    assert all(path.exists() for path in bench.SETS.values())
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("UV_INDEX_URL", "https://mirror.example.com/simple")
    env = bench.clean_env(UV_CACHE_DIR="/tmp/c")
    assert "PIP_FIND_LINKS" not in env and "UV_INDEX_URL" not in env
    assert env["PIP_CONFIG_FILE"] and env["UV_NO_CONFIG"] == "1" and env["UV_LINK_MODE"] == "copy"
    assert env["UV_CACHE_DIR"] == "/tmp/c"


def test_the_pinned_uv_is_the_python_roles():
    assert bench.pinned_uv_version() == (ROOT / "roles/python/defaults/main.yml").read_text().split(
        'python_uv_version: "')[1].split('"')[0]
