"""scripts/role_docs.py: the role READMEs' variable tables are the ones meta/argument_specs.yml gives."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "role_docs.py"


def role_docs(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def copy_roles(dest):
    """The parts of each role the script reads: README, specs and defaults."""
    for role in (ROOT / "roles").iterdir():
        for part in ("README.md", "meta/argument_specs.yml", "defaults/main.yml"):
            if (role / part).exists():
                (dest / "roles" / role.name / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(role / part, dest / "roles" / role.name / part)


def test_every_role_readme_is_up_to_date():
    proc = role_docs("--check")
    assert proc.returncode == 0, "run scripts/role_docs.py and commit the READMEs:\n" + proc.stdout + proc.stderr


def test_check_fails_on_a_drifted_copy_and_a_run_fixes_it(tmp_path):
    copy_roles(tmp_path)
    readme = tmp_path / "roles/python/README.md"
    readme.write_text(readme.read_text().replace("| `3600` |", "| `600` |"))
    specs_file = tmp_path / "roles/firewall/meta/argument_specs.yml"
    specs = yaml.safe_load(specs_file.read_text())
    specs["argument_specs"]["main"]["options"]["firewall_log_dropped"]["description"] = "Log every dropped packet."
    specs_file.write_text(yaml.safe_dump(specs, sort_keys=False))

    proc = role_docs("--check", "--root", str(tmp_path))
    assert proc.returncode == 1
    assert "-| `python_apt_cache_valid_time` | int | `600` |" in proc.stdout
    assert "+| `python_apt_cache_valid_time` | int | `3600` |" in proc.stdout
    assert "+| `firewall_log_dropped` | bool | `false` |  | Log every dropped packet. |" in proc.stdout
    assert "roles/firewall/README.md" in proc.stderr and "roles/python/README.md" in proc.stderr

    assert role_docs("--root", str(tmp_path)).returncode == 0
    assert role_docs("--check", "--root", str(tmp_path)).returncode == 0
    assert "| `3600` |" in readme.read_text()


def make_role(root, specs, defaults, readme):
    base = root / "roles" / "demo"
    (base / "meta").mkdir(parents=True)
    (base / "defaults").mkdir()
    spec_doc = {"argument_specs": {"main": {"options": specs}}}
    (base / "meta/argument_specs.yml").write_text(yaml.safe_dump(spec_doc, sort_keys=False))
    (base / "defaults/main.yml").write_text(yaml.safe_dump(defaults))
    (base / "README.md").write_text(readme)
    return base / "README.md"


def test_table_rows_defaults_nested_options_and_prose(tmp_path):
    readme = make_role(tmp_path, {
        "demo_mode": {"type": "str", "default": "off", "choices": ["off", "on"], "description": "Mode C(on) or not."},
        "demo_host": {"type": "str", "description": ["Host", "header."]},
        "demo_key": {"type": "str", "required": True, "no_log": True, "description": "Key."},
        "demo_sites": {"type": "list", "elements": "dict", "default": [], "description": "Sites.",
                       "options": {"url": {"type": "str", "required": True, "description": "Prefix."}}},
    }, {"demo_host": "{{ demo_names | first }}"},
        "# demo\n\nIntro.\n\n<!-- BEGIN argument_specs -->\nhand-written\n<!-- END argument_specs -->\n\nOutro.\n")
    assert role_docs("--root", str(tmp_path)).returncode == 0
    text = readme.read_text()
    assert text.startswith("# demo\n\nIntro.\n\n<!-- BEGIN argument_specs -->\n")
    assert text.endswith("<!-- END argument_specs -->\n\nOutro.\n")
    assert "hand-written" not in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows == [
        '| `demo_mode` | str | `"off"` |  | Mode `on` or not. Choices: `"off"`, `"on"`. |',
        "| `demo_host` | str | `{{ demo_names \\| first }}` |  | Host header. |",  # default from defaults/main.yml
        "| `demo_key` | str |  | yes | Key. Never logged. |",
        "| `demo_sites` | list of dict | `[]` |  | Sites. |",
        "| `demo_sites[].url` | str |  | yes | Prefix. |",
    ]


def test_a_readme_without_markers_is_an_error(tmp_path):
    make_role(tmp_path, {"demo_x": {"type": "int", "default": 1, "description": "X."}}, {"demo_x": 1}, "# demo\n")
    proc = role_docs("--check", "--root", str(tmp_path))
    assert proc.returncode == 2 and "roles/demo/README.md" in proc.stderr
