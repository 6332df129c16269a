"""Static contracts of the roles that Molecule does not see: specs match defaults, templates are marked."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role):
    base = ROOT / "roles" / role
    # templates/ only where the role has templates: git keeps no empty directory, and the tarball no placeholder.
    for part in ("defaults/main.yml", "meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml",
                 "handlers/main.yml", "README.md"):
        assert (base / part).exists(), f"roles/{role}/{part} is missing"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_in_the_spec_with_the_same_value(role):
    base = ROOT / "roles" / role
    defaults = load(base / "defaults/main.yml")
    spec = load(base / "meta/argument_specs.yml")["argument_specs"]
    options = spec["main"]["options"]
    for name, value in defaults.items():
        assert name in options, f"{role}: default {name} has no argument spec"
        assert options[name].get("default") == value, f"{role}: {name} default differs between defaults and spec"
    for name, opt in options.items():
        if name.startswith(role + "_"):
            assert name in defaults or opt.get("required"), f"{role}: {name} is in the spec but has no default"
        assert opt.get("description"), f"{role}: {name} has no description"
        assert opt.get("type"), f"{role}: {name} has no type"
        if opt.get("type") == "list":
            assert opt.get("elements"), f"{role}: list {name} has no elements type"


@pytest.mark.parametrize("role", ROLES)
def test_preflight_entry_point_checks_the_same_options(role):
    spec = load(ROOT / "roles" / role / "meta/argument_specs.yml")["argument_specs"]
    assert spec["preflight"]["options"] == spec["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_carry_the_role_prefix(role):
    base = ROOT / "roles" / role
    for name in load(base / "defaults/main.yml"):
        assert name.startswith(role + "_"), f"{role}: default {name} lacks the prefix"
    for name in load(base / "vars/main.yml") if (base / "vars/main.yml").exists() else {}:
        assert name.startswith(f"__{role}_"), f"{role}: var {name} lacks the internal prefix"


def test_shared_app_inputs_have_one_default():
    """gunicorn and nginx read app_* with a fallback; it must equal the app role's default."""
    app_defaults = load(ROOT / "roles/app/defaults/main.yml")
    pattern = re.compile(r"^__(\w+?)_(app_\w+): \"\{\{ (app_\w+) \| default\((.*)\) \}\}\"$")
    seen = 0
    for role in ROLES:
        vars_file = ROOT / "roles" / role / "vars/main.yml"
        if not vars_file.exists():
            continue
        for line in vars_file.read_text().splitlines():
            m = pattern.match(line)
            if not m:
                continue
            seen += 1
            name, fallback = m.group(3), m.group(4)
            want = app_defaults[name]
            got = yaml.safe_load(fallback.replace("'/srv/' ~ app_name", "'/srv/{{ app_name }}'").replace("(app_name)", "'{{ app_name }}'"))
            if fallback == "app_name":
                got = "{{ app_name }}"
            assert got == want, f"{role}: {name} falls back to {fallback}, the app role says {want!r}"
    assert seen >= 5


def test_templates_start_with_ansible_managed():
    templates = list((ROOT / "roles").glob("*/templates/**/*.j2"))
    assert templates
    for t in templates:
        text = t.read_text()
        if text.startswith("#!"):  # a script's shebang must stay first
            text = text.split("\n", 1)[1]
        assert text.startswith("{{ ansible_managed | comment }}"), t


def test_every_command_task_declares_changes():
    """ansible-lint checks this too; keep the rule even if its profile changes."""
    for tasks in (ROOT / "roles").glob("*/tasks/*.yml"):
        for task in load_tasks(tasks):
            for key in ("ansible.builtin.command", "ansible.builtin.shell"):
                if key in task:
                    assert "changed_when" in task or "creates" in str(task[key]), f"{tasks}: {task.get('name')}"


def load_tasks(path):
    out = []

    def walk(items):
        for t in items or []:
            out.append(t)
            for k in ("block", "rescue", "always"):
                walk(t.get(k))

    walk(yaml.safe_load(path.read_text()))
    return out


def test_site_wires_the_firewall_web_ports_from_nginx_defaults():
    """site.yml hands nginx's ports to the firewall; its fallbacks must be the nginx role's defaults."""
    site = (ROOT / "playbooks/site.yml").read_text()
    nginx = load(ROOT / "roles/nginx/defaults/main.yml")
    fallbacks = dict(re.findall(r"(nginx_\w+) \| default\(([^)]*)\)", site))
    assert set(fallbacks) == {"nginx_http_port", "nginx_https_port", "nginx_tls_mode"}, fallbacks
    for name, fallback in fallbacks.items():
        assert yaml.safe_load(fallback) == nginx[name], f"site.yml falls back to {fallback} for {name}, nginx says {nginx[name]!r}"
    plays = yaml.safe_load(site)
    wired = [t for play in plays for t in play.get("tasks", []) + [b for t in play.get("tasks", []) for b in t.get("block", [])]
             if t.get("ansible.builtin.include_role", {}).get("name") == "pydeploy.web.firewall"]
    assert len(wired) == 2 and all("firewall_web_ports" in t.get("vars", {}) for t in wired), wired


def test_playbooks_pass_the_python_roles_uv_to_the_app_role():
    """app_uv_path comes from python_uv_path; where the python role does not run, from the path it installs uv at."""
    uv = load(ROOT / "roles/python/vars/main.yml")["__python_uv_venv"] + "/bin/uv"
    books = {name: (ROOT / "playbooks" / name).read_text() for name in ("site.yml", "deploy.yml", "rollback.yml")}
    lines = {name: [line.strip() for line in text.splitlines() if line.strip().startswith("app_uv_path:")]
             for name, text in books.items()}
    if not any(lines.values()):
        pytest.skip("the playbooks do not pass app_uv_path to the app role yet")
    for name, found in lines.items():
        assert len(found) == 1, f"playbooks/{name} sets app_uv_path {len(found)} times"
        assert "python_uv_path" in found[0], f"playbooks/{name}: {found[0]}"
        fallback = re.search(r"default\('([^']*)'\)", found[0])
        assert fallback is None or fallback.group(1) == uv, f"playbooks/{name} falls back to another path than {uv}"
    for name in ("deploy.yml", "rollback.yml"):  # no python role in these plays: python_uv_path is never set there
        assert "default(" in lines[name][0], f"playbooks/{name}: {lines[name][0]}"
