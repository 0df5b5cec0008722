"""`kofsim up` / `down` / `serve`: state files, replacing a running server, stopping, CLI options."""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time

import yaml
from kofsim.testing import Kofsim
from kofsim_clients import kubectl


def kofsim(*args, timeout=60):
    return subprocess.run([Kofsim.executable(), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def test_up_down_and_replacing_a_running_server(tmp_path):
    d = tmp_path / "sim"
    res = kofsim("up", "--dir", d, "--bare", "--latency-ms", "40")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(d / "kubeconfig")
    for name in ("kubeconfig", "pid", "port", "token", "ca.crt", "server.crt", "server.key", "log"):
        assert (d / name).exists(), name
    for secret in ("kubeconfig", "token", "server.key"):
        assert (d / secret).stat().st_mode & 0o077 == 0, secret
    kc = yaml.safe_load((d / "kubeconfig").read_text())
    cluster = kc["clusters"][0]["cluster"]
    assert cluster["server"].startswith("https://127.0.0.1:")
    assert base64.b64decode(cluster["certificate-authority-data"]) == (d / "ca.crt").read_bytes()
    assert kc["users"][0]["user"]["token"] == (d / "token").read_text().strip()
    pid1 = int((d / "pid").read_text())
    assert alive(pid1)

    k = Kofsim(d)
    k.port = int((d / "port").read_text())
    k.home = tmp_path / "home"
    t0 = time.monotonic()
    out = kubectl(k, "get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/default" in out and time.monotonic() - t0 >= 0.04  # --latency-ms on every request
    assert k.call("GET", "/kofsim/healthz")["ok"] is True

    # a second `up` in the same directory replaces the first server (new process, token and CA)
    token1 = k.token
    assert kofsim("up", "--dir", d, "--bare").returncode == 0
    pid2 = int((d / "pid").read_text())
    assert pid2 != pid1 and alive(pid2) and not alive(pid1)
    assert (d / "token").read_text().strip() != token1

    assert kofsim("down", "--dir", d).returncode == 0
    assert not alive(pid2) and not (d / "pid").exists() and not (d / "port").exists()
    again = kofsim("down", "--dir", d)
    assert again.returncode == 0 and "not running" in again.stdout


def test_down_leaves_unrelated_processes_alone(tmp_path):
    # a stale pid file whose number now belongs to some other process must not get that process killed
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        d = tmp_path / "stale"
        d.mkdir()
        (d / "pid").write_text(f"{other.pid}\n")
        assert kofsim("down", "--dir", d).returncode == 0
        assert other.poll() is None and not (d / "pid").exists()
    finally:
        other.kill()
        other.wait()


def test_serve_runs_in_the_foreground_and_stops_on_sigterm(tmp_path):
    d = tmp_path / "fg"
    proc = subprocess.Popen([Kofsim.executable(), "serve", "--dir", str(d), "--bare", "--fault-rate", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        k = Kofsim(d)
        deadline = time.monotonic() + 30
        while not (d / "port").exists() and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.05)
        k.port = int((d / "port").read_text())
        k.wait_ready()
        assert k.call("GET", "/kofsim/faults") == {"rate": 0.5}
        k.reset()  # the start-up fault rate survives a reset: it is part of the fresh state
        assert k.call("GET", "/kofsim/faults") == {"rate": 0.5}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "kofsim serving on https://127.0.0.1:" in out
