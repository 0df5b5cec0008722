"""The simulated k0rdent management cluster: seeding, the served kcm version, scripted faults, and what
Sveltos' helm installs put on the virtual (workload) clusters. kcm.py holds kcm's and Sveltos' controllers,
operators.py the operators KOF's charts run, catalog.py what each chart creates. See kofsim/K0RDENT.md.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import yaml

from .. import errors as E
from ..fastcopy import clone, yaml_dump
from . import catalog
from .kcm import Kcm, Sveltos, helm_release_secret
from .operators import ClusterOperators

DATA = Path(__file__).resolve().parent.parent / "data"
# CRDs a k0rdent management cluster has before KOF is installed (KOF's own arrive with its charts).
PREINSTALLED_CRDS = ("kcm", "sveltos", "flux", "certmanager")
KCM_API_VERSIONS = ("v1alpha1", "v1beta1")
_CRD_CACHE: dict[tuple, list[dict]] = {}
_SEED_CACHE: dict[str, list[dict]] = {}
KCM_GROUP = "k0rdent.mirantis.com"
VIRTUAL_WATCH_HISTORY = 16  # events kept per resource type on a virtual cluster


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# data/crds/<dir> -> the component directory of .tools/kube/crds holding the upstream CRDs of the versions the
# 0.1 generation pins (kofsim/CRDS.md): those replace kofsim's own files in kcm 0.1.x mode
UPSTREAM_CRDS = {"grafana": "grafana-operator", "sveltos": "sveltos"}


def upstream_crd_docs(group_dir: str) -> list[dict] | None:
    """The upstream CRDs the build extracted from the Go modules (None when not built: kofsim's copies are used)."""
    component = UPSTREAM_CRDS.get(group_dir)
    d = Path(os.environ.get("KOFSIM_KUBE_DIR") or DATA.parents[2] / ".tools" / "kube") / "crds" / (component or "-")
    files = sorted(d.glob("*.yaml")) if component and d.is_dir() else []
    return [doc for f in files for doc in load_docs(f)] or None


def crd_docs(group_dir: str, kcm_version: str = "v1alpha1") -> list[dict]:
    """The CRDs of data/crds/<group_dir>. kcm's files carry v1alpha1 and v1beta1; kcm 0.1.x serves only
    v1alpha1 and kcm 1.x only v1beta1, so the other one is dropped here. In kcm 0.1.x mode the grafana-operator
    (v5.13.0) and Sveltos (v0.45.0) CRDs are the upstream ones when the build extracted them."""
    key = (group_dir, kcm_version)
    if key not in _CRD_CACHE:
        d = DATA / "crds" / group_dir
        docs = upstream_crd_docs(group_dir) if kcm_version == "v1alpha1" else None
        if docs is None:
            docs = []
            for f in sorted(d.glob("*.yaml")) if d.exists() else []:
                docs += load_docs(f)
        if group_dir == "kcm":
            for doc in docs:
                versions = [v for v in doc["spec"]["versions"] if v["name"] == kcm_version]
                for v in versions:
                    v["served"], v["storage"] = True, True
                doc["spec"]["versions"] = versions
            # kinds the other kcm generation does not have (kcm 0.1's AccessManagement, ManagementBackup, ...)
            docs = [doc for doc in docs if doc["spec"]["versions"]]
        _CRD_CACHE[key] = docs
    return _CRD_CACHE[key]


def seed_docs(kcm_version: str) -> list[dict]:
    if kcm_version not in _SEED_CACHE:
        seed = DATA / "seed"
        docs = []
        for f in sorted(seed.glob("*.yaml")) + sorted((seed / kcm_version).glob("*.yaml")):
            for doc in load_docs(f):
                group, _, _ = doc["apiVersion"].rpartition("/")
                if group == KCM_GROUP:
                    doc["apiVersion"] = f"{KCM_GROUP}/{kcm_version}"
                docs.append(doc)
        _SEED_CACHE[kcm_version] = docs
    return _SEED_CACHE[kcm_version]


class K0rdent:
    def __init__(self, sim, mgmt):
        self.sim = sim
        self.mgmt = mgmt
        # kcm 0.1.x (KOF 0.1.x) by default; v1beta1 models kcm 1.x with KOF 1.0-1.7
        self.kcm_version = (getattr(sim, "kcm_api_version", None) or os.environ.get("KOFSIM_KCM_API_VERSION")
                            or "v1alpha1")
        if self.kcm_version not in KCM_API_VERSIONS:
            raise ValueError(f"kcm API version must be one of {', '.join(KCM_API_VERSIONS)}, "
                             f"not {self.kcm_version!r}")
        self.kof_mode = "0.1" if self.kcm_version == "v1alpha1" else "1.x"
        # Scripted faults (PUT /kofsim/scenario): never_ready: [cd], no_kubeconfig: [cd],
        # fail_service: {cd: [service]}, crashloop: {cd: ["<namespace>/<pod name prefix>"]}; "*" is every CD
        self.scenarios: dict = {"never_ready": [], "no_kubeconfig": [], "fail_service": {}, "crashloop": {}}
        self.kcm = Kcm(self)
        self.sveltos = Sveltos(self)
        self.operators = {"": ClusterOperators(self, mgmt, sim.controllers[""], management=True)}

    # ----------------------------------------------------------------------------------- seeding
    def seed(self):
        for group_dir in PREINSTALLED_CRDS:
            self.install_crds(self.mgmt, group_dir)
        for doc in seed_docs(self.kcm_version):
            self.mgmt.upsert(clone(doc))

    def install_crds(self, cluster, group_dir):
        crd_rt = cluster.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for doc in crd_docs(group_dir, self.kcm_version):
            if cluster.find(crd_rt, "", doc["metadata"]["name"]) is None:
                cluster.write(crd_rt, clone(doc), internal=True)

    def attach(self, cid, cluster):
        """A new virtual cluster: its operators, and a small watch cache (what keeps a fleet of them cheap:
        most of a cluster's memory would otherwise be past versions of its objects). A watch resuming from an
        older resourceVersion gets 410 Expired and relists, as against a small kube-apiserver watch cache."""
        if hasattr(cluster, "history_size"):
            cluster.history_size = VIRTUAL_WATCH_HISTORY
        self.operators[cid] = ClusterOperators(self, cluster, self.sim.controllers[cid], management=False)

    def detach(self, cid):
        self.operators.pop(cid, None)

    def seed_workload_cluster(self, c, cd):
        """What a freshly provisioned k0rdent AWS cluster runs before any service: CoreDNS, kube-proxy, the
        EBS CSI driver with the template's default StorageClass, and the Sveltos agent."""
        for obj in (catalog.deployment("coredns", "kube-system", {"k8s-app": "kube-dns"}, replicas=2),
                    catalog.daemonset("kube-proxy", "kube-system", {"k8s-app": "kube-proxy"}),
                    catalog.deployment("ebs-csi-controller", "kube-system", {"app": "ebs-csi-controller"})):
            c.upsert(obj)
        c.upsert({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                  "metadata": {"name": "ebs-csi-default-sc",
                               "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                  "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete",
                  "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True})
        self.ensure_namespace(c, "projectsveltos")
        c.upsert(catalog.deployment("sveltos-agent-manager", "projectsveltos",
                                    {"app.kubernetes.io/name": "sveltos-agent"}))
        self.apply_crashloop(c, cd["metadata"]["name"])

    def _for_cd(self, key, cd_name):
        table = self.scenarios.get(key)
        if isinstance(table, dict):
            return list(table.get(cd_name) or []) + list(table.get("*") or [])
        return cd_name in (table or []) or "*" in (table or [])

    def apply_crashloop(self, c, cd_name):
        for entry in self._for_cd("crashloop", cd_name):
            ns, _, prefix = entry.partition("/")
            c.crashloop.add((ns, prefix))

    @staticmethod
    def ensure_namespace(c, ns):
        rt = c.registry.get("", "v1", "namespaces")
        if c.find(rt, "", ns) is None:
            c.write(rt, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, internal=True)

    # --------------------------------------------------------------------------- Sveltos actions
    def secret_referenced(self, ns, name) -> bool:
        cp_rt = self.sveltos.rt("config.projectsveltos.io", "clusterprofiles")
        for cp in self.mgmt.list_objects(cp_rt) if cp_rt else []:
            for ref in (cp.get("spec") or {}).get("templateResourceRefs") or []:
                res = ref.get("resource") or {}
                if res.get("kind") == "Secret" and res.get("name") == name and res.get("namespace") == ns:
                    return True
        return False

    def copy_secret(self, target, src):
        ns = src["metadata"]["namespace"]
        self.ensure_namespace(target, ns)
        want = {"apiVersion": "v1", "kind": "Secret", "type": src.get("type", "Opaque"),
                "metadata": {"name": src["metadata"]["name"], "namespace": ns,
                             "labels": {"projectsveltos.io/reason": "Resources"}},
                "data": clone(src.get("data") or {})}
        cur = target.find(target.registry.get("", "v1", "secrets"), ns, src["metadata"]["name"])
        if cur is None or cur.get("data") != want["data"] or cur.get("type") != want["type"]:
            target.upsert(want)

    def install(self, target, release, ns, chart, version, values) -> str | None:
        """Sveltos' `helm upgrade --install` on a virtual cluster; returns helm's error, None when deployed."""
        releases = target.extra.setdefault("releases", {})
        digest = hashlib.sha256(json.dumps([chart, version, values], sort_keys=True).encode()).hexdigest()
        prev = releases.get(release)
        if prev and prev["hash"] == digest:
            return None

        def lookup(api_version, kind, lns, name):
            return target.lookup(api_version, kind, lns, name or "")
        try:
            crd_dirs, objs = catalog.objects_for(chart, release, ns, values, lookup)
        except catalog.RenderError as err:
            return f"Error: {err}"
        # helm checks every kind against the cluster (after installing the chart's crds/) before writing
        pending = {(d["spec"]["names"]["kind"], f"{d['spec']['group']}/{v['name']}")
                   for cd in crd_dirs for d in crd_docs(cd, self.kcm_version) for v in d["spec"]["versions"]}
        for obj in objs:
            served = target.rt_for(obj["apiVersion"], obj["kind"]) is not None
            if not served and (obj["kind"], obj["apiVersion"]) not in pending:
                return (f'Error: unable to build kubernetes objects from release manifest: resource mapping not found '
                        f'for name: "{obj["metadata"]["name"]}" namespace: "{obj["metadata"].get("namespace", "")}" '
                        f'from "": no matches for kind "{obj["kind"]}" in version "{obj["apiVersion"]}"\n'
                        f"ensure CRDs are installed first")
        self.ensure_namespace(target, ns)
        for d in crd_dirs:
            self.install_crds(target, d)
        keys = []
        for obj in objs:
            target.upsert(obj)
            keys.append((obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]))
        if prev:
            for key in set(prev["objects"]) - set(keys):
                self._delete(target, key)
        revision = (prev["revision"] + 1) if prev else 1
        sec_rt = target.registry.get("", "v1", "secrets")
        if prev:
            old = target.find(sec_rt, ns, f"sh.helm.release.v1.{release}.v{prev['revision']}")
            if old is not None:
                body = clone(old)
                body["metadata"]["labels"]["status"] = "superseded"
                target.write(sec_rt, body, namespace=ns, old=old, internal=True)
        manifest = "".join(f"---\n{yaml_dump(o, sort_keys=False)}" for o in objs)
        target.upsert(helm_release_secret(release, ns, chart, version, values, revision, manifest))
        releases[release] = {"hash": digest, "revision": revision, "objects": keys, "namespace": ns}
        self.apply_crashloop(target, target.name.split("/", 1)[-1])
        return None

    def uninstall(self, target, release, _state=None):
        info = target.extra.get("releases", {}).pop(release, None)
        if not info:
            return
        for key in info["objects"]:
            self._delete(target, key)
        sec_rt = target.registry.get("", "v1", "secrets")
        for rev in range(1, info["revision"] + 1):
            sec = target.find(sec_rt, info["namespace"], f"sh.helm.release.v1.{release}.v{rev}")
            if sec is not None:
                target.remove(sec_rt, sec)

    @staticmethod
    def _delete(target, key):
        api_version, kind, ns, name = key
        rt = target.rt_for(api_version, kind)
        if rt is None:
            return
        try:
            target.delete(rt, ns, name, {"propagationPolicy": "Background"})
        except E.ApiError:
            pass

    # ------------------------------------------------------------------------------- scenarios
    def scenario(self, spec: dict):
        for key in ("never_ready", "no_kubeconfig"):
            if key in spec:
                self.scenarios[key] = list(spec[key] or [])
        for key in ("fail_service", "crashloop"):
            if key in spec:
                self.scenarios[key] = {k: ([v] if isinstance(v, str) else list(v or []))
                                       for k, v in dict(spec[key] or {}).items()}
        if "ready_after" in spec:
            self.sim.ready_after = float(spec["ready_after"])
        if "remove_default_storageclass" in spec and spec["remove_default_storageclass"]:
            sc_rt = self.mgmt.registry.get("storage.k8s.io", "v1", "storageclasses")
            for sc in list(self.mgmt.list_objects(sc_rt)):
                ann = sc["metadata"].get("annotations") or {}
                if ann.get("storageclass.kubernetes.io/is-default-class") == "true":
                    body = clone(sc)
                    body["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] = "false"
                    self.mgmt.write(sc_rt, body, old=sc, internal=True)
        for (ns, name), cid in list(self.kcm.clusters.items()):
            c = self.sim.clusters.get(cid)
            if c is not None:
                self.apply_crashloop(c, name)
                for cns, prefix in c.crashloop:
                    # pods that already run start crash-looping now
                    for pod in c.list_objects(c.registry.get("", "v1", "pods"), cns):
                        if pod["metadata"]["name"].startswith(prefix):
                            self.sim.controllers[cid].schedule((("", "pods"), cns, pod["metadata"]["name"]),
                                                               self.sim.controllers[cid].pod, cns,
                                                               pod["metadata"]["name"])
        rt = self.kcm.rt(KCM_GROUP, "clusterdeployments")
        for cd in self.mgmt.list_objects(rt) if rt else []:
            ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
            self.kcm.ctl.schedule(("kcm-cd", ns, name), self.kcm.reconcile_cd, ns, name)
            # a changed fail_service list is re-evaluated by Sveltos
            self.kcm.ctl.schedule(("sveltos", ns, name), self.sveltos.sync, ns, name, delay=0.05)

    def stop(self):
        pass
