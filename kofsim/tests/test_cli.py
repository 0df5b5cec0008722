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
from kofsim_clients import BIN, kubectl


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


def test_expose_answers_a_services_proxy_subresource_from_a_real_process(tmp_path):
    """`kofsim expose`: what kube-apiserver's services/proxy does with a Service's endpoints, from a process that
    stands in for its pods (the demo's VictoriaMetrics behind kof-mothership-promxy): method, path, query and body
    go through; no backend is kube-apiserver's 503, an unknown Service its 404."""
    import http.server
    import threading

    seen = []

    class Backend(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.command, self.path, body, self.headers.get("Content-Type")))
            out = b'{"status":"success"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    d = tmp_path / "sim"
    assert kofsim("up", "--dir", d, "--bare").returncode == 0
    try:
        env = dict(os.environ, KUBECONFIG=str(d / "kubeconfig"))

        def kc(*args, input=None):
            return subprocess.run([str(BIN / "kubectl"), *args], capture_output=True, text=True, env=env,
                                  input=input, timeout=60)
        assert kc("create", "namespace", "kof").returncode == 0
        svc = "apiVersion: v1\nkind: Service\nmetadata: {name: promxy, namespace: kof}\nspec: {ports: [{port: 8082}]}\n"
        assert kc("apply", "-f", "-", input=svc).returncode == 0
        path = "/api/v1/namespaces/kof/services/promxy:8082/proxy/api/v1/query_range"
        none = kc("get", "--raw", path)
        assert none.returncode != 0 and 'no endpoints available for service "promxy:8082"' in none.stderr
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        res = kofsim("expose", "--dir", d, "kof/promxy:8082", url)
        assert res.returncode == 0, res.stderr
        out = kc("create", "--raw", path + "?step=3600", "-f", "-", input="query=sum(node_cpu_hourly_cost)")
        assert out.returncode == 0 and out.stdout.strip() == '{"status":"success"}', out.stderr
        method, got_path, body, _ctype = seen[-1]
        assert (method, got_path, body) == ("POST", "/api/v1/query_range?step=3600", b"query=sum(node_cpu_hourly_cost)")
        gone = kc("get", "--raw", "/api/v1/namespaces/kof/services/nope:8082/proxy/")
        assert gone.returncode != 0 and 'services "nope" not found' in gone.stderr
        assert kofsim("expose", "--dir", d, "kof/promxy:8082").returncode == 0  # no URL: removed
        assert "no endpoints available" in kc("get", "--raw", path).stderr
        assert kofsim("expose", "--dir", d, "promxy").returncode == 2
    finally:
        kofsim("down", "--dir", d)
        httpd.shutdown()
