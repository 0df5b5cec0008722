"""The workload clusters of the real backend: one real kube-apiserver (and kube-controller-manager) per
ClusterDeployment, the same v1.36.3 binaries as the management cluster's.

Why a control plane each, and not a namespaced view served by the emulator: the collection reaches the workload
clusters through the kubeconfig Secrets kcm writes (verify lists their pods, backup reads and restore writes their
Grafana and VictoriaMetrics objects, Sveltos installs charts into them), and on the real backend those requests
meet the real server's validation, RBAC, watch and garbage collection too. It stays light: the planes share the
management cluster's etcd (each under its own `--etcd-prefix`, removed with the cluster) and its serving
certificate; each has its own client CA (a cluster's admin kubeconfig is worthless on another), starts in about 3 s
and idles at about 0 % CPU and 250-450 MB RSS (kofsim/K0RDENT.md has the measurements).

A plane lives in `<dir>/clusters/<namespace>--<name>/` (`pids`, `cmd/`, `logs/`, `pki/`, `state.json`) and is a
separate process group: it survives a restart of `kofsim controllers` (as a cluster survives a restart of kcm),
which finds it again; `kofsim down` stops them all.
"""
from __future__ import annotations

import base64
import json
import logging
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from .. import realapi
from .rest import RestClient

log = logging.getLogger("kofsim.k0rdent.fleet")
PREFIX = "/kofsim/clusters"


def _prefix_end(key: bytes) -> bytes:
    return key[:-1] + bytes([key[-1] + 1])


class ChildPlane:
    def __init__(self, root: Path, cid: str, region: str = "us-east-2"):
        self.root = root                       # the real backend's state directory
        self.cid = cid
        self.region = region
        self.d = root / "clusters" / cid.replace("/", "--")
        self.port = None
        self.kcm_started = False
        self._version = None
        state = self.d / "state.json"
        if state.exists():
            doc = json.loads(state.read_text())
            self.port, self.region, self.kcm_started = doc["port"], doc.get("region", region), doc.get("kcm", False)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def pki(self):
        return self.d / "pki"

    def _save(self):
        (self.d / "state.json").write_text(json.dumps({"cid": self.cid, "port": self.port, "region": self.region,
                                                       "kcm": self.kcm_started}))

    def start(self):
        """kube-apiserver of this cluster (kube-controller-manager follows once it serves: poll())."""
        self.d.mkdir(parents=True, exist_ok=True)
        self.pki.mkdir(exist_ok=True)
        ca = realapi._CA(f"kofsim {self.cid} client CA")
        realapi._write(self.pki / "client-ca.crt", realapi._pem_cert(ca.cert))
        for name, cn, org in (("admin", "admin", "system:masters"),
                              ("kube-controller-manager", "system:kube-controller-manager", None)):
            crt, key = ca.issue(cn, org, client=True)
            realapi._write(self.pki / f"{name}.crt", crt)
            realapi._write(self.pki / f"{name}.key", key, private=True)
        self.port = realapi.free_ports(1)[0]
        self.kcm_started = False
        etcd_url = (self.root / "etcd.url").read_text().strip()
        mgmt_pki = self.root / "pki"
        argv = [str(realapi.kube_dir() / "bin" / "kube-apiserver")] + realapi.apiserver_args(
            mgmt_pki, etcd_url=etcd_url, port=self.port, client_ca=self.pki / "client-ca.crt",
            etcd_prefix=f"{PREFIX}/{self.cid}/registry")
        realapi.spawn(self.d, "kube-apiserver", argv)
        self._save()

    def _ctx(self):
        ctx = ssl.create_default_context(cafile=str(self.root / "pki" / "ca.crt"))
        ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        return ctx

    def ready(self) -> bool:
        if not self.port:
            return False
        try:
            with urllib.request.urlopen(self.url + "/readyz", context=self._ctx(), timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def alive(self) -> bool:
        pid = realapi.read_pids(self.d).get("kube-apiserver")
        return pid is not None and realapi._alive(pid) and realapi._is_ours(pid, "kube-apiserver", self.root)

    def poll(self) -> bool:
        """True once the cluster serves (and its kube-controller-manager runs)."""
        if not self.ready():
            return False
        if not self.kcm_started:
            mgmt_pki = self.root / "pki"
            kc = self.d / "kube-controller-manager.kubeconfig"
            kc.write_text(realapi.kubeconfig_text(self.url, (mgmt_pki / "ca.crt").read_bytes(),
                                                  self.pki / "kube-controller-manager.crt",
                                                  self.pki / "kube-controller-manager.key", "kube-controller-manager"))
            kc.chmod(0o600)
            realapi.spawn(self.d, "kube-controller-manager", [str(realapi.kube_dir() / "bin" / "kube-controller-manager")]
                          + realapi.controller_manager_args(kc, mgmt_pki))
            self.kcm_started = True
            self._save()
        return True

    def kubeconfig(self, context: str) -> str:
        return realapi.kubeconfig_text(self.url, (self.root / "pki" / "ca.crt").read_bytes(), self.pki / "admin.crt",
                                       self.pki / "admin.key", context)

    def version(self) -> str:
        if self._version is None:
            try:
                with urllib.request.urlopen(self.url + "/version", context=self._ctx(), timeout=5) as r:
                    self._version = json.loads(r.read()).get("gitVersion")
            except (OSError, urllib.error.URLError, ValueError):
                return "v1.36.3"
        return self._version

    def stop(self):
        """The cluster is gone: its processes, its data in etcd, its directory."""
        pids = realapi.read_pids(self.d)
        for name in ("kube-controller-manager", "kube-apiserver"):
            if name in pids:
                realapi.stop_process(self.d, name, pids[name], timeout=10)
        try:
            self._delete_etcd_prefix()
        except (OSError, urllib.error.URLError) as err:
            log.warning("could not delete the etcd data of %s: %s", self.cid, err)
        shutil.rmtree(self.d, ignore_errors=True)

    def _delete_etcd_prefix(self):
        pki = self.root / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "etcd-ca.crt"))
        ctx.load_cert_chain(pki / "apiserver-etcd-client.crt", pki / "apiserver-etcd-client.key")
        key = f"{PREFIX}/{self.cid}/".encode()
        body = json.dumps({"key": base64.b64encode(key).decode(),
                           "range_end": base64.b64encode(_prefix_end(key)).decode()}).encode()
        url = (self.root / "etcd.url").read_text().strip() + "/v3/kv/deleterange"
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            r.read()


class RealFleet:
    """The workload clusters of `kofsim controllers` on the real backend (see the module's docstring)."""

    kind = "real"

    def __init__(self, root: Path, *, dispatch=None, on_attach=None):
        self.root = Path(root)
        self.dispatch = dispatch
        self.on_attach = on_attach
        self.planes: dict[str, ChildPlane] = {}
        self.clients: dict[str, RestClient] = {}
        self.crash: dict[str, set] = {}
        self.nodes: dict = {}  # cid -> kubelet.NodeSim
        for state in sorted((self.root / "clusters").glob("*/state.json")):
            doc = json.loads(state.read_text())
            self.planes[doc["cid"]] = ChildPlane(self.root, doc["cid"], doc.get("region", "us-east-2"))

    def ensure(self, cid: str, *, region: str = "us-east-2"):
        """The cluster's client once its API serves; None while it starts (the caller asks again)."""
        if cid in self.clients:
            return self.clients[cid]
        plane = self.planes.get(cid)
        if plane is None or not plane.port:
            plane = self.planes[cid] = ChildPlane(self.root, cid, region)
            plane.start()
            return None
        if not plane.poll():
            if not plane.alive():
                log.warning("the control plane of %s is not running: starting it again", cid)
                plane.start()
            return None
        client = self.clients[cid] = RestClient(plane.kubeconfig(cid.split("/", 1)[1]), name=cid,
                                                dispatch=self.dispatch)
        if self.on_attach:
            self.on_attach(cid, client)
        return client

    def client(self, cid):
        return self.clients.get(cid)

    def ids(self):
        return sorted(self.planes)

    def kubeconfig(self, cid: str, context: str) -> str | None:
        plane = self.planes.get(cid)
        return plane.kubeconfig(context) if plane and plane.port else None

    def lb_domain(self, cid):
        plane = self.planes.get(cid)
        return f"{plane.region}.elb.amazonaws.com" if plane else None

    def k8s_version(self, cid):
        plane = self.planes.get(cid)
        return plane.version() if plane else None

    def remove(self, cid):
        client = self.clients.pop(cid, None)
        if client is not None:
            client.close()
        self.nodes.pop(cid, None)
        self.crash.pop(cid, None)
        plane = self.planes.pop(cid, None)
        if plane is not None:
            plane.stop()

    def crashloop(self, cid, namespace, prefix):
        self.crash.setdefault(cid, set()).add((namespace, prefix))
        return True

    def crashloops(self, cid):
        return set(self.crash.get(cid, ()))

    def restart_pods(self, cid, namespace, prefix):
        node = self.nodes.get(cid)
        if node is not None:
            node.restart(namespace, prefix)

    def stop(self):
        """The controllers stop; the clusters keep running (kofsim down stops them)."""
        for client in self.clients.values():
            client.close()

