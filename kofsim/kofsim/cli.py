"""kofsim command line: `up` (background), `down`, `serve` (foreground)."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp import web

from . import realapi
from .server import Simulator, make_app
from .tls import kubeconfig, make_ca_and_server


def _common(p):
    p.add_argument("--dir", required=True, help="state directory: kubeconfig, token, pid, port, certificates, log")
    p.add_argument("--port", type=int, default=0, help="HTTPS port on 127.0.0.1 (0: any free port)")
    p.add_argument("--latency-ms", type=int, default=0, help="added to every API request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="fraction of API requests answered with a fault")
    p.add_argument("--ready-after", type=float, default=0.0,
                   help="seconds before a ClusterDeployment reports Ready (k0rdent mode)")
    p.add_argument("--bare", action="store_true", help="a plain Kubernetes cluster: no k0rdent, no Sveltos")
    p.add_argument("--k8s-version", default="v1.36.1", help="version reported by /version")
    p.add_argument("--lb-domain", default="",
                   help="the management cluster hands out load-balancer hostnames <hash>.<LB_DOMAIN>, as one in a "
                        "cloud does (default: none, like kind); workload clusters always do")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kofsim", description="Kubernetes API emulator with a simulated k0rdent "
                                 "management cluster, for testing k0rdent.kof")
    sub = ap.add_subparsers(dest="cmd", required=True)
    _common(sub.add_parser("serve", help="run in the foreground"))
    up_p = sub.add_parser("up", help="start in the background and return when it answers")
    _common(up_p)
    up_p.add_argument("--api", choices=("emulator", "real"), default="emulator",
                      help="emulator (default), or real: etcd, kube-apiserver and kube-controller-manager built "
                      "by kofsim/realkube/build.sh, with the upstream CRDs and kofsim's simulated k0rdent as a "
                      "process of controllers (`kofsim controllers`; --bare: none); --latency-ms and --fault-rate "
                      "apply to the emulator only")
    down = sub.add_parser("down", help="stop a server started with `up`")
    down.add_argument("--dir", required=True)
    ctl = sub.add_parser("controllers", help="kofsim's simulated k0rdent (kcm, Sveltos, the KOF operators, the "
                         "workload clusters, kcm's webhooks) against a kube-apiserver; `up --api real` starts it")
    ctl.add_argument("--dir", required=True, help="state directory (the real backend's: workload clusters, logs)")
    ctl.add_argument("--kubeconfig", help="the management cluster (default: DIR/kubeconfig)")
    ctl.add_argument("--ready-after", type=float, default=None,
                     help="extra seconds before a ClusterDeployment reports Ready")
    ctl.add_argument("--no-nodes", action="store_true",
                     help="no simulated node, scheduler, kubelet or provisioner (a cluster that has real ones)")
    exp = sub.add_parser("expose", help="answer a Service's proxy subresource from a real process (e.g. "
                         "kof/kof-mothership-promxy:8082 from VictoriaMetrics); emulator only")
    exp.add_argument("--dir", required=True)
    exp.add_argument("--cluster", default="", help="a workload cluster's id (namespace/name); default: management")
    exp.add_argument("service", help="NAMESPACE/NAME:PORT")
    exp.add_argument("url", nargs="?", default="", help="where the Service's pods would answer (none: remove)")
    args = ap.parse_args(argv)
    if args.cmd == "expose":
        return expose(Path(args.dir), args.cluster, args.service, args.url)
    if args.cmd == "serve":
        return serve(args)
    if args.cmd == "controllers":
        from .k0rdent.process import run  # noqa: WPS433 (only this command needs it)
        return run(args.dir, args.kubeconfig, ready_after=args.ready_after, simulate_nodes=not args.no_nodes)
    if args.cmd == "up":
        if args.api == "real":
            stop(Path(args.dir).resolve(), quiet=True)
            return realapi.up(args)
        realapi.down(Path(args.dir), quiet=True)
        return up(args)
    if realapi.is_real(Path(args.dir)):
        return realapi.down(Path(args.dir))
    return stop(Path(args.dir))


def serve(args) -> int:
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("port", "kubeconfig", "ready"):
        (d / stale).unlink(missing_ok=True)
    ca, crt, key = make_ca_and_server(d)
    sim = Simulator(latency_ms=args.latency_ms, fault_rate=args.fault_rate, ready_after=args.ready_after,
                    k0rdent=not args.bare, k8s_version=args.k8s_version, lb_domain=args.lb_domain or None)
    sim.ca_pem = ca.read_bytes()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)

    async def run():
        app = make_app(sim)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, ssl_context=ctx, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        sim.base_url = f"https://127.0.0.1:{port}"
        (d / "token").write_text(sim.token + "\n")
        os.chmod(d / "token", 0o600)
        kc = d / "kubeconfig"
        kc.write_text(kubeconfig(sim.base_url, sim.ca_pem, sim.token, "kofsim-mgmt"))
        os.chmod(kc, 0o600)
        (d / "port").write_text(f"{port}\n")
        (d / "pid").write_text(f"{os.getpid()}\n")
        print(f"kofsim serving on {sim.base_url} (kubeconfig {kc})", flush=True)
        stop_ev = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop_ev.set)
        await stop_ev.wait()
        sim.close_watches()  # open watches would otherwise hold the shutdown until they time out
        await runner.cleanup()

    asyncio.run(run())
    return 0


def up(args) -> int:
    d = Path(args.dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    stop(d, quiet=True)
    (d / "port").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "kofsim.cli", "serve", "--dir", str(d), "--port", str(args.port),
           "--latency-ms", str(args.latency_ms), "--fault-rate", str(args.fault_rate),
           "--ready-after", str(args.ready_after), "--k8s-version", args.k8s_version]
    if args.lb_domain:
        cmd += ["--lb-domain", args.lb_domain]
    if args.bare:
        cmd.append("--bare")
    log = open(d / "log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    (d / "pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.stderr.write(f"kofsim exited early ({proc.returncode}); see {d / 'log'}\n")
            sys.stderr.write((d / "log").read_text()[-3000:])
            return 1
        port_file = d / "port"
        if port_file.exists() and port_file.read_text().strip():
            port = int(port_file.read_text())
            try:
                ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
                req = urllib.request.Request(f"https://127.0.0.1:{port}/kofsim/healthz",
                                             headers={"Authorization": "Bearer " + (d / "token").read_text().strip()})
                with urllib.request.urlopen(req, context=ctx, timeout=2) as r:
                    if r.status == 200:
                        print(str(d / "kubeconfig"))
                        return 0
            except OSError:
                pass
        time.sleep(0.05)
    sys.stderr.write("kofsim did not answer within 30s\n")
    stop(d, quiet=True)
    return 1


def expose(d: Path, cluster: str, service: str, url: str) -> int:
    m = re.fullmatch(r"([^/]+)/([^/:]+):([A-Za-z0-9-]+)", service)
    if m is None:
        sys.stderr.write(f"kofsim expose: {service!r} is not NAMESPACE/NAME:PORT\n")
        return 2
    if realapi.is_real(d):
        sys.stderr.write("kofsim expose: the real backend proxies to real endpoints only\n")
        return 2
    try:
        port = int((d / "port").read_text())
        token = (d / "token").read_text().strip()
    except (OSError, ValueError):
        sys.stderr.write(f"kofsim expose: no kofsim running in {d}\n")
        return 1
    body = json.dumps({"cluster": cluster, "namespace": m.group(1), "name": m.group(2), "port": m.group(3),
                       "url": url or None}).encode()
    req = urllib.request.Request(f"https://127.0.0.1:{port}/kofsim/services", data=body, method="PUT",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(d / "ca.crt")),
                                    timeout=10) as r:
            r.read()
    except urllib.error.HTTPError as err:
        sys.stderr.write(f"kofsim expose: {err.code} {err.read().decode(errors='replace')}\n")
        return 1
    return 0


def _is_our_server(pid: int, d: Path) -> bool:
    """The pid file may be stale and its number reused by an unrelated process: only a `kofsim serve` of this
    directory is ours to stop."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc (not Linux): trust the pid file
    if "kofsim.cli" not in argv or "serve" not in argv or "--dir" not in argv:
        return False
    i = argv.index("--dir")
    return i + 1 < len(argv) and Path(argv[i + 1]).resolve() == d.resolve()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an exited child nobody reaped yet (a zombie) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop(d: Path, quiet=False) -> int:
    pid_file = d / "pid"
    if not pid_file.exists():
        if not quiet:
            print("kofsim: not running")
        return 0
    try:
        pid = int(pid_file.read_text().strip())
        if not _is_our_server(pid, d):
            raise ProcessLookupError(pid)
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            time.sleep(0.05)
            if not _alive(pid):
                break
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, ValueError):
        pass
    pid_file.unlink(missing_ok=True)
    (d / "port").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
