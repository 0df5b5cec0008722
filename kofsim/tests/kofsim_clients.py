"""Run real clients (kubectl, helm 3, helm 4) against a kofsim server from tests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".tools" / "bin"


def run_env(k, env_extra=None) -> dict:
    env = k.env(home=k.home)
    env["PATH"] = f"{BIN}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.update(env_extra or {})
    return env


def run(k, *args, check=True, input=None, binary="kubectl", env_extra=None):
    env = run_env(k, env_extra)
    proc = subprocess.run([str(BIN / binary), *args], capture_output=True, text=True, env=env, input=input,
                          timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"{binary} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def kubectl(k, *args, **kw):
    return run(k, *args, **kw)


def helm(k, version, *args, **kw):
    return run(k, *args, binary=f"helm{version}", **kw)
