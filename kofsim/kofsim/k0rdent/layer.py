"""The simulated k0rdent management cluster: seeding, the served kcm version, scripted faults, and what
Sveltos' helm installs put on the workload clusters. kcm.py holds kcm's and Sveltos' controllers, operators.py
the operators KOF's charts run, catalog.py what each chart creates. See kofsim/K0RDENT.md.

`Layer` is the backend-independent core: every controller in it is an API client (api.Client) scheduled by an
api.Runtime, and the workload clusters come from a fleet. `K0rdent` is the emulator's plugin: it builds the Layer
on the emulator's in-process API (inproc.py). `kofsim controllers` builds the same Layer on a real
kube-apiserver (process.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from .. import errors as E
from ..fastcopy import clone, yaml_load_all
from . import api, catalog
from .flux import Flux
from .kcm import PENDING, Kcm, Sveltos, helm_release_secret, read_release_secret
from .operators import ClusterOperators

DATA = Path(__file__).resolve().parent.parent / "data"
# CRDs a k0rdent management cluster has before KOF is installed (KOF's own arrive with its charts).
PREINSTALLED_CRDS = ("kcm", "sveltos", "flux", "certmanager")
KCM_API_VERSIONS = ("v1alpha1", "v1beta1")
_CRD_CACHE: dict[tuple, list[dict]] = {}
_SEED_CACHE: dict[str, list[dict]] = {}
KCM_GROUP = "k0rdent.mirantis.com"
VIRTUAL_WATCH_HISTORY = 16  # events kept per resource type on a virtual cluster
HELM = "helm"  # field manager of what Sveltos' helm installs


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml_load_all(path.read_text()) if d]


# data/crds/<dir> -> the component directory of .tools/kube/crds holding the upstream CRDs of the versions the
# 0.1 generation pins (kofsim/CRDS.md): those replace kofsim's own files in kcm 0.1.x mode
UPSTREAM_CRDS = {"grafana": "grafana-operator", "sveltos": "sveltos"}
# the same for KOF 1.x (kcm v1beta1 mode): kcm v1.10.0's, Flux source-controller v1.8.5's and grafana-operator
# v5.21.4's CRDs (KOF 1.10.0's pins). These replace kofsim's files of the same name only; the others stay (Flux's HelmRelease: helm-controller
# is not served by the Go proxy). Of kcm's 21, only the kinds kofsim serves in kcm 1.x mode (those of data/crds/kcm
# with a v1beta1 version) are installed.
UPSTREAM_CRDS_1X = {"kcm": "kcm-1.10", "flux": "flux", "grafana": "grafana-operator-1.10"}


def upstream_crd_docs(group_dir: str, kcm_version: str = "v1alpha1") -> list[dict] | None:
    """The upstream CRDs the build extracted from the Go modules (None when not built: kofsim's copies are used)."""
    component = (UPSTREAM_CRDS if kcm_version == "v1alpha1" else UPSTREAM_CRDS_1X).get(group_dir)
    d = Path(os.environ.get("KOFSIM_KUBE_DIR") or DATA.parents[2] / ".tools" / "kube") / "crds" / (component or "-")
    files = sorted(d.glob("*.yaml")) if component and d.is_dir() else []
    return [doc for f in files for doc in load_docs(f)] or None


def crd_docs(group_dir: str, kcm_version: str = "v1alpha1") -> list[dict]:
    """The CRDs of data/crds/<group_dir>. kcm's files carry v1alpha1 and v1beta1; kcm 0.1.x serves only
    v1alpha1 and kcm 1.x only v1beta1, so the other one is dropped here. In kcm 0.1.x mode the grafana-operator
    (v5.13.0) and Sveltos (v0.45.0) CRDs are the upstream ones when the build extracted them; in kcm 1.x mode
    kcm's (v1.10.0), Flux's HelmRepository and HelmChart (source-controller v1.8.5) and grafana-operator's
    (v5.21.4, kof-operators 1.10.0) of the kinds kofsim serves."""
    key = (group_dir, kcm_version)
    if key not in _CRD_CACHE:
        d = DATA / "crds" / group_dir
        upstream = upstream_crd_docs(group_dir, kcm_version)
        if upstream is not None and kcm_version == "v1alpha1":
            docs = upstream
        else:
            docs = []
            for f in sorted(d.glob("*.yaml")) if d.exists() else []:
                docs += load_docs(f)
            if upstream is not None:  # kcm 1.x: upstream replaces kofsim's CRD of the same name, for a kind
                # kofsim serves in this mode (kofsim's kcm files without a v1beta1 version stay out)
                by_name = {doc["metadata"]["name"]: doc for doc in upstream}
                docs = [by_name.get(doc["metadata"]["name"], doc)
                        if any(v["name"] == kcm_version for v in doc["spec"]["versions"]) or group_dir != "kcm"
                        else doc for doc in docs]
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


class Settings:
    """What the emulator's command line sets (`--ready-after`); the emulator passes its Simulator."""

    def __init__(self, ready_after: float = 0.0):
        self.ready_after = ready_after


class Layer:
    """kcm, Sveltos and the operators of every cluster, on `mgmt` (an api.Client) and the workload clusters of
    `fleet`, their work scheduled by `runtime`. `on_cluster(cid, client)` adds a backend's own per-cluster
    controllers (the real backend's node simulation)."""

    def __init__(self, mgmt, runtime, fleet, *, kcm_version=None, settings=None, clock=time.monotonic,
                 on_cluster=None):
        self.mgmt = mgmt
        self.runtime = runtime
        self.fleet = fleet
        self.settings = settings or Settings()
        self.clock = clock
        self.on_cluster = on_cluster
        # kcm 0.1.x (KOF 0.1.x) by default; v1beta1 models kcm 1.x with KOF 1.0-1.7
        self.kcm_version = kcm_version or os.environ.get("KOFSIM_KCM_API_VERSION") or "v1alpha1"
        if self.kcm_version not in KCM_API_VERSIONS:
            raise ValueError(f"kcm API version must be one of {', '.join(KCM_API_VERSIONS)}, "
                             f"not {self.kcm_version!r}")
        self.kof_mode = "0.1" if self.kcm_version == "v1alpha1" else "1.x"
        # Scripted faults (PUT /kofsim/scenario): never_ready: [cd], no_kubeconfig: [cd],
        # fail_service: {cd: [service]}, crashloop: {cd: ["<namespace>/<pod name prefix>"]}; "*" is every CD
        self.scenarios: dict = {"never_ready": [], "no_kubeconfig": [], "fail_service": {}, "crashloop": {},
                                "fail_helmrelease": []}
        self._releases: dict = {}  # (cluster, ns, release) -> (secret uid, rv, parsed state): decoded once
        self.kcm = Kcm(self)
        self.sveltos = Sveltos(self)
        # [flux.py] Flux's source- and helm-controller (HelmRepository, HelmChart, HelmRelease): KOF 1.x's umbrella
        self.flux = Flux(self)
        self.operators = {"": ClusterOperators(self, mgmt, runtime.scope(""), management=True)}
        # [mcs.py, kofoperator.py] KOF 1.x: kcm v1.10.0's MultiClusterService / ServiceSet controllers, kof-operator
        if self.kof_mode == "1.x":
            from .kofoperator import KofOperator
            from .mcs import Mcs
            self.mcs = Mcs(self)
            self.kof_operator = KofOperator(self)
        fleet.on_attach = self.attach
        if on_cluster:
            on_cluster("", mgmt)

    def ready_after(self) -> float:
        return float(self.settings.ready_after or 0)

    # ----------------------------------------------------------------------------------- seeding
    def seed(self):
        """What a k0rdent management cluster has before KOF: CRDs (unless installed already) and objects; what
        exists is left as it is (a restarted controller seeds nothing twice)."""
        for group_dir in PREINSTALLED_CRDS:
            self.install_crds(self.mgmt, group_dir)
        for doc in seed_docs(self.kcm_version):
            self.create_with_status(self.mgmt, doc)

    def create_with_status(self, client, doc):
        """Create doc (nothing when it exists), then write its status as the controller that owns it would."""
        body = clone(doc)
        status = body.pop("status", None)
        try:
            obj = client.create(body, manager="kcm-seed")
        except E.ApiError as err:
            if err.code != 409:
                raise
            return
        if status is not None:
            client.set_status(obj, status, manager="kcm-seed")

    def install_crds(self, client, group_dir):
        crd_rt = client.resource("apiextensions.k8s.io", "customresourcedefinitions")
        for doc in crd_docs(group_dir, self.kcm_version):
            if client.get(crd_rt, "", doc["metadata"]["name"]) is None:
                try:
                    client.create(clone(doc), manager=HELM)
                except E.ApiError as err:
                    if err.code != 409:
                        raise

    def attach(self, cid, client):
        """A new workload cluster (or one found again after a restart): its operators, Sveltos' interest in what
        appears on it, what a fresh cluster runs, and the backend's own controllers."""
        if cid in self.operators:
            return
        ns, name = cid.split("/", 1)
        self.operators[cid] = ClusterOperators(self, client, self.runtime.scope(cid), management=False)
        for group, plural in (("", "secrets"), ("apiextensions.k8s.io", "customresourcedefinitions")):
            client.watch(group, plural, lambda t, o, _ns=ns, _n=name: self.sveltos.on_workload_event(_ns, _n, t, o))
        self.seed_workload_cluster(client, cid, name)
        if self.on_cluster:
            self.on_cluster(cid, client)

    def detach(self, cid):
        self.operators.pop(cid, None)
        self.runtime.drop(cid)

    def seed_workload_cluster(self, c, cid, cd_name):
        """What a freshly provisioned k0rdent AWS cluster runs before any service: CoreDNS, kube-proxy, the
        EBS CSI driver with the template's default StorageClass, and the Sveltos agent."""
        dep = c.resource("apps", "deployments")
        if c.get(dep, "projectsveltos", "sveltos-agent-manager") is None:
            for obj in (catalog.deployment("coredns", "kube-system", {"k8s-app": "kube-dns"}, replicas=2),
                        catalog.daemonset("kube-proxy", "kube-system", {"k8s-app": "kube-proxy"}),
                        catalog.deployment("ebs-csi-controller", "kube-system", {"app": "ebs-csi-controller"})):
                c.ensure(obj, manager="kofsim-provisioner")
            c.ensure({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                      "metadata": {"name": "ebs-csi-default-sc",
                                   "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                      "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete",
                      "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True},
                     manager="kofsim-provisioner")
            self.ensure_namespace(c, "projectsveltos")
            c.ensure(catalog.deployment("sveltos-agent-manager", "projectsveltos",
                                        {"app.kubernetes.io/name": "sveltos-agent"}), manager="kofsim-provisioner")
        self.apply_crashloop(cid, cd_name)

    def for_cd(self, key, cd_name):
        table = self.scenarios.get(key)
        if isinstance(table, dict):
            return list(table.get(cd_name) or []) + list(table.get("*") or [])
        return cd_name in (table or []) or "*" in (table or [])

    _for_cd = for_cd

    def apply_crashloop(self, cid, cd_name):
        for entry in self.for_cd("crashloop", cd_name):
            ns, _, prefix = entry.partition("/")
            self.fleet.crashloop(cid, ns, prefix)

    @staticmethod
    def ensure_namespace(c, ns):
        rt = c.resource("", "namespaces")
        if c.get(rt, "", ns) is None:
            try:
                c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, manager=HELM)
            except E.ApiError as err:
                if err.code != 409:
                    raise

    # --------------------------------------------------------------------------- Sveltos actions
    def secret_referenced(self, ns, name) -> bool:
        cp_rt = self.mgmt.resource("config.projectsveltos.io", "clusterprofiles")
        for cp in self.mgmt.list(cp_rt) if cp_rt else []:
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
        cur = target.get(target.resource("", "secrets"), ns, src["metadata"]["name"])
        if cur is None or cur.get("data") != want["data"] or cur.get("type") != want["type"]:
            if cur is not None and cur.get("type") != want["type"]:  # the type is immutable
                target.delete(target.resource("", "secrets"), ns, src["metadata"]["name"])
            target.ensure(want, manager="sveltos-agent")

    def release(self, target, release, ns):
        """The deployed state of a helm release on target, from helm's own record (its release Secrets):
        {revision, hash, objects, namespace, secret}, or None when it is not installed."""
        sec_rt = target.resource("", "secrets")
        items = target.list(sec_rt, ns, {"owner": "helm", "name": release})
        if not items:
            return None
        latest = max(items, key=lambda s: int((s["metadata"].get("labels") or {}).get("version", "0") or 0))
        key = (target.name, ns, release)
        cached = self._releases.get(key)
        meta = latest["metadata"]
        if cached and cached[0] == (meta.get("uid"), meta.get("resourceVersion")):
            return cached[1]
        rec = read_release_secret(latest) or {}
        chart = (rec.get("chart") or {}).get("metadata") or {}
        version = chart.get("version", "")
        return self._keep_release(target, ns, release, meta,
                                  int(rec.get("version") or (meta.get("labels") or {}).get("version") or 1),
                                  _digest(chart.get("name"), "" if version == "0.0.0" else version,
                                          rec.get("config") or {}),
                                  _manifest_keys(rec.get("manifest") or ""))

    def _keep_release(self, target, ns, release, secret_meta, revision, digest, objects) -> dict:
        """Remember a release's state, valid while its latest release Secret is the one of `secret_meta`."""
        state = {"revision": revision, "hash": digest, "objects": objects, "namespace": ns,
                 "secret": secret_meta["name"]}
        self._releases[(target.name, ns, release)] = ((secret_meta.get("uid"), secret_meta.get("resourceVersion")),
                                                      state)
        return state

    def install(self, target, release, ns, chart, version, values, *, render=None, force=False):
        """Sveltos' `helm upgrade --install` on a workload cluster; returns helm's error, None when deployed,
        PENDING while the CRDs it just installed are not served yet (helm waits for them).
        [flux.py] render(chart, release, ns, values, lookup) replaces catalog.objects_for (the KOF 1.10 management
        charts, catalog_1x.py); force upgrades even when chart, version and values are unchanged."""
        digest = _digest(chart, version, values)
        prev = self.release(target, release, ns)
        if prev and prev["hash"] == digest and not force:
            return None

        def lookup(api_version, kind, lns, name):
            return target.get_kind(api_version, kind, lns, name or "")
        try:
            crd_dirs, objs = (render or catalog.objects_for)(chart, release, ns, values, lookup)
        except catalog.RenderError as err:
            return f"Error: {err}"
        # helm checks every kind against the cluster (after installing the chart's crds/) before writing
        pending = {(d["spec"]["names"]["kind"], f"{d['spec']['group']}/{v['name']}")
                   for cd in crd_dirs for d in crd_docs(cd, self.kcm_version) for v in d["spec"]["versions"]}
        for obj in objs:
            served = target.kind(obj["apiVersion"], obj["kind"]) is not None
            if not served and (obj["kind"], obj["apiVersion"]) not in pending:
                return (f'Error: unable to build kubernetes objects from release manifest: resource mapping not found '
                        f'for name: "{obj["metadata"]["name"]}" namespace: "{obj["metadata"].get("namespace", "")}" '
                        f'from "": no matches for kind "{obj["kind"]}" in version "{obj["apiVersion"]}"\n'
                        f"ensure CRDs are installed first")
        self.ensure_namespace(target, ns)
        for d in crd_dirs:
            self.install_crds(target, d)
        if any(target.kind(o["apiVersion"], o["kind"]) is None for o in objs):
            return PENDING
        keys = []
        for obj in objs:
            try:
                target.ensure(helm_owned(obj, release, ns), manager=HELM)
            except E.ApiError as err:
                if err.code in api.RETRY_CODES:
                    raise
                return f"Error: {err.message}"
            keys.append((obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]))
        if prev:
            for key in set(prev["objects"]) - set(keys):
                if not self._kept(target, key):  # helm leaves helm.sh/resource-policy: keep objects on upgrade
                    self._delete(target, key)
        revision = (prev["revision"] + 1) if prev else 1
        sec_rt = target.resource("", "secrets")
        if prev:
            old = target.get(sec_rt, ns, prev["secret"])
            if old is not None:
                body = api.mutable(old)
                body["metadata"]["labels"]["status"] = "superseded"
                target.update(body, manager=HELM)
        # one JSON document per object: JSON is YAML, as helm and `helm get manifest` readers parse it; json's C
        # encoder is some 30 times faster than PyYAML's representer, which took a tenth of the emulator's CPU in a
        # first KOF 1.x rollout of 300 clusters
        manifest = "".join(f"---\n{json.dumps(o)}\n" for o in objs)
        created = target.create(helm_release_secret(release, ns, chart, version, values, revision, manifest),
                                manager=HELM)
        meta = (created or {}).get("metadata") or {}
        if meta.get("uid"):  # what release() would read back from this Secret, without parsing its manifest again
            self._keep_release(target, ns, release, meta, revision, digest, keys)
        self.apply_crashloop(target.name, target.name.split("/", 1)[-1])
        api.log.info("helm: %s %s/%s %s revision %d (%d objects)", target.name, ns, release,
                     "upgraded to" if prev else "installed as", revision, len(keys))
        return None

    def uninstall(self, target, release, state=None):
        ns = (state or {}).get("namespace")
        info = self.release(target, release, ns) if ns else None
        if not info:
            return
        for key in info["objects"]:
            self._delete(target, key)
        sec_rt = target.resource("", "secrets")
        for sec in target.list(sec_rt, ns, {"owner": "helm", "name": release}):
            target.delete(sec_rt, ns, sec["metadata"]["name"])
        self._releases.pop((target.name, ns, release), None)

    @staticmethod
    def _kept(target, key) -> bool:
        api_version, kind, ns, name = key
        rt = target.kind(api_version, kind)
        obj = target.get(rt, ns if rt.namespaced else "", name) if rt is not None else None
        return bool(obj and (obj["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep")

    @staticmethod
    def _delete(target, key):
        api_version, kind, ns, name = key
        rt = target.kind(api_version, kind)
        if rt is None:
            return
        try:
            target.delete(rt, ns if rt.namespaced else "", name, propagation="Background")
        except E.ApiError as err:
            if err.code in api.RETRY_CODES:
                raise

    # ------------------------------------------------------------------------------- scenarios
    def scenario(self, spec: dict):
        for key in ("never_ready", "no_kubeconfig"):
            if key in spec:
                self.scenarios[key] = list(spec[key] or [])
        if "fail_helmrelease" in spec:  # [flux.py] HelmReleases ("<ns>/<name>" or "<name>") whose action fails
            self.scenarios["fail_helmrelease"] = list(spec["fail_helmrelease"] or [])
            self.flux.resync()
        for key in ("fail_service", "crashloop"):
            if key in spec:
                self.scenarios[key] = {k: ([v] if isinstance(v, str) else list(v or []))
                                       for k, v in dict(spec[key] or {}).items()}
        if "ready_after" in spec:
            self.settings.ready_after = float(spec["ready_after"])
        if "remove_default_storageclass" in spec and spec["remove_default_storageclass"]:
            sc_rt = self.mgmt.resource("storage.k8s.io", "storageclasses")
            for sc in list(self.mgmt.list(sc_rt)):
                ann = sc["metadata"].get("annotations") or {}
                if ann.get("storageclass.kubernetes.io/is-default-class") == "true":
                    body = api.mutable(sc)
                    body["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] = "false"
                    self.mgmt.update(body, manager="kofsim-scenario")
        for (ns, name), cid in list(self.kcm.clusters.items()):
            self.apply_crashloop(cid, name)
            for cns, prefix in self.fleet.crashloops(cid):
                # pods that already run start crash-looping now
                self.fleet.restart_pods(cid, cns, prefix)
        for cd in self.kcm.list(KCM_GROUP, "clusterdeployments"):
            ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
            self.kcm.sched.schedule(("kcm-cd", ns, name), self.kcm.reconcile_cd, ns, name)
            # a changed fail_service list is re-evaluated by Sveltos
            self.kcm.sched.schedule(("sveltos", ns, name), self.sveltos.sync, ns, name, delay=0.05)

    def stop(self):
        self.fleet.stop()


def _digest(chart, version, values) -> str:
    return hashlib.sha256(json.dumps([chart, version, values], sort_keys=True).encode()).hexdigest()


def helm_owned(obj: dict, release: str, ns: str) -> dict:
    """obj as helm writes it: setMetadataVisitor (helm v3.17.3 pkg/action/validate.go, on every install and upgrade;
    Sveltos and Flux's helm-controller run the same SDK) adds the managed-by label and the release annotations to
    every object of the release. The release's manifest keeps the chart's rendering without them, as helm's does."""
    meta = obj["metadata"]
    return dict(obj, metadata=dict(
        meta, labels={**(meta.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"},
        annotations={**(meta.get("annotations") or {}), "meta.helm.sh/release-name": release,
                     "meta.helm.sh/release-namespace": ns}))


def _manifest_keys(manifest: str) -> list[tuple]:
    keys = []
    # libyaml: every release's manifest is read once per revision (at 1000 clusters the pure-Python parser was
    # the emulator's largest cost)
    for doc in yaml_load_all(manifest) if manifest else []:
        if isinstance(doc, dict) and doc.get("kind"):
            meta = doc.get("metadata") or {}
            keys.append((doc.get("apiVersion"), doc["kind"], meta.get("namespace"), meta.get("name")))
    return keys


class K0rdent:
    """The emulator's k0rdent plugin (Simulator.plugins): the Layer on the emulator's in-process API, kcm's
    webhooks as the management cluster's admission hooks, one virtual cluster per ClusterDeployment."""

    def __init__(self, sim, mgmt):
        from .inproc import EmulatorFleet, EmulatorRuntime, InProcessClient  # noqa: WPS433
        self.sim = sim
        self.cluster = mgmt
        kcm_version = getattr(sim, "kcm_api_version", None) or os.environ.get("KOFSIM_KCM_API_VERSION") or "v1alpha1"
        fleet = EmulatorFleet(sim)
        self.layer = Layer(InProcessClient(mgmt), EmulatorRuntime(sim), fleet, kcm_version=kcm_version,
                           settings=sim)
        fleet.on_attach = self._attach
        mgmt.admission.append(self.layer.kcm.admit)
        self.kcm_version = self.layer.kcm_version
        self.kof_mode = self.layer.kof_mode

    def _attach(self, cid, client):
        """A new virtual cluster: a small watch cache (what keeps a fleet of them cheap: most of a cluster's
        memory would otherwise be past versions of its objects; a watch resuming from an older resourceVersion
        gets 410 Expired and relists, as against a small kube-apiserver watch cache), then the layer's
        controllers."""
        c = self.sim.clusters.get(cid)
        if c is not None and hasattr(c, "history_size"):
            c.history_size = VIRTUAL_WATCH_HISTORY
        self.layer.attach(cid, client)

    # the Simulator's plugin interface
    def seed(self):
        self.layer.seed()

    def scenario(self, spec: dict):
        self.layer.scenario(spec)

    def stop(self):
        self.layer.stop()

    @property
    def kcm(self):
        return self.layer.kcm

    @property
    def sveltos(self):
        return self.layer.sveltos
