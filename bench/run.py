"""Benchmark the deployed stack and the Ansible runs in one go (`make bench`).

Steps, each on this machine only (load runs on the container's loopback):
  1. floor:    a fresh container gets the same apt packages and pip installs as the converge, by hand (timed)
  2. converge: a fresh container gets site.yml (timed), then a no-change re-run (timed)
  3. redeploy: a new commit of the example app goes out with playbooks/deploy.yml (timed)
  4. load:     wrk inside the container against (a) gunicorn on TCP with the deployed settings, (b) nginx in front
               of the deployed service, (c) a static file, (d) the seed baseline `gunicorn app:app` behind a plain
               `proxy_pass`; the same threads, connections and duration for every case, rounds interleaved.
Writes bench/results/latest.json, bench/results/chart.png and prints a table. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse import format_table, parse_recap, parse_wrk, ratios  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
INVENTORY = ROOT / "bench" / "inventory" / "hosts.yml"
NAME = "pydeploy-bench"
FLOOR = "pydeploy-bench-floor"
REPO = "bench_hello"
APP = "hello"
HOST = "bench.test"
CACHE = os.environ.get("PYDEPLOY_CACHE", "/var/cache/pydeploy-test")
IMAGE = os.environ.get("PYDEPLOY_IMAGE_PREFIX", "pydeploy/debian")
SEED_CONF = "/etc/nginx/conf.d/pydeploy-bench-seed.conf"
SEED_NGINX = """# Added by bench/run.py for the seed baseline only; removed after the run.
server {
    listen 127.0.0.1:8081;
    location / {
        proxy_pass http://127.0.0.1:8000;
    }
}
"""


def log(msg: str) -> None:
    print(f"\033[1m==> {msg}\033[0m", file=sys.stderr, flush=True)


def run(argv: list[str], check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, text=True, capture_output=capture, check=False, **kw)
    if check and res.returncode != 0:
        out = (res.stdout or "")[-3000:] + (res.stderr or "")[-3000:]
        raise SystemExit(f"command failed ({res.returncode}): {shlex.join(argv)}\n{out}")
    return res


def dexec(container: str, script: str, check: bool = True) -> str:
    return run(["docker", "exec", container, "bash", "-ec", script], check=check).stdout


def start_container(name: str, suite: str) -> None:
    run(["docker", "rm", "-f", name], check=False)
    for sub in ("bench-apt", "bench-pip"):
        Path(CACHE, sub).mkdir(parents=True, exist_ok=True)
        Path(CACHE, sub).chmod(0o777)
    run([
        "docker", "run", "-d", "--name", name, "--hostname", name,
        # SYS_PTRACE: root on a real host may read /proc/<pid>/cwd of the app user's gunicorn (switch.yml checks it);
        # Docker's default root lacks it.
        "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
        # Caches of its own: the Molecule scenarios' shared apt cache is locked while one of them installs.
        "-v", f"{CACHE}/bench-apt:/var/cache/apt/archives:rw", "-v", f"{CACHE}/bench-pip:/var/cache/pydeploy-pip:rw",
        f"{IMAGE}:{suite}", "/lib/systemd/systemd",
    ])
    dexec(name, "systemctl is-system-running --wait >/dev/null 2>&1 || true")
    # A pip cache shared by the floor and the converge containers, as the Molecule scenarios do.
    dexec(name, "printf '[global]\\ncache-dir = /var/cache/pydeploy-pip\\n' >/etc/pip.conf")


def playbook(log_name: str, *args: str) -> dict:
    """Run ansible-playbook with the shipped ansible.cfg; return wall seconds and the recap counters."""
    argv = ["ansible-playbook", "-i", str(INVENTORY), *args]
    t0 = time.monotonic()
    res = run(argv, check=False, cwd=ROOT)
    seconds = time.monotonic() - t0
    (RESULTS / f"{log_name}.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed; log: bench/results/{log_name}.log\n{res.stdout[-4000:]}")
    return {"seconds": round(seconds, 2), **parse_recap(res.stdout)}


def commit_example(message: str, version: str) -> str:
    """Commit examples/flask_hello (VERSION replaced) into .cache/examples/bench_hello.git; return the commit."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "app"
        shutil.copytree(ROOT / "examples" / "flask_hello", src, ignore=shutil.ignore_patterns("__pycache__"))
        (src / "VERSION").write_text(version + "\n")
        out = run(["bash", str(ROOT / "scripts" / "example-repo.sh"), REPO, str(src), message]).stdout
    return out.strip().splitlines()[-1]


def publish(host: str) -> None:
    run(["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "examples" / "publish.yml"),
         "-e", f"example_name={REPO}", "-e", f"pydeploy_hosts={host}"], cwd=ROOT)


def converge_packages() -> list[str]:
    pyvars = yaml.safe_load((ROOT / "roles" / "python" / "vars" / "main.yml").read_text())
    ngvars = yaml.safe_load((ROOT / "roles" / "nginx" / "vars" / "main.yml").read_text())
    return pyvars["__python_base_packages"] + pyvars["__python_build_packages"] + ngvars["__nginx_packages"]


def measure_floor(suite: str) -> dict:
    """The physical floor of a converge: the same apt packages and pip installs, nothing else."""
    log(f"floor: fresh container {FLOOR}")
    start_container(FLOOR, suite)
    pkgs = " ".join(converge_packages())
    requirements = (ROOT / "examples" / "flask_hello" / "requirements.txt").read_text()
    gunicorn_pkg = yaml.safe_load((ROOT / "roles" / "gunicorn" / "defaults" / "main.yml").read_text())["gunicorn_package"]
    # Untimed, as in the converge container: package lists (publish.yml refreshes them there), git, the app
    # user, and the shared caches warmed so neither side pays for downloads the other does not.
    dexec(FLOOR, f"""
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq git >/dev/null
        apt-get install -y -qq --no-install-recommends --download-only {pkgs} >/dev/null
        groupadd --system {APP} && useradd --system -g {APP} -d /srv/{APP} -M -s /usr/sbin/nologin {APP}
        install -d -o {APP} -g {APP} /srv/{APP}
        printf '%s' {shlex.quote(requirements)} >/srv/{APP}/requirements.txt
    """)
    script = f"""
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends {pkgs} >/dev/null
        runuser -u {APP} -- python3 -m venv /srv/{APP}/venv
        runuser -u {APP} -- /srv/{APP}/venv/bin/pip install -q --disable-pip-version-check --no-input -r /srv/{APP}/requirements.txt
        runuser -u {APP} -- /srv/{APP}/venv/bin/pip install -q --disable-pip-version-check --no-input {shlex.quote(gunicorn_pkg)}
    """
    log("floor: apt-get install + venv + pip install (timed)")
    t0 = time.monotonic()
    dexec(FLOOR, script)
    seconds = time.monotonic() - t0
    run(["docker", "rm", "-f", FLOOR], check=False)
    return {"seconds": round(seconds, 2), "packages": pkgs.split(), "pip": ["-r requirements.txt", gunicorn_pkg]}


def wrk(args: argparse.Namespace, url: str, host: str | None) -> dict:
    header = f"-H 'Host: {host}'" if host else ""
    base = f"wrk -t{args.threads} -c{args.connections} {header}"
    dexec(NAME, f"{base} -d{args.warmup}s {url} >/dev/null")
    out = dexec(NAME, f"{base} -d{args.duration}s --latency {url}")
    return {**parse_wrk(out), "raw": out}


def expect(url: str, host: str | None, needle: str) -> None:
    header = f"-H 'Host: {host}'" if host else ""
    for _attempt in range(60):
        res = run(["docker", "exec", NAME, "bash", "-c", f"curl -fsS {header} {url}"], check=False)
        if res.returncode == 0 and needle in res.stdout:
            return
        time.sleep(0.5)
    raise SystemExit(f"{url} (Host {host}) did not answer with {needle!r}: {res.stdout}{res.stderr}")


def measure_load(args: argparse.Namespace) -> tuple[dict, dict]:
    root = f"/srv/{APP}"
    conf = f"/etc/pydeploy/{APP}/gunicorn.conf.py"
    log("load: installing wrk and curl in the container (untimed)")
    dexec(NAME, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk curl >/dev/null")
    settings = dexec(NAME, f"grep -E '^(workers|worker_class|threads|keepalive|backlog) ' {conf}; "
                           f"grep -E 'keepalive|access_log' /etc/nginx/nginx.conf /etc/nginx/sites-enabled/{APP}.conf || true")
    common = (f"--uid={APP} --gid={APP} --working-directory={root}/current "
              f"-p EnvironmentFile=/etc/pydeploy/{APP}/env --collect")
    dexec(NAME, "systemctl stop pydeploy-bench-direct pydeploy-bench-seed 2>/dev/null || true; "
                f"systemd-run --unit=pydeploy-bench-direct {common} "
                f"{root}/current/.venv/bin/gunicorn --config {conf} --bind 127.0.0.1:8001 >/dev/null 2>&1; "
                f"systemd-run --unit=pydeploy-bench-seed {common} "
                f"{root}/current/.venv/bin/gunicorn app:app --bind 127.0.0.1:8000 >/dev/null 2>&1")
    dexec(NAME, f"cat >{SEED_CONF} <<'EOF'\n{SEED_NGINX}EOF\nnginx -t -q && systemctl reload nginx")
    cases = {
        "direct": ("http://127.0.0.1:8001/", HOST, "from pydeploy.web"),
        "proxied": ("http://127.0.0.1/", HOST, "from pydeploy.web"),
        "static": ("http://127.0.0.1/static/hello.txt", HOST, ""),
        "seed": ("http://127.0.0.1:8081/", HOST, "from pydeploy.web"),
    }
    static_body = (ROOT / "examples" / "flask_hello" / "static" / "hello.txt").read_text().strip()
    try:
        for key, (url, host, needle) in cases.items():
            expect(url, host, needle or static_body)
        samples: dict[str, list[dict]] = {k: [] for k in cases}
        order = list(cases)
        for rnd in range(args.rounds):
            for key in order if rnd % 2 == 0 else reversed(order):
                url, host, _label = cases[key]
                log(f"load: round {rnd + 1}/{args.rounds} {key} {url}")
                samples[key].append(wrk(args, url, host))
    finally:
        dexec(NAME, f"rm -f {SEED_CONF}; nginx -t -q && systemctl reload nginx; "
                    "systemctl stop pydeploy-bench-direct pydeploy-bench-seed 2>/dev/null || true", check=False)
    load = {}
    for key, runs in samples.items():
        agg = {}
        for field in ("rps", "p50_ms", "p99_ms"):
            vals = [r[field] for r in runs if r[field] is not None]
            agg[field] = round(sum(vals) / len(vals), 3) if vals else None
        agg["socket_errors"] = sum(r["socket_errors"] for r in runs)
        agg["non_2xx"] = sum(r["non_2xx"] for r in runs)
        agg["rounds"] = [{k: v for k, v in r.items() if k != "raw"} for r in runs]
        agg["url"] = cases[key][0]
        load[key] = agg
    return load, {"deployed": settings.strip().splitlines()}


def machine(suite: str) -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown")
    mem_kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")))
    os_release = dexec(NAME, ". /etc/os-release; echo \"$PRETTY_NAME\"; cat /etc/debian_version").split("\n")
    versions = dexec(NAME, "nginx -v 2>&1; /srv/hello/current/.venv/bin/gunicorn --version; "
                           "/srv/hello/current/.venv/bin/python --version; wrk -v 2>&1 | head -1 || true")
    return {
        "nproc": os.cpu_count(),
        "container_nproc": int(dexec(NAME, "nproc").strip()),
        "mem_total_mib": mem_kb // 1024,
        "cpu_model": cpu,
        "kernel": platform.release(),
        "container_suite": f"{suite} ({os_release[0]}, {os_release[1]})",
        "versions": [v for v in versions.splitlines() if v.strip()],
        "ansible": run(["ansible", "--version"]).stdout.splitlines()[0],
    }


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def others() -> list[str]:
    names = run(["docker", "ps", "--format", "{{.Names}}"]).stdout.split()
    return [n for n in names if n not in (NAME, FLOOR)]


def chart(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    load, runs = data["load"], data["ansible"]
    keys = [k for k in ("direct", "proxied", "static", "seed") if k in load]
    labels = {"direct": "(a) gunicorn\ndirect", "proxied": "(b) nginx ->\ngunicorn", "static": "(c) static\nvia nginx",
              "seed": "(d) seed\nbaseline"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    ax = axes[0]
    bars = ax.bar([labels[k] for k in keys], [load[k]["rps"] for k in keys], color=["#888", "#2a7", "#27a", "#c66"])
    ax.set_yscale("log")
    ax.set_title("requests/s (log scale, higher is better)")
    ax.bar_label(bars, fmt="%.0f")
    ax = axes[1]
    x = range(len(keys))
    ax.bar([i - 0.2 for i in x], [load[k]["p50_ms"] or 0 for k in keys], 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [load[k]["p99_ms"] or 0 for k in keys], 0.4, label="p99")
    ax.set_xticks(list(x), [labels[k] for k in keys])
    ax.set_title("latency ms (lower is better)")
    ax.legend()
    ax = axes[2]
    rkeys = [k for k in ("floor", "converge", "noop", "redeploy") if k in runs]
    rlabels = {"floor": "bare apt+pip\n(floor)", "converge": "fresh\nconverge", "noop": "no-change\nre-run",
               "redeploy": "code-only\nredeploy"}
    bars = ax.bar([rlabels[k] for k in rkeys], [runs[k]["seconds"] for k in rkeys], color="#57a")
    ax.bar_label(bars, fmt="%.1f s")
    ax.set_title("Ansible wall time, s (lower is better)")
    summary = "   ".join(f"{c['name']}: {c['value']:.2f} ({c['op']} {c['target']:g} {'met' if c['pass'] else 'MISSED'})"
                         for c in data["checks"] if c["value"] is not None)
    fig.suptitle(f"pydeploy.web make bench, {data['date']} - {data['machine']['nproc']} CPUs, "
                 f"wrk -t{data['wrk']['threads']} -c{data['wrk']['connections']} -d{data['wrk']['duration']}s",
                 fontsize=11)
    fig.text(0.5, 0.01, summary, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    fig.savefig(path, dpi=90)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default=os.environ.get("PYDEPLOY_BENCH_SUITE", "bookworm"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=int, default=10, help="seconds per load case and round")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each load case")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the four load cases, interleaved")
    p.add_argument("--load-only", action="store_true", help="reuse the running container, skip the Ansible timings")
    p.add_argument("--keep", action="store_true", help="leave the container running afterwards")
    p.add_argument("-e", "--extra-vars", action="append", default=[], help="passed to the site.yml runs (experiments)")
    p.add_argument("--out", default=str(RESULTS / "latest.json"))
    args = p.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    extra = [a for e in args.extra_vars for a in ("-e", e)]
    site = str(ROOT / "site.yml")
    runs: dict = {}
    load_before = loadavg()
    concurrent = others()

    if not args.load_only:
        commit_example("bench: release 1", "1")
        runs["floor"] = measure_floor(args.suite)
        log(f"converge: fresh container {NAME}")
        start_container(NAME, args.suite)
        publish(NAME)
        log("converge: ansible-playbook site.yml on a fresh container (timed)")
        runs["converge"] = playbook("converge", site, *extra)
        log("no-change: ansible-playbook site.yml again (timed)")
        runs["noop"] = playbook("noop", site, *extra)
        if runs["noop"]["changed"]:
            log(f"warning: the no-change run changed {runs['noop']['changed']} task(s)")
        commit = commit_example("bench: release 2", f"2 ({int(time.time())})")
        publish(NAME)
        log(f"redeploy: ansible-playbook playbooks/deploy.yml with commit {commit[:12]} (timed)")
        runs["redeploy"] = playbook("redeploy", str(ROOT / "playbooks" / "deploy.yml"), *extra)
        runs["redeploy"]["commit"] = commit
    elif Path(args.out).exists():
        runs = json.loads(Path(args.out).read_text()).get("ansible", {})

    load, deployed = measure_load(args)
    checks = ratios(load, runs)
    data = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(args.suite),
        "concurrent_containers": concurrent,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "wrk": {"threads": args.threads, "connections": args.connections, "duration": args.duration,
                "warmup": args.warmup, "rounds": args.rounds},
        "extra_vars": args.extra_vars,
        "settings": deployed,
        "load": load,
        "ansible": runs,
        "checks": checks,
        "wall_seconds": round(time.monotonic() - t_start, 1),
    }
    out = Path(args.out)
    out.write_text(json.dumps(data, indent=2) + "\n")
    chart(data, out.with_name(out.stem.replace("latest", "chart") + ".png") if out.stem == "latest"
          else out.with_suffix(".png"))
    print(format_table(load, runs, checks))
    print(f"\nDeployed settings: {'; '.join(deployed['deployed'])}")
    print(f"Other containers running meanwhile: {', '.join(concurrent) or 'none'}; "
          f"load average before {load_before}, after {data['loadavg_after']}")
    print(f"Results: {out} (wall {data['wall_seconds']} s)")
    if not args.keep:
        run(["docker", "rm", "-f", NAME], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
