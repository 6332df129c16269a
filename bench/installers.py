"""uv against pip, installing an app's requirements into a fresh virtualenv the way the app role does.

Runs on this machine, no container: for each requirements set and each installer, RUNS builds with an empty cache
(cold: every file is downloaded) and RUNS with a warm one (the cache filled by one untimed install first), each into
a new virtualenv of the host's Python. A run is timed from creating the virtualenv to the end of the install:

  pip: python3 -m venv V && V/bin/pip install -r REQ   (pip compiles bytecode; the venv's pip is ensurepip's)
  uv:  uv venv --python python3 V && uv pip install --python V/bin/python --compile-bytecode -r REQ
       (UV_LINK_MODE=copy, as the app role sets it)

A third phase, offline, takes the network out: pip installs from every wheel downloaded beforehand (--no-index
--find-links), uv from its warm cache (--offline). The JSON also records how big each warm cache grew: pip keeps
downloaded wheels only in its HTTP cache, which stays empty behind a proxy that strips caching headers.

The machine's pip and uv configuration is left out (PIP_CONFIG_FILE=/dev/null, UV_NO_CONFIG=1), so both read PyPI.
Cold runs measure the network too; run them when nothing else downloads.

    python3 bench/installers.py                      # the default sets, 3 runs each, uv from PATH or the pinned one
    python3 bench/installers.py --runs 5 --set flask=examples/flask_hello/requirements.txt
    python3 bench/installers.py --no-compile           # without bytecode, to see what compiling costs

Prints a Markdown table (medians, pip/uv ratios) and writes bench/results/installers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SETS = {
    "flask_hello": ROOT / "examples" / "flask_hello" / "requirements.txt",
    "django+fastapi": ROOT / "bench" / "installers" / "django-fastapi.txt",
    "large": ROOT / "bench" / "installers" / "large.txt",
}


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
               UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_LINK_MODE="copy", UV_NO_PROGRESS="1")
    env.update(extra)
    return env


def run(argv, env, cwd=None):
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def pinned_uv_version():
    for line in (ROOT / "roles" / "python" / "defaults" / "main.yml").read_text().splitlines():
        if line.startswith("python_uv_version:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise SystemExit("python_uv_version not found in roles/python/defaults/main.yml")


def find_uv(arg, python, work):
    """uv from --uv, else from PATH, else the python role's pinned version installed with pip into WORK."""
    if arg:
        return arg
    if shutil.which("uv"):
        return shutil.which("uv")
    tool = work / "uv-tool"
    run([python, "-m", "venv", str(tool)], clean_env())
    run([str(tool / "bin" / "pip"), "install", "uv==" + pinned_uv_version()], clean_env())
    return str(tool / "bin" / "uv")


def install(installer, requirements, venv, cache, python, uv, compile_bytecode=True, offline=False):
    """One timed build: a new virtualenv and the requirements installed into it. Returns seconds.

    offline: no network; pip installs from the wheels in CACHE (--no-index --find-links), uv from its cache (--offline).
    """
    if venv.exists():
        shutil.rmtree(venv)
    start = time.perf_counter()
    if installer == "pip":
        env = clean_env(PIP_CACHE_DIR=str(cache))
        local = ["--no-index", "--find-links", str(cache / "wheelhouse")] if offline else []
        run([python, "-m", "venv", str(venv)], env)
        run([str(venv / "bin" / "pip"), "install", *([] if compile_bytecode else ["--no-compile"]), *local,
             "-r", str(requirements)], env)
    else:
        env = clean_env(UV_CACHE_DIR=str(cache))
        run([uv, "venv", "--quiet", "--python", python, str(venv)], env)
        run([uv, "pip", "install", "--python", str(venv / "bin" / "python"), *(["--offline"] if offline else []),
             *(["--compile-bytecode"] if compile_bytecode else []), "-r", str(requirements)], env)
    elapsed = time.perf_counter() - start
    shutil.rmtree(venv)
    return elapsed


def measure(name, requirements, installer, runs, work, python, uv, compile_bytecode=True):
    times = {"cold": [], "warm": [], "offline": []}
    for i in range(runs):
        cache = work / f"cache-{installer}-cold-{i}"
        times["cold"].append(install(installer, requirements, work / "venv", cache, python, uv, compile_bytecode))
        shutil.rmtree(cache, ignore_errors=True)
    cache = work / f"cache-{installer}-warm"
    install(installer, requirements, work / "venv", cache, python, uv, compile_bytecode)  # fills the cache, not counted
    for _run in range(runs):
        times["warm"].append(install(installer, requirements, work / "venv", cache, python, uv, compile_bytecode))
    if installer == "pip":  # pip keeps downloaded wheels only in its HTTP cache: give it every wheel on disk
        run([python, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "--dest", str(cache / "wheelhouse"),
             "-r", str(requirements)], clean_env(PIP_CACHE_DIR=str(cache)))
    for _run in range(runs):
        times["offline"].append(install(installer, requirements, work / "venv", cache, python, uv, compile_bytecode,
                                        offline=True))
    # Did pip's HTTP cache keep the wheels? Not behind a proxy that strips caching headers.
    cached = [f for f in cache.rglob("*") if f.is_file() and "wheelhouse" not in f.parts]
    times["cache_mb"] = round(sum(f.stat().st_size for f in cached) / 1e6, 1)
    shutil.rmtree(cache, ignore_errors=True)
    phases = "  ".join(f"{k} {[round(t, 2) for t in v]}" for k, v in times.items() if isinstance(v, list))
    print(f"  {name:16} {installer:3}  {phases}  cache {times['cache_mb']} MB", file=sys.stderr)
    return times


def count_packages(requirements, python, uv, work):
    """How many distributions the set installs (uv pip compile against the host's Python)."""
    out = run([uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--python", python, str(requirements)],
              clean_env(UV_CACHE_DIR=str(work / "cache-count")))
    return sum(1 for line in out.splitlines() if line and not line.startswith(("#", " ")))


def table(results):
    lines = ["| set (packages) | cache | pip median | uv median | pip / uv |", "|---|---|---:|---:|---:|"]
    for name, res in results["sets"].items():
        for phase in ("cold", "warm", "offline"):
            pip = statistics.median(res["pip"][phase])
            uv = statistics.median(res["uv"][phase])
            lines.append(f"| {name} ({res['packages']}) | {phase} | {pip:.2f} s | {uv:.2f} s | {pip / uv:.1f}x |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", default="/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable)
    parser.add_argument("--uv", help="uv program (default: uv on PATH, else the python role's pinned version)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=REQUIREMENTS",
                        help="a requirements file to measure (repeatable; default: %s)" % ", ".join(SETS))
    parser.add_argument("--no-compile", action="store_true",
                        help="compile no bytecode (pip --no-compile, uv without --compile-bytecode): not what the role does")
    parser.add_argument("--workdir", help="where caches and virtualenvs go (default: a new temporary directory)")
    args = parser.parse_args()
    sets = dict(s.split("=", 1) for s in args.set) if args.set else {k: str(v) for k, v in SETS.items()}
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pydeploy-installers-"))
    work.mkdir(parents=True, exist_ok=True)
    uv = find_uv(args.uv, args.python, work)
    python_version = run([args.python, "-c", "import platform; print(platform.python_version())"], clean_env()).strip()
    pip_version = run([args.python, "-c", "import ensurepip; print(ensurepip.version())"], clean_env()).strip()
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": f"{args.python} {python_version}",
        "pip": pip_version,
        "uv": run([uv, "--version"], clean_env()).strip(),
        "runs": args.runs,
        "bytecode": not args.no_compile,
        "load_before": os.getloadavg(),
        "sets": {},
    }
    print(f"python {python_version}, pip {pip_version}, {results['uv']}, {args.runs} runs", file=sys.stderr)
    try:
        for name, path in sets.items():
            requirements = (ROOT / path) if not Path(path).is_absolute() else Path(path)
            entry = {"requirements": str(path), "packages": count_packages(requirements, args.python, uv, work)}
            for installer in ("pip", "uv"):
                entry[installer] = measure(name, requirements, installer, args.runs, work, args.python, uv,
                                           not args.no_compile)
            results["sets"][name] = entry
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("installers.json" if not args.no_compile else "installers-no-compile.json")).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print("\nload average (1, 5, 15 min) before %s, after %s" % (
        "/".join("%.1f" % x for x in results["load_before"]), "/".join("%.1f" % x for x in results["load_after"])))


if __name__ == "__main__":
    main()
