"""Test harness for kofsim: start/stop a real kofsim process and drive its control API.

Used by this repository's pytest suites, molecule scenarios, the demo and the benchmark. Everything goes
through the real HTTPS endpoint that `kofsim up` opens; nothing here reaches into the server's memory.
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

MUTATING = ("POST", "PUT", "PATCH", "DELETE")


class KofsimError(RuntimeError):
    pass


def server_env(kcm_api_version: str | None) -> dict:
    """The environment of the server processes `kofsim up` starts. kcm_api_version ("v1alpha1": kcm 0.1.x for KOF
    0.1.1; "v1beta1": kcm 1.x for KOF 1.x) is set there only, so the tests' own environment never changes."""
    env = dict(os.environ)
    if kcm_api_version:
        env["KOFSIM_KCM_API_VERSION"] = kcm_api_version
    return env


class Kofsim:
    """A kofsim server process managed through `kofsim up` / `kofsim down`."""

    def __init__(self, directory: str | os.PathLike | None = None, *, port: int = 0, latency_ms: int = 0,
                 fault_rate: float = 0.0, ready_after: float = 0.0, bare: bool = False, extra_args=(),
                 kcm_api_version: str | None = None):
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="kofsim-"))
        self.port = port
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.ready_after = ready_after
        self.bare = bare
        self.extra_args = list(extra_args)
        self.kcm_api_version = kcm_api_version
        self._ctx = None

    # -- process -------------------------------------------------------------------------------
    @staticmethod
    def executable() -> str:
        exe = Path(sys.executable).with_name("kofsim")
        return str(exe) if exe.exists() else (shutil.which("kofsim") or "kofsim")

    def start(self) -> "Kofsim":
        args = [self.executable(), "up", "--dir", str(self.dir), "--port", str(self.port),
                "--latency-ms", str(self.latency_ms), "--fault-rate", str(self.fault_rate),
                "--ready-after", str(self.ready_after)]
        if self.bare:
            args.append("--bare")
        args += self.extra_args
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60,
                              env=server_env(self.kcm_api_version))
        if proc.returncode != 0:
            raise KofsimError(f"kofsim up failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        self.port = int((self.dir / "port").read_text().strip())
        return self

    def stop(self) -> None:
        subprocess.run([self.executable(), "down", "--dir", str(self.dir)], capture_output=True, timeout=60)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- connection facts --------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> str:
        return str(self.dir / "kubeconfig")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.dir / "token").read_text().strip()

    @property
    def ca_file(self) -> str:
        return str(self.dir / "ca.crt")

    def env(self, home: str | os.PathLike | None = None) -> dict:
        """Environment for real clients (kubectl, helm, ansible) pointed at this server.

        A private HOME keeps kubectl's and the Python client's discovery caches per server start.
        """
        env = dict(os.environ)
        env["KUBECONFIG"] = self.kubeconfig
        env["K8S_AUTH_KUBECONFIG"] = self.kubeconfig
        if home is not None:
            env["HOME"] = str(home)
        return env

    # -- control API -------------------------------------------------------------------------------
    def _ssl(self):
        if self._ctx is None:
            self._ctx = ssl.create_default_context(cafile=self.ca_file)
        return self._ctx

    def call(self, method: str, path: str, body=None, *, raw: bool = False, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=timeout) as resp:
                payload = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            payload = err.read()
            status = err.code
        if raw:
            return status, payload
        if status >= 400:
            raise KofsimError(f"{method} {path} -> {status}: {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def reset(self) -> None:
        """Back to the freshly seeded state (objects, virtual clusters, faults and request log)."""
        self.call("POST", "/kofsim/reset")

    def requests(self, since: int = 0, cluster: str | None = None) -> list[dict]:
        q = f"?since={since}" + (f"&cluster={cluster}" if cluster else "")
        return self.call("GET", "/kofsim/requests" + q)["requests"]

    def last_seq(self) -> int:
        return self.call("GET", "/kofsim/requests?since=-1")["last"]

    def clear_requests(self) -> None:
        self.call("DELETE", "/kofsim/requests")

    def writes(self, since: int = 0, cluster: str | None = None) -> list[dict]:
        """Mutating requests that were persisted (server-side dry runs are not writes)."""
        return [r for r in self.requests(since, cluster)
                if r["method"] in MUTATING and not r.get("dry_run") and not r["path"].startswith("/kofsim/")]

    def changes(self, since: int = 0, cluster: str | None = None) -> list[dict]:
        """Writes that stored a change (a new resourceVersion). A no-op PATCH/PUT, which kubernetes.core.k8s
        sends on every run, is a write but not a change."""
        return [r for r in self.writes(since, cluster) if r.get("persisted")]

    def set_faults(self, **spec) -> None:
        """Fault injection: rate, kinds (subset of 500, 503, 429, 409, drop, latency), latency_ms,
        retry_after, methods, path_regex, count. See kofsim/README.md."""
        self.call("PUT", "/kofsim/faults", spec)

    def clear_faults(self) -> None:
        self.call("DELETE", "/kofsim/faults")

    def scenario(self, **spec) -> None:
        """k0rdent scripted faults (a ClusterDeployment that never becomes Ready, ...)."""
        self.call("PUT", "/kofsim/scenario", spec)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("GET", "/kofsim/healthz", timeout=2)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


class RealKube:
    """A real control plane (etcd, kube-apiserver, kube-controller-manager built by kofsim/realkube/build.sh,
    the upstream CRDs installed) managed through `kofsim up --api real` / `kofsim down`. Same connection surface
    as Kofsim; no control API (no faults, request log or reset: it is the real server).

    k0rdent=True: the simulated k0rdent management cluster too (`kofsim controllers`: kcm and its webhooks,
    Sveltos, the KOF operators, a real control plane per ClusterDeployment, kofsim's node simulation), as the
    emulator has by default; False (the default here): the plain control plane (`--bare`) with every CRD."""

    def __init__(self, directory: str | os.PathLike | None = None, *, port: int = 0, k0rdent: bool = False,
                 ready_after: float = 0.0, extra_args=(), kcm_api_version: str | None = None):
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="kofsim-real-"))
        self.port = port
        self.k0rdent = k0rdent
        self.ready_after = ready_after
        self.extra_args = list(extra_args)
        self.kcm_api_version = kcm_api_version

    @staticmethod
    def missing() -> str | None:
        """Why the real backend cannot start here (binaries or CRDs not built), or None."""
        from .realapi import missing
        return missing()

    def start(self) -> "RealKube":
        args = [Kofsim.executable(), "up", "--api", "real", "--dir", str(self.dir), "--port", str(self.port)]
        args += ["--ready-after", str(self.ready_after)] if self.k0rdent else ["--bare"]
        proc = subprocess.run(args + self.extra_args, capture_output=True, text=True, timeout=180,
                              env=server_env(self.kcm_api_version))
        if proc.returncode != 0:
            raise KofsimError(f"kofsim up --api real failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        self.port = int((self.dir / "port").read_text().strip())
        return self

    def stop(self) -> None:
        subprocess.run([Kofsim.executable(), "down", "--dir", str(self.dir)], capture_output=True, timeout=120)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self) -> dict[str, int]:
        from .realapi import read_pids
        return read_pids(self.dir)

    def restart(self, component: str, *, kill: bool = False) -> int:
        """Stop one process (kube-apiserver, kube-controller-manager, etcd, kofsim-controllers) and start it again
        with the same command line and port; kill: SIGKILL, as a crash. Returns the new pid. Waits until
        kube-apiserver answers again (or the controllers are ready)."""
        from . import realapi
        ready = self.dir / "controllers.ready"
        if component == realapi.CONTROLLERS:
            ready.unlink(missing_ok=True)
        pid = realapi.restart(self.dir, component, kill=kill)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if component == realapi.CONTROLLERS:
                if ready.exists():
                    return pid
            elif self.healthy():
                return pid
            time.sleep(0.1)
        raise KofsimError(f"{component} did not come back within 60 s")

    def healthy(self) -> bool:
        """kube-apiserver answers /readyz."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        pki = self.dir / "pki"
        ctx.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        try:
            with urllib.request.urlopen(self.url + "/readyz", context=ctx, timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def workload_clusters(self) -> list[str]:
        """The ids (<namespace>/<name>) of the workload clusters' control planes that run."""
        from . import realapi
        return [json.loads((p / "state.json").read_text())["cid"] for p in realapi.workload_planes(self.dir)
                if (p / "state.json").exists()]

    def log(self, component: str = "kofsim-controllers") -> str:
        path = self.dir / "logs" / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    kubeconfig = Kofsim.kubeconfig
    url = Kofsim.url
    ca_file = Kofsim.ca_file
    env = Kofsim.env


def backend(api: str | None = None, directory: str | os.PathLike | None = None, **kwargs) -> "Kofsim | RealKube":
    """A test cluster of either backend, not started: `api` is "emulator" (Kofsim) or "real" (RealKube);
    when None, the KOFSIM_API environment variable chooses (default "emulator"). kwargs go to the class."""
    api = api or os.environ.get("KOFSIM_API", "emulator")
    if api == "emulator":
        return Kofsim(directory, **kwargs)
    if api == "real":
        return RealKube(directory, **kwargs)
    raise ValueError(f"unknown kofsim API backend {api!r} (emulator or real)")
