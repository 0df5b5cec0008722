"""`kofsim up --api real`: a real Kubernetes control plane instead of the emulator.

etcd, kube-apiserver and kube-controller-manager, built from Go modules by kofsim/realkube/build.sh into
.tools/kube/bin, run as background processes on free 127.0.0.1 ports with TLS everywhere (their own CAs for
serving, clients, etcd, and a service-account signing key), RBAC and Node authorization, the default
admission plugins, and the kube-controller-manager controllers a test cluster needs. The upstream CRDs in
.tools/kube/crds are installed, and `up` returns once every one is Established and served in discovery and
the `default` ServiceAccount exists (kube-controller-manager works).

State directory D: kubeconfig (admin: CN=admin, O=system:masters), ca.crt, port, pids (`name pid` lines),
pki/, etcd/ (data), logs/<process>.log. `kofsim down --dir D` stops the processes, etcd last.
"""
from __future__ import annotations

import base64
import datetime as _dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
CONTROLLERS = "kofsim-controllers"  # the simulated k0rdent (`kofsim controllers`), a Python process
# the controllers first (they stop writing), the workload clusters' planes (clusters/), then etcd last
STOP_ORDER = (CONTROLLERS, "kube-controller-manager", "kube-apiserver", "etcd")
# names as `kube-controller-manager --help` lists them (1.36; the short aliases namespace, garbagecollector, ...
# are accepted too)
KCM_CONTROLLERS = ",".join(("namespace-controller", "garbage-collector-controller", "serviceaccount-controller",
                            "serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
                            "clusterrole-aggregation-controller",
                            # workloads and volumes: Deployments get ReplicaSets and Pods, claims bind to the
                            # volumes kofsim's simulated provisioner creates, protection finalizers are removed
                            "deployment-controller", "replicaset-controller", "statefulset-controller",
                            "daemonset-controller", "job-controller", "persistentvolume-binder-controller",
                            "persistentvolumeclaim-protection-controller", "persistentvolume-protection-controller"))
SERVICE_CIDR = "10.0.0.0/24"
START_TIMEOUT = float(os.environ.get("KOFSIM_REAL_TIMEOUT", "90"))


class StartError(RuntimeError):
    pass


def kube_dir() -> Path:
    return Path(os.environ.get("KOFSIM_KUBE_DIR") or ROOT / ".tools" / "kube")


def missing() -> str | None:
    """Why the real backend cannot start here (None when it can)."""
    d = kube_dir()
    absent = [b for b in BINARIES if not os.access(d / "bin" / b, os.X_OK)]
    if absent:
        return f"{', '.join(absent)} not built in {d / 'bin'} (run scripts/setup.sh or kofsim/realkube/build.sh)"
    if not (d / "crds" / "index.json").exists():
        return f"no CRDs in {d / 'crds'} (run kofsim/realkube/build.sh)"
    return None


# kofsim's own CRD files installed next to the upstream ones: kcm v0.1.0 and kof 0.1.1's PromxyServerGroup
# (transcriptions of the real CRDs: their Go modules are not served by the proxy, see kofsim/CRDS.md), and what a
# k0rdent 0.1 management cluster has before KOF (Flux's HelmRepository, cert-manager). Only v1alpha1 of kcm and
# the PromxyServerGroup, the versions kcm 0.1.x and KOF 0.1.1 serve.
KOFSIM_CRD_GROUPS = ("kcm", "kof", "flux", "certmanager")
# what a k0rdent 0.1 management cluster has before KOF (the default, simulated k0rdent, mode of `up --api real`); the
# bare mode installs every CRD above, for tests that judge the collection's objects without KOF's charts
K0RDENT_CRDS = ("sveltos", "kofsim/kcm", "kofsim/flux", "kofsim/certmanager")
KOFSIM_DATA = Path(__file__).resolve().parent / "data" / "crds"
# upstream components of .tools/kube/crds for KOF 1.x (kcm v1.10.0, Flux source-controller v1.8.5, grafana-operator
# v5.21.4): not installed as such; in kcm v1beta1 mode the k0rdent layer's crd_docs picks from them the CRDs kofsim
# serves (kofsim_crds; grafana-operator's with the charts that carry them)
UPSTREAM_1X = ("kcm-1.10", "flux", "grafana-operator-1.10")
KCM_API_VERSIONS = ("v1alpha1", "v1beta1")


def kcm_api_version() -> str:
    """The kcm API version the real backend serves: KOFSIM_KCM_API_VERSION (v1alpha1, kcm 0.1.x and KOF 0.1.1, by
    default; v1beta1, kcm 1.x and KOF 1.x), as the emulator reads it."""
    version = os.environ.get("KOFSIM_KCM_API_VERSION") or "v1alpha1"
    if version not in KCM_API_VERSIONS:
        raise StartError(f"KOFSIM_KCM_API_VERSION must be one of {', '.join(KCM_API_VERSIONS)}, not {version!r}")
    return version


def kofsim_crds(kcm_version: str = "v1alpha1") -> list[tuple[dict, dict]]:
    """(index entry, CRD) of kofsim's own CRDs for the real backend: kcm 0.1.x's generation (v1alpha1 only), or in
    kcm v1beta1 mode exactly what the emulator installs in that mode (k0rdent.layer.crd_docs: kcm v1.10.0's CRDs of
    the kinds kofsim serves, Flux's upstream HelmChart/HelmRepository and kofsim's HelmRelease, kof's
    PromxyServerGroup with v1beta1; kofsim's files for what the build did not extract)."""
    if kcm_version != "v1alpha1":
        return _kofsim_crds_1x(kcm_version)
    out = []
    for group_dir in KOFSIM_CRD_GROUPS:
        for f in sorted((KOFSIM_DATA / group_dir).glob("*.yaml")):
            for crd in yaml.safe_load_all(f.read_text()):
                if not crd:
                    continue
                if group_dir in ("kcm", "kof"):
                    crd["spec"]["versions"] = [dict(v, served=True, storage=True)
                                               for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
                    if not crd["spec"]["versions"]:  # kcm 1.x kinds (ServiceSet): not in the 0.1 generation
                        continue
                out.append((_entry(crd, f"kofsim/{group_dir}", f"kofsim/kofsim/data/crds/{group_dir}/{f.name}"),
                            crd))
    return out


def _entry(crd: dict, component: str, source: str) -> dict:
    return {"name": crd["metadata"]["name"], "group": crd["spec"]["group"],
            "plural": crd["spec"]["names"]["plural"], "kind": crd["spec"]["names"]["kind"],
            "versions": [v["name"] for v in crd["spec"]["versions"] if v.get("served", True)],
            "component": component, "source": source}


def _kofsim_crds_1x(kcm_version: str) -> list[tuple[dict, dict]]:
    import copy  # noqa: WPS433

    from .k0rdent.layer import UPSTREAM_CRDS_1X, crd_docs, upstream_crd_docs  # noqa: WPS433 (heavy, 1.x only)
    out = []
    for group_dir in KOFSIM_CRD_GROUPS:
        upstream = {d["metadata"]["name"] for d in upstream_crd_docs(group_dir, kcm_version) or []}
        for crd in crd_docs(group_dir, kcm_version):
            name = crd["metadata"]["name"]
            source = (f".tools/kube/crds/{UPSTREAM_CRDS_1X[group_dir]} ({name})" if name in upstream
                      else f"kofsim/kofsim/data/crds/{group_dir} ({name})")
            # the component stays kofsim/<dir> (what K0RDENT_CRDS selects); the source says where it came from
            out.append((_entry(crd, f"kofsim/{group_dir}", source), copy.deepcopy(crd)))
    return out


def crd_index() -> list[dict]:
    """The upstream CRDs the real backend installs as extracted (Sveltos', grafana-operator's: both modes); kcm's
    and Flux's of KOF 1.x come through kofsim_crds in kcm v1beta1 mode."""
    return [entry for entry in json.loads((kube_dir() / "crds" / "index.json").read_text())
            if entry["component"] not in UPSTREAM_1X]


# -- certificates ------------------------------------------------------------------------------------------
def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class _CA:
    def __init__(self, cn: str):
        self.now = _dt.datetime.now(_dt.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        ku = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                           key_encipherment=False, data_encipherment=False, key_agreement=False,
                           encipher_only=False, decipher_only=False)
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(self.now - _dt.timedelta(minutes=5))
                     .not_valid_after(self.now + _dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(ku, critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                                    critical=False)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, cn: str, org: str | None = None, *, server: bool = False, client: bool = False,
              dns=(), ips=()):
        key = ec.generate_private_key(ec.SECP256R1())
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
                 ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        b = (x509.CertificateBuilder().subject_name(_name(cn, org)).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(self.now - _dt.timedelta(minutes=5))
             .not_valid_after(self.now + _dt.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                          crl_sign=False, content_commitment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False, decipher_only=False),
                            critical=True)
             .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                            critical=False))
        if dns or ips:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
                critical=False)
        return _pem_cert(b.sign(self.key, hashes.SHA256())), _pem_key(key)


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def make_pki(pki: Path) -> None:
    """Three CAs (apiserver serving, client, etcd) and the service-account signing key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    serving, client, etcd = _CA("kofsim-real-serving-ca"), _CA("kofsim-real-client-ca"), _CA("kofsim-real-etcd-ca")
    for name, ca in (("ca", serving), ("client-ca", client), ("etcd-ca", etcd)):
        _write(pki / f"{name}.crt", _pem_cert(ca.cert))
    svc_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
    pairs = {
        "apiserver": serving.issue("kube-apiserver", server=True, ips=("127.0.0.1", svc_ip), dns=(
            "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local")),
        "admin": client.issue("admin", "system:masters", client=True),
        "kube-controller-manager": client.issue("system:kube-controller-manager", client=True),
        "etcd-server": etcd.issue("etcd", server=True, client=True, ips=("127.0.0.1",), dns=("localhost",)),
        "apiserver-etcd-client": etcd.issue("kube-apiserver-etcd-client", client=True),
    }
    for name, (crt, key) in pairs.items():
        _write(pki / f"{name}.crt", crt)
        _write(pki / f"{name}.key", key, private=True)
    sa = ec.generate_private_key(ec.SECP256R1())
    _write(pki / "sa.key", _pem_key(sa), private=True)
    _write(pki / "sa.pub", sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig_text(server: str, ca_pem: bytes, crt: Path, key: Path, name: str = "kofsim-real") -> str:
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server,
                                                "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": f"{name}-user", "user": {
            "client-certificate-data": base64.b64encode(crt.read_bytes()).decode(),
            "client-key-data": base64.b64encode(key.read_bytes()).decode()}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-user", "namespace": "default"}}],
        "current-context": name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


# -- processes -----------------------------------------------------------------------------------------------
def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def read_pids(d: Path) -> dict[str, int]:
    pids = {}
    try:
        for line in (d / "pids").read_text().splitlines():
            name, _, pid = line.partition(" ")
            if pid.strip().isdigit():
                pids[name] = int(pid)
    except FileNotFoundError:
        pass
    return pids


def _is_ours(pid: int, name: str, d: Path) -> bool:
    """A pid file may be stale and its number reused: only our binary, started for this directory, counts."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc: trust the pid file
    if name == CONTROLLERS:
        return "kofsim.cli" in argv and "controllers" in argv and any(str(d) in a for a in argv)
    return bool(argv) and Path(argv[0]).name == name and any(str(d) in a for a in argv[1:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def is_real(d: Path) -> bool:
    return (Path(d) / "pids").exists()


def spawn(d: Path, name: str, argv: list[str], *, logs: Path | None = None) -> subprocess.Popen:
    """Start argv in its own session (it outlives `kofsim up` and a ^C to the caller's terminal), its output in
    logs/<name>.log; record `name pid` in d/pids and the command line in d/cmd/<name>.json (for restart())."""
    logs = logs or d / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"{name}.log", "ab")
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=d,
                                start_new_session=True)
    finally:
        log.close()
    (d / "cmd").mkdir(exist_ok=True)
    (d / "cmd" / f"{name}.json").write_text(json.dumps({"argv": argv, "logs": str(logs)}))
    pids = read_pids(d)
    pids[name] = proc.pid
    (d / "pids").write_text("".join(f"{n} {p}\n" for n, p in pids.items()))
    return proc


def stop_process(d: Path, name: str, pid: int, timeout: float = 15) -> None:
    """SIGTERM (SIGKILL after timeout) to one of our processes, and wait until it has exited."""
    if not _is_ours(pid, name, d):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
    except ProcessLookupError:
        pass


def restart(d: Path, name: str, *, kill: bool = False) -> int:
    """Stop one process of `d` (kube-apiserver, kube-controller-manager, etcd, kofsim-controllers) and start it
    again with the same command line; returns the new pid. kill: SIGKILL (a crash) instead of SIGTERM."""
    d = Path(d).resolve()
    cmd = json.loads((d / "cmd" / f"{name}.json").read_text())
    pid = read_pids(d).get(name)
    if pid is not None and _is_ours(pid, name, d):
        if kill:
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.02)
        else:
            stop_process(d, name, pid)
    return spawn(d, name, cmd["argv"], logs=Path(cmd["logs"])).pid


def workload_planes(d: Path) -> list[Path]:
    """The directories of the workload clusters' control planes the controllers started (realfleet.py)."""
    root = Path(d) / "clusters"
    return sorted(p for p in root.iterdir() if (p / "pids").exists()) if root.is_dir() else []


def down(d: Path, quiet: bool = False) -> int:
    """Stops every process `up` started in `d`: the simulated k0rdent's controllers, the workload clusters' control
    planes, then kube-controller-manager, kube-apiserver and etcd, waiting for each to exit (SIGKILL after 15 s)."""
    d = Path(d).resolve()
    pids = read_pids(d)
    if not pids and not workload_planes(d):
        if not quiet:
            print("kofsim: not running")
        return 0
    if CONTROLLERS in pids:
        stop_process(d, CONTROLLERS, pids[CONTROLLERS])
    for plane in workload_planes(d):
        cpids = read_pids(plane)
        for name in STOP_ORDER:
            if name in cpids:
                stop_process(plane, name, cpids[name])
        (plane / "pids").unlink(missing_ok=True)
    for name in STOP_ORDER + tuple(n for n in pids if n not in STOP_ORDER):
        if name != CONTROLLERS and pids.get(name) is not None:
            stop_process(d, name, pids[name])
    (d / "pids").unlink(missing_ok=True)
    (d / "port").unlink(missing_ok=True)
    return 0


def apiserver_args(pki: Path, *, etcd_url: str, port: int, client_ca: Path, etcd_prefix: str | None = None,
                   etcd_pki: Path | None = None) -> list[str]:
    """kube-apiserver's flags for a kofsim control plane (the management cluster's, or a workload cluster's with
    its own etcd prefix and client CA, sharing etcd and the serving certificate)."""
    p, e = pki, etcd_pki or pki
    args = [
        f"--etcd-servers={etcd_url}", f"--etcd-cafile={e / 'etcd-ca.crt'}",
        f"--etcd-certfile={e / 'apiserver-etcd-client.crt'}", f"--etcd-keyfile={e / 'apiserver-etcd-client.key'}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={client_ca}",
        "--authorization-mode=Node,RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer=https://127.0.0.1:{port}", f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        # the `kubernetes` Service's endpoints cannot hold a loopback address, and nothing in-cluster uses it
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true", "--profiling=false",
    ]
    if etcd_prefix:
        args.append(f"--etcd-prefix={etcd_prefix}")
    return args


def controller_manager_args(kubeconfig: Path, pki: Path) -> list[str]:
    return [f"--kubeconfig={kubeconfig}", f"--controllers={KCM_CONTROLLERS}", "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false"]


class _Plane:
    def __init__(self, d: Path, port: int = 0):
        self.d = d
        self.bin = kube_dir() / "bin"
        self.pki = d / "pki"
        self.logs = d / "logs"
        self.procs: dict[str, subprocess.Popen] = {}
        etcd_client, etcd_peer, api = free_ports(3)
        self.etcd_url, self.etcd_peer = f"https://127.0.0.1:{etcd_client}", f"http://127.0.0.1:{etcd_peer}"
        self.port = port or api
        self.url = f"https://127.0.0.1:{self.port}"
        self._ctx = None

    def spawn(self, name: str, args: list[str]) -> None:
        self.procs[name] = spawn(self.d, name, [str(self.bin / name)] + args, logs=self.logs)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise StartError(f"{name} exited ({proc.returncode}); see {self.logs / (name + '.log')}:\n{tail}")

    def wait(self, what: str, probe, deadline: float, interval: float = 0.05):
        while True:
            self.check_alive()
            try:
                result = probe()
                if result:
                    return result
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise StartError(f"timed out waiting for {what}")
            time.sleep(interval)

    # -- HTTPS to etcd and the apiserver -----------------------------------------------------------------
    def ctx(self):
        if self._ctx is None:
            self._ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
            self._ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        return self._ctx

    def api(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Accept": "application/json", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx(), timeout=10) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                return e.code, json.loads(payload)
            except ValueError:
                return e.code, {"message": payload.decode(errors="replace")}

    def etcd_healthy(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.pki / "etcd-ca.crt"))
        ctx.load_cert_chain(self.pki / "apiserver-etcd-client.crt", self.pki / "apiserver-etcd-client.key")
        with urllib.request.urlopen(self.etcd_url + "/health", context=ctx, timeout=2) as r:
            return json.loads(r.read()).get("health") == "true"

    def apiserver_ready(self) -> bool:
        req = urllib.request.Request(self.url + "/readyz")
        try:
            with urllib.request.urlopen(req, context=self.ctx(), timeout=5) as r:
                return r.status == 200
        except urllib.error.HTTPError:
            return False

    # -- the three processes -------------------------------------------------------------------------------
    def start_etcd(self) -> None:
        p = self.pki
        self.spawn("etcd", [
            "--name=kofsim", f"--data-dir={self.d / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={self.etcd_peer}", f"--initial-advertise-peer-urls={self.etcd_peer}",
            f"--initial-cluster=kofsim={self.etcd_peer}", "--initial-cluster-state=new",
            f"--cert-file={p / 'etcd-server.crt'}", f"--key-file={p / 'etcd-server.key'}",
            "--client-cert-auth=true", f"--trusted-ca-file={p / 'etcd-ca.crt'}",
            "--unsafe-no-fsync=true", "--log-level=warn", "--logger=zap",
        ])

    def start_apiserver(self) -> None:
        self.spawn("kube-apiserver", apiserver_args(self.pki, etcd_url=self.etcd_url, port=self.port,
                                                    client_ca=self.pki / "client-ca.crt"))

    def start_controller_manager(self) -> None:
        p = self.pki
        kc = self.d / "kube-controller-manager.kubeconfig"
        kc.write_text(kubeconfig_text(self.url, (p / "ca.crt").read_bytes(), p / "kube-controller-manager.crt",
                                      p / "kube-controller-manager.key", "kube-controller-manager"))
        kc.chmod(0o600)
        self.spawn("kube-controller-manager", controller_manager_args(kc, p))

    def start_controllers(self, deadline: float) -> None:
        """The simulated k0rdent (kofsim controllers): kcm, Sveltos, the operators, the workload clusters and
        kcm's webhooks, against this kube-apiserver; `up` returns once it has seeded the cluster and serves."""
        (self.d / "controllers.ready").unlink(missing_ok=True)
        proc = spawn(self.d, CONTROLLERS, [sys.executable, "-m", "kofsim.cli", "controllers", "--dir", str(self.d)],
                     logs=self.logs)
        self.procs[CONTROLLERS] = proc
        self.wait("the simulated k0rdent (kofsim controllers)", lambda: (self.d / "controllers.ready").exists(),
                  deadline, 0.1)

    # -- CRDs ------------------------------------------------------------------------------------------------
    def install_crds(self, deadline: float, components=None, kcm_version: str = "v1alpha1") -> int:
        """The upstream CRDs and kofsim's (every one, or those of `components`: a k0rdent management cluster before
        KOF has kcm's, Sveltos', Flux's and cert-manager's; KOF's arrive with its charts), of kcm's generation
        `kcm_version`."""
        root = kube_dir() / "crds"
        upstream = [(entry, yaml.safe_load((root / entry["file"]).read_text())) for entry in crd_index()]
        names = {entry["name"] for entry, _ in upstream}
        ours = [(entry, crd) for entry, crd in kofsim_crds(kcm_version) if entry["name"] not in names]
        if components is not None:
            upstream = [(e, c) for e, c in upstream if e["component"] in components]
            ours = [(e, c) for e, c in ours if e["component"] in components]
        index = [entry for entry, _ in upstream + ours]
        for entry, crd in upstream + ours:
            status, body = self.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            if status not in (201, 409):
                raise StartError(f"CRD {entry['name']} from {entry['source']} refused ({status}): "
                                 f"{body.get('message', body)}")

        def established(entry):
            status, crd = self.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{entry['name']}")
            return status == 200 and any(c["type"] == "Established" and c["status"] == "True"
                                         for c in crd.get("status", {}).get("conditions", []))

        def discovered(entry):
            for version in entry["versions"]:
                status, lst = self.api("GET", f"/apis/{entry['group']}/{version}")
                if status != 200 or entry["plural"] not in {r["name"] for r in lst.get("resources", [])}:
                    return False
            return True

        for entry in index:
            self.wait(f"CRD {entry['name']} Established", lambda: established(entry), deadline)
        for entry in index:
            self.wait(f"CRD {entry['name']} in discovery", lambda: discovered(entry), deadline)
        return len(index)

    def default_service_account(self) -> bool:
        return self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200


def up(args) -> int:
    d = Path(args.dir).resolve()
    emulator_only = [f"--{f.replace('_', '-')}" for f, default in (("latency_ms", 0), ("fault_rate", 0.0),
                                                                   ("lb_domain", ""))
                     if getattr(args, f, default) != default]
    if emulator_only:
        sys.stderr.write(f"kofsim: {', '.join(emulator_only)} apply to the emulator only, not to --api real\n")
        return 2
    reason = missing()
    if reason:
        sys.stderr.write(f"kofsim: the real API backend is not available: {reason}\n")
        return 1
    d.mkdir(parents=True, exist_ok=True)
    down(d, quiet=True)
    for stale in ("port", "kubeconfig", "ca.crt", "pids", "token", "kube-controller-manager.kubeconfig", "etcd.url",
                  "controllers.ready", "controllers.json", "webhook.port"):
        (d / stale).unlink(missing_ok=True)
    for stale in ("pki", "etcd", "clusters", "cmd"):
        shutil.rmtree(d / stale, ignore_errors=True)
    (d / "logs").mkdir(exist_ok=True)
    t0 = time.monotonic()
    deadline = t0 + START_TIMEOUT
    try:
        kcm_version = kcm_api_version()
    except StartError as exc:
        sys.stderr.write(f"kofsim: {exc}\n")
        return 2
    try:
        make_pki(d / "pki")
        shutil.copyfile(d / "pki" / "ca.crt", d / "ca.crt")
        plane = _Plane(d, getattr(args, "port", 0) or 0)
        plane.start_etcd()
        plane.wait("etcd", plane.etcd_healthy, deadline)
        plane.start_apiserver()
        plane.wait("kube-apiserver /readyz", plane.apiserver_ready, deadline, 0.1)
        plane.start_controller_manager()
        n = plane.install_crds(deadline, None if getattr(args, "bare", False) else K0RDENT_CRDS, kcm_version)
        plane.wait("the default ServiceAccount (kube-controller-manager)", plane.default_service_account,
                   deadline, 0.1)
        kc = d / "kubeconfig"
        kc.write_text(kubeconfig_text(plane.url, (d / "ca.crt").read_bytes(), d / "pki" / "admin.crt",
                                      d / "pki" / "admin.key"))
        kc.chmod(0o600)
        (d / "etcd.url").write_text(plane.etcd_url + "\n")
        (d / "controllers.json").write_text(json.dumps({"ready_after": float(getattr(args, "ready_after", 0) or 0),
                                                        "kcm_version": kcm_version}))
        if not getattr(args, "bare", False):
            plane.start_controllers(deadline)
        (d / "port").write_text(f"{plane.port}\n")
    except BaseException as exc:  # a failed start leaves nothing running, also on ^C
        down(d, quiet=True)
        if not isinstance(exc, (StartError, OSError)):
            raise
        sys.stderr.write(f"kofsim: the real control plane did not start: {exc}\n")
        return 1
    what = "" if getattr(args, "bare", False) else ", simulated k0rdent"
    what += f", kcm {kcm_version}" if kcm_version != "v1alpha1" else ""
    sys.stderr.write(f"kofsim: real control plane on {plane.url} ({n} CRDs{what}) in {time.monotonic() - t0:.1f} s\n")
    print(str(d / "kubeconfig"))
    return 0
