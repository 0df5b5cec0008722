"""make matrix: the unit tests (tests/unit, with the ansible-core internals adapter's tests, test_core_internals.py)
and ansible-test sanity (tests/static/test_sanity.py) on every supported ansible-core, one virtual env each under
.cache/matrix/core-<version> (created from PyPI on the first run: ansible-core, pytest, the kubernetes client).

    python tests/unit/matrix.py                  # every core, unit tests and sanity
    python tests/unit/matrix.py --no-sanity      # unit tests only (about a minute)
    python tests/unit/matrix.py 2.17 2.20        # some cores

Supported: meta/runtime.yml's requires_ansible (>= 2.17) up to the newest release; ansible-core 2.20 needs Python
>= 3.12 (this machine's default is 3.11): the runner looks for python3.12 (PATH, then ~/.pyenv/versions) and skips
2.20, saying so, when there is none. Not part of `make test` (the first run installs four environments and
ansible-test's per-test environments for each). Writes .cache/matrix/results.md and exits non-zero when a core
fails.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "matrix"
# ansible-core line -> the Python versions it runs on as a controller, preferred first
CORES = {"2.17": ("3.11", "3.12", "3.10"), "2.18": ("3.11", "3.12", "3.13"), "2.19": ("3.11", "3.12", "3.13"),
         "2.20": ("3.12", "3.13", "3.14")}
PACKAGES = ("pytest", "kubernetes>=24.2,<37")


def python_for(versions) -> str | None:
    for version in versions:
        candidates = [shutil.which(f"python{version}")]
        candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))
        for exe in filter(None, candidates):
            if subprocess.run([exe, "-c", "import venv, ensurepip"], capture_output=True).returncode == 0:
                return exe
    return None


def venv(core: str, python: str) -> Path:
    path = CACHE / f"core-{core}"
    exe = path / "bin" / "python"
    if not exe.exists():
        subprocess.run([python, "-m", "venv", str(path)], check=True)
    wanted = [f"ansible-core>={core},<{core}.999", *PACKAGES]
    have = subprocess.run([str(exe), "-c", "import ansible, pytest, kubernetes; print(ansible.__version__)"],
                          capture_output=True, text=True)
    if have.returncode != 0 or not have.stdout.startswith(core + "."):
        subprocess.run([str(exe), "-m", "pip", "install", "-q", "--upgrade", *wanted], check=True)
    return exe


def run(exe: Path, args: list, log: Path, timeout: int) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{exe.parent}:{env.get('PATH', '')}"
    started = time.monotonic()
    proc = subprocess.run([str(exe), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    log.write_text(proc.stdout + proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return proc.returncode, (lines[-1] if lines else proc.stderr.strip()[-200:]), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cores", nargs="*", default=list(CORES))
    parser.add_argument("--no-sanity", action="store_true")
    opts = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    rows, failed = [], False
    for core in opts.cores:
        python = python_for(CORES[core])
        if python is None:
            rows.append((core, "-", "skipped: no Python " + " / ".join(CORES[core]) + " on this machine", "", ""))
            print(f"[matrix] ansible-core {core}: skipped, no Python {' / '.join(CORES[core])}", flush=True)
            continue
        exe = venv(core, python)
        version = subprocess.run([str(exe), "-c", "import ansible, sys; print(ansible.__version__, "
                                  "sys.version.split()[0])"], capture_output=True, text=True).stdout.split()
        print(f"[matrix] ansible-core {version[0]} on Python {version[1]}: unit tests ...", flush=True)
        rc, unit, secs = run(exe, ["tests/unit"], CACHE / f"unit-{core}.log", 1200)
        failed |= rc != 0
        sanity = "not run"
        if not opts.no_sanity:
            print(f"[matrix] ansible-core {version[0]}: ansible-test sanity ...", flush=True)
            src, sanity, ssecs = run(exe, ["tests/static/test_sanity.py"], CACHE / f"sanity-{core}.log", 3600)
            failed |= src != 0
            sanity = f"{'ok' if src == 0 else 'FAILED'}: {sanity} ({ssecs:.0f} s)"
        rows.append((core, f"{version[0]} / Python {version[1]}", f"{'ok' if rc == 0 else 'FAILED'}: {unit} "
                     f"({secs:.0f} s)", sanity, f".cache/matrix/unit-{core}.log"))
        print(f"[matrix] ansible-core {version[0]}: unit {rows[-1][2]}; sanity {sanity}", flush=True)
    table = ["| ansible-core | version / Python | unit tests (incl. core_internals) | ansible-test sanity | log |",
             "|---|---|---|---|---|"] + ["| " + " | ".join(r) + " |" for r in rows]
    (CACHE / "results.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
