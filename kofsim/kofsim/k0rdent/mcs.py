"""kcm v1.10.0's MultiClusterService controller and its Sveltos adapter's ServiceSet controller (kcm 1.x mode, KOF
1.x): a MultiClusterService selects ClusterDeployments by their labels (kcm v1.10.0 lists ClusterDeployments with
the selector; matchLabels and matchExpressions), keeps one ServiceSet per (cluster, MCS) in the cluster's namespace
and reports the clusters; the ServiceSet controller installs the ServiceSet's services on the workload cluster
through the layer's helm machinery (Layer.install) and writes their states. See kofsim/K0RDENT.md, "KOF 1.x".

Facts from kcm v1.10.0: internal/controller/multiclusterservice_controller.go, internal/serviceset/{util,builder}.go,
internal/controller/adapters/sveltos/serviceset_controller.go, api/v1beta1/{multiclusterservice,serviceset}_types.go.
The services' values are Sveltos templates over the cluster (`.Cluster.metadata.annotations`, which kcm fills from
the ClusterDeployment's spec.config.clusterAnnotations) and templateResourceRefs: render_values() evaluates the
statements the kof-regional / kof-child v1.10.0 MultiClusterServices use, in Python; values that call Sveltos'
resource functions (kof-mothership's `kof-storage-child-secret-propagation`: getResource, chainRemoveField,
chainSetField, toYaml) or have no mergeOverwrite go through gotemplate.py, after the ServiceSet's
templateResourceRefs are resolved for the cluster (names and namespaces are templates too); a non-optional
reference that does not exist yet keeps the ServiceSet waiting (Provisioning) until the object appears, as Sveltos
does, it does not fail.
"""
from __future__ import annotations

import hashlib
import re
import zlib

import yaml

from .. import errors as E
from ..selectors import match_label_selector_obj
from . import catalog, catalog_1x_workload, gotemplate
from .api import mutable, now
from .kcm import GROUP, MANAGER, PENDING

SYSTEM_NS = "kcm-system"
MCS_FINALIZER = "k0rdent.mirantis.com/multicluster-service"
SS_FINALIZER = "k0rdent.mirantis.com/service-set"
ADAPTER_LABEL = ("ksm.k0rdent.mirantis.com/adapter", "kcm-controller-manager")
PROVIDER = "ksm-projectsveltos"
COMPONENT_LABEL = ("k0rdent.mirantis.com/component", "kcm")


def serviceset_name(cd_name: str, mcs_name: str) -> str:
    """kcm's serviceset.ObjectKey: `<cd>-<first 4 bytes of sha256(mcs name), hex>` in the CD's namespace; the
    management cluster's (selfManagement, no ClusterDeployment) is `management-<hash>` in the system namespace."""
    return f"{cd_name or 'management'}-{hashlib.sha256(mcs_name.encode()).digest()[:4].hex()}"


# kcm v1.10.0 (adapters/sveltos/serviceset_controller.go clusterReference / profileSpec): a selfManagement
# ServiceSet deploys through a ClusterProfile to the SveltosCluster mgmt/mgmt, the management cluster itself; that
# object is Sveltos' `.Cluster` for the MultiClusterService's templates (no ClusterDeployment behind it).
MGMT_CLUSTER = {"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "SveltosCluster",
                "metadata": {"name": "mgmt", "namespace": "mgmt", "labels": {}, "annotations": {}}}


def self_managed(mcs) -> bool:
    return bool((((mcs.get("spec") or {}).get("serviceSpec") or {}).get("provider") or {}).get("selfManagement"))


def _effns(ns):
    return ns or "default"


def _cond(conds, type_, status, reason, message, gen, ts):
    """apimeta.SetStatusCondition: lastTransitionTime changes only with the status."""
    for c in conds:
        if c["type"] == type_:
            if c.get("status") != status:
                c["lastTransitionTime"] = ts
            c.update(status=status, reason=reason, message=message, observedGeneration=gen)
            return
    conds.append({"type": type_, "status": status, "reason": reason, "message": message,
                  "observedGeneration": gen, "lastTransitionTime": ts})


def ready_condition(conds, gen, ts, handle):
    """conditionsutil.UpdateReadyCondition."""
    errs = []
    unknown = []
    for c in conds:
        if c["type"] in ("Ready", "Deleting"):
            continue
        if c.get("status") == "Unknown":
            unknown.append(c.get("message", ""))
        elif c.get("status") == "False":
            errs.append(handle(c))
    if errs:
        _cond(conds, "Ready", "False", "Failed", ". ".join(errs), gen, ts)
    elif not conds or unknown:
        _cond(conds, "Ready", "Unknown", "Progressing", ". ".join(unknown), gen, ts)
    else:
        _cond(conds, "Ready", "True", "Succeeded", "Object is ready", gen, ts)


class ValuesError(Exception):
    pass


class RefMissing(Exception):
    """A non-optional templateResourceRef does not exist (yet): Sveltos waits for it. projectsveltos/addon-controller
    v1.9.0 (the Sveltos kcm v1.10.0 deploys): collectTemplateResourceRefs returns the NotFound error
    (controllers/templateresourcedef_utils.go:80-87), ClusterSummaryReconciler.prepareForDeployment requeues after
    normalRequeueAfter (10 s) before deploying anything (controllers/clustersummary_controller.go:504-508, via
    updateChartMap 966-969) and sets no feature FailureMessage, so kcm's servicesStateFromSummary
    (internal/controller/adapters/sveltos/serviceset_controller.go:1589-1594, 1638-1648) never marks the service
    Failed. The same for the kof-child MCS' ChildConfig (kof-cluster-config-<cd>, not optional)."""

    def __init__(self, ref, message):
        super().__init__(message)
        self.ref = ref


class Mcs:
    def __init__(self, layer):
        self.layer = layer
        self.mgmt = layer.mgmt
        self.sched = layer.runtime.scope("")
        self.retries: dict = {}
        self.waiting: dict = {}  # ServiceSet key -> (kind, ns, name) of the missing templateResourceRef
        self.ref_users: dict = {}  # (kind, ns, name) -> ServiceSet keys whose values read it
        w = self.mgmt.watch
        w(GROUP, "multiclusterservices", self.on_mcs)
        w(GROUP, "clusterdeployments", self.on_cd)
        w(GROUP, "servicesets", self.on_ss)
        w(GROUP, "servicetemplates", lambda _t, _o: self.all_mcs())
        w(GROUP, "servicetemplatechains", lambda _t, _o: self.all_mcs())
        w("", "configmaps", self.on_cm)
        w("", "secrets", self.on_ref)

    # ------------------------------------------------------------------------------------ access
    def _rt(self, plural, group=GROUP):
        return self.mgmt.resource(group, plural)

    def get(self, plural, ns, name, group=GROUP):
        rt = self._rt(plural, group)
        return None if rt is None else self.mgmt.get(rt, ns if rt.namespaced else "", name)

    def list(self, plural, ns=None, group=GROUP):
        rt = self._rt(plural, group)
        return [] if rt is None else self.mgmt.list(rt, ns)

    # ------------------------------------------------------------------------------------ events
    def on_mcs(self, type_, obj):
        if type_ != "DELETED":
            self.sched.schedule(("mcs", obj["metadata"]["name"]), self.reconcile_mcs, obj["metadata"]["name"])

    def all_mcs(self):
        for m in self.list("multiclusterservices"):
            self.on_mcs("MODIFIED", m)

    def on_cd(self, _type, obj):
        self.all_mcs()
        self._cluster_servicesets(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def _cluster_servicesets(self, ns, cd, delay=None):
        """The ServiceSets of cluster cd in ns; cd "" the management cluster's (in the system namespace)."""
        for ss in self.list("servicesets", ns):
            if ((ss.get("spec") or {}).get("cluster") or "") == cd:
                self.sched.schedule(("ss", ns, ss["metadata"]["name"]), self.reconcile_ss, ns,
                                    ss["metadata"]["name"], delay=delay)

    def _poll_ss(self, ns, name, delay):
        """A timed re-run (RequeueAfter) under its own key: the scheduler skips a key already pending, so under
        ("ss", ns, name) a pending poll would swallow the wake-up of an event meanwhile (a templateResourceRef that
        appears); this way the event still reconciles at once (as flux.py's _requeue_hr)."""
        self.sched.schedule(("ss-poll", ns, name), self.reconcile_ss, ns, name, delay=delay)

    def on_ss(self, type_, obj):
        ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        if type_ != "DELETED":
            self.sched.schedule(("ss", ns, name), self.reconcile_ss, ns, name)
        mcs = (obj.get("spec") or {}).get("multiClusterService")
        if mcs:
            self.sched.schedule(("mcs", mcs), self.reconcile_mcs, mcs)

    def on_ref(self, _type, obj, kind="Secret"):
        """A templateResourceRef appeared or changed: the ServiceSets waiting for it or rendered from it."""
        ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        keys = set(self.ref_users.get((kind, ns, name), ()))
        keys |= {k for k, ref in self.waiting.items() if ref == (kind, ns, name)}
        for sns, sname in keys:
            self.sched.schedule(("ss", sns, sname), self.reconcile_ss, sns, sname, delay=0.05)

    def on_cm(self, _type, obj):
        self.on_ref(_type, obj, "ConfigMap")
        name = obj["metadata"]["name"]
        for prefix in ("kof-cluster-config-", "kof-record-vmrules-"):
            if name.startswith(prefix):
                self._cluster_servicesets(obj["metadata"].get("namespace", ""), name[len(prefix):], delay=0.05)
        if name.startswith("kof-record-vmrules-") and obj["metadata"].get("namespace") == SYSTEM_NS:
            self._cluster_servicesets(SYSTEM_NS, "", delay=0.05)  # regionless: the management cluster's storage

    # --------------------------------------------------------------------------- MultiClusterService
    def matches(self, mcs, cd) -> bool:
        sel = (mcs.get("spec") or {}).get("clusterSelector") or {}
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            return False  # an empty selector selects nothing (kcm lists only when !selector.Empty())
        return match_label_selector_obj(sel, cd["metadata"].get("labels") or {})

    def reconcile_mcs(self, name):
        mcs = self.get("multiclusterservices", "", name)
        if mcs is None:
            return
        ts, gen = now(), mcs["metadata"].get("generation", 1)
        status = mutable(mcs.get("status") or {})
        conds = status.setdefault("conditions", [])
        sspec = (mcs.get("spec") or {}).get("serviceSpec") or {}
        services = [s for s in sspec.get("services") or []]
        own = [s for s in self.list("servicesets") if (s.get("spec") or {}).get("multiClusterService") == name]
        if mcs["metadata"].get("deletionTimestamp"):
            for ss in own:
                if not ss["metadata"].get("deletionTimestamp"):
                    self.mgmt.delete(self._rt("servicesets"), ss["metadata"]["namespace"], ss["metadata"]["name"])
            if own:
                self.sched.schedule(("mcs", name), self.reconcile_mcs, name, delay=0.5)
                return
            if MCS_FINALIZER in (mcs["metadata"].get("finalizers") or []):
                body = mutable(mcs)
                body["metadata"]["finalizers"] = [f for f in body["metadata"]["finalizers"] if f != MCS_FINALIZER]
                self.mgmt.update(body, manager=MANAGER)
            return
        labels = mcs["metadata"].get("labels") or {}
        if MCS_FINALIZER not in (mcs["metadata"].get("finalizers") or []) or \
                labels.get(COMPONENT_LABEL[0]) != COMPONENT_LABEL[1]:
            body = mutable(mcs)
            if MCS_FINALIZER not in (body["metadata"].get("finalizers") or []):
                body["metadata"].setdefault("finalizers", []).append(MCS_FINALIZER)
            body["metadata"].setdefault("labels", {})[COMPONENT_LABEL[0]] = COMPONENT_LABEL[1]
            self.mgmt.update(body, manager=MANAGER)
            return
        errs = []
        for svc in services:
            st = self.get("servicetemplates", SYSTEM_NS, svc.get("template", ""))
            if st is None:
                errs.append(f'failed to get ServiceTemplate {SYSTEM_NS}/{svc.get("template")}: '
                            f'servicetemplates.k0rdent.mirantis.com "{svc.get("template")}" not found')
            elif not (st.get("status") or {}).get("valid"):
                errs.append(f"the ServiceTemplate {SYSTEM_NS}/{svc.get('template')} is invalid with the error: "
                            f"{(st.get('status') or {}).get('validationError', '')}")
        if errs:
            _cond(conds, "ServicesReferencesValidation", "False", "Failed", "\n".join(errs), gen, ts)
            return self._write_mcs(mcs, status, gen, ts)
        _cond(conds, "ServicesReferencesValidation", "True", "Succeeded", "", gen, ts)
        _cond(conds, "ServicesDependencyValidation", "True", "Succeeded", "", gen, ts)
        _cond(conds, "MultiClusterServiceDependencyValidation", "True", "Succeeded", "", gen, ts)
        cds = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in self.list("clusterdeployments")}
        selfmgmt = self_managed(mcs)
        if not (mcs.get("spec") or {}).get("keepServicesOnSelectorMismatch"):
            for ss in own:  # cleanupServiceSets skips the self-management ServiceSet (no cluster)
                cd = cds.get((ss["metadata"]["namespace"], (ss.get("spec") or {}).get("cluster")))
                if cd is not None and not self.matches(mcs, cd) and not ss["metadata"].get("deletionTimestamp"):
                    self.mgmt.delete(self._rt("servicesets"), ss["metadata"]["namespace"], ss["metadata"]["name"])
        matching = []
        try:  # the same for every cluster: read once per reconcile, not once per cluster
            desired = self.desired_services(mcs)
        except ValuesError:
            desired = None  # a broken templateChain leaves the ServiceSets alone (kcm errors)
        if selfmgmt:  # one ServiceSet for the management cluster, counted like a matching cluster
            matching.append((SYSTEM_NS, ""))
            if desired is not None:
                self.ensure_serviceset(mcs, None, desired)
        for key, cd in sorted(cds.items()):
            if cd["metadata"].get("deletionTimestamp") or not self.matches(mcs, cd):
                continue
            matching.append(key)
            if desired is not None:
                self.ensure_serviceset(mcs, cd, desired)
        matched = set(matching)
        current = [s for s in self.list("servicesets") if (s.get("spec") or {}).get("multiClusterService") == name
                   and (s["metadata"]["namespace"], (s.get("spec") or {}).get("cluster") or "") in matched
                   and not s["metadata"].get("deletionTimestamp")]
        ready = sum(1 for s in current if (s.get("status") or {}).get("deployed"))
        ok = ready >= len(matching)
        _cond(conds, "ClusterInReadyState", "True" if ok else "False", "Succeeded" if ok else "Failed",
              f"{ready}/{len(matching)}", gen, ts)
        status["servicesUpgradePaths"] = [self.upgrade_paths(s)[0] for s in services]
        old = {(m.get("namespace"), m.get("name")): m for m in status.get("matchingClusters") or []}
        clusters, creds = [], {}
        for ss in current:
            ref = (ss.get("status") or {}).get("cluster")
            if not ref:
                continue
            cred = {}
            if ref.get("kind") == "ClusterDeployment":  # the management cluster (SveltosCluster) is never regional
                cd = cds.get((ref["namespace"], ref["name"])) or {}
                cref = (ref["namespace"], (cd.get("spec") or {}).get("credential", ""))
                if cref not in creds:  # a few Credentials for the whole fleet
                    creds[cref] = self.get("credentials", *cref) or {}
                cred = creds[cref]
            entry = dict(ref, lastTransitionTime=ts, regional=bool((cred.get("spec") or {}).get("region")),
                         deployed=bool((ss.get("status") or {}).get("deployed")))
            prev = old.get((ref["namespace"], ref["name"]))
            if prev is not None:
                entry = dict(prev, regional=entry["regional"]) if prev.get("deployed") == entry["deployed"] else \
                    dict(prev, deployed=entry["deployed"], lastTransitionTime=ts)
            clusters.append(entry)
        clusters.sort(key=lambda m: (m.get("kind", ""), m.get("namespace", ""), m.get("name", "")))
        status["matchingClusters"] = clusters
        if not clusters:
            status.pop("matchingClusters")
        self._write_mcs(mcs, status, gen, ts)

    def _write_mcs(self, mcs, status, gen, ts):
        def handle(c):
            if c["type"] == "ClusterInReadyState":
                return c.get("message", "") + " Clusters are ready."
            if c["type"] == "ServicesInReadyState":
                return c.get("message", "") + " Services are ready."
            return c.get("message", "")
        if status == (mcs.get("status") or {}):
            return
        status["observedGeneration"] = gen
        ready_condition(status["conditions"], gen, ts, handle)
        self.mgmt.set_status(mcs, status, manager=MANAGER)

    def template_version(self, svc):
        if svc.get("version"):
            return svc["version"]
        st = self.get("servicetemplates", SYSTEM_NS, svc.get("template", "")) or {}
        spec = st.get("spec") or {}
        return spec.get("version") or ((spec.get("helm") or {}).get("chartSpec") or {}).get("version") \
            or svc.get("template")

    def upgrade_paths(self, svc):
        """(ServiceUpgradePaths entry, error): from the ServiceTemplateChain when the service names one."""
        entry = {"name": svc.get("name"), "namespace": _effns(svc.get("namespace")), "template": svc.get("template")}
        chain = svc.get("templateChain")
        if not chain:
            entry["availableUpgrades"] = [{"versions": [{"name": svc.get("template"),
                                                         "version": svc.get("version") or svc.get("template")}]}]
            return entry, None
        stc = self.get("servicetemplatechains", SYSTEM_NS, chain)
        if stc is None:
            return entry, (f"failed to get ServiceTemplateChain {SYSTEM_NS}/{chain} to fetch upgrade paths: "
                           f'servicetemplatechains.k0rdent.mirantis.com "{chain}" not found')
        for t in (stc.get("spec") or {}).get("supportedTemplates") or []:
            if t.get("name") == svc.get("template"):
                ups = [{"name": u.get("name"), "version": u.get("version") or u.get("name")}
                       for u in t.get("availableUpgrades") or []]
                entry["availableUpgrades"] = [{"versions": ups}] if ups else []
                if not ups:
                    entry.pop("availableUpgrades")
                return entry, None
        return entry, f"ServiceTemplate {svc.get('template')} is not supported by ServiceTemplateChain {chain}"

    def desired_services(self, mcs) -> list:
        """The MultiClusterService's services with their template versions; ValuesError for a broken
        templateChain."""
        sspec = (mcs.get("spec") or {}).get("serviceSpec") or {}
        desired = [dict(s, version=self.template_version(s)) for s in sspec.get("services") or []]
        for s in desired:
            err = self.upgrade_paths(s)[1]
            if err:
                raise ValuesError(err)
        return desired

    def ensure_serviceset(self, mcs, cd, desired):
        """kcm's createOrUpdateServiceSet: the services whose dependsOn are Deployed, in (namespace, name) order,
        then those already in the ServiceSet. cd None: the management cluster's (selfManagement) ServiceSet,
        owned by the MultiClusterService."""
        ns, cdn = (cd["metadata"]["namespace"], cd["metadata"]["name"]) if cd else (SYSTEM_NS, "")
        name = serviceset_name(cdn, mcs["metadata"]["name"])
        sspec = (mcs.get("spec") or {}).get("serviceSpec") or {}
        rt = self._rt("servicesets")
        cur = self.mgmt.get(rt, ns, name)
        stored = ((cur or {}).get("spec") or {}).get("services") or []
        states = ((cur or {}).get("status") or {}).get("services") or []
        key = lambda s: (_effns(s.get("namespace")), s.get("name"))  # noqa: E731
        spec_version = {key(s): s.get("version") or s.get("template") for s in stored}
        status_state = {key(s): (s.get("state"), s.get("version") or s.get("template")) for s in states}
        want_version = {key(s): s["version"] for s in desired}
        deployed = {k for k in want_version if status_state.get(k, (None, None))[0] == "Deployed"
                    and status_state[k][1] == spec_version.get(k) == want_version[k]}
        filtered = [s for s in desired
                    if all(key(d) in deployed for d in s.get("dependsOn") or [])]
        filtered.sort(key=key)
        fkeys = {key(s) for s in filtered}

        def make(s):
            out = {}
            for k in ("helmOptions",):
                if s.get(k):
                    out[k] = s[k]
            out["version"] = s["version"]
            if s.get("helmAction"):
                out["helmAction"] = s["helmAction"]
            out.update(name=s["name"], namespace=_effns(s.get("namespace")), template=s["template"])
            for k in ("values", "valuesFrom"):
                if s.get(k):
                    out[k] = s[k]
            return out
        result = [make(s) for s in filtered if not s.get("disable")]
        dkeys = {key(s) for s in desired}
        result += [s for s in stored if key(s) in dkeys and key(s) not in fkeys]
        cfg = {}
        for k, src in (("syncMode", "syncMode"), ("templateResourceRefs", "templateResourceRefs"),
                       ("policyRefs", "policyRefs"), ("driftIgnore", "driftIgnore"),
                       ("driftExclusions", "driftExclusions"), ("priority", "priority"),
                       ("stopOnConflict", "stopOnConflict"), ("reloader", "reload"),
                       ("continueOnError", "continueOnError")):
            if sspec.get(src):
                cfg[k] = sspec[src]
        provider = dict((sspec.get("provider") or {}))
        provider.pop("selfManagement", None)
        if not provider.get("name"):
            provider = {"config": provider.get("config") or cfg, "name": PROVIDER}
        spec = {"cluster": cdn, "multiClusterService": mcs["metadata"]["name"], "provider": provider}
        if cd is None:  # `cluster` has no omitempty in kcm's ServiceSetSpec: "" (the CRD requires the field)
            provider["selfManagement"] = True
        if result:
            spec["services"] = result
        owner = cd or mcs
        owners = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                   "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        if cur is not None and cur.get("spec") == spec and cur["metadata"].get("ownerReferences") == owners and \
                (cur["metadata"].get("labels") or {}).get(ADAPTER_LABEL[0]) == ADAPTER_LABEL[1]:
            return  # compared before copying: every cluster's ServiceSet is looked at on every reconcile
        body = mutable(cur) if cur else {"apiVersion": rt.api_version, "kind": "ServiceSet",
                                          "metadata": {"name": name, "namespace": ns}}
        body["metadata"].setdefault("labels", {})[ADAPTER_LABEL[0]] = ADAPTER_LABEL[1]
        body["metadata"]["ownerReferences"] = owners
        body["spec"] = spec
        try:
            if cur is None:
                self.mgmt.create(body, manager=MANAGER)
            else:
                self.mgmt.update(body, manager=MANAGER)
        except E.ApiError as err:
            if err.code != 409:
                raise

    # ------------------------------------------------------------------------------ ServiceSet
    def reconcile_ss(self, ns, name):
        rt = self._rt("servicesets")
        ss = self.mgmt.get(rt, ns, name) if rt else None
        if ss is None:
            self.waiting.pop((ns, name), None)
            for users in self.ref_users.values():
                users.discard((ns, name))
            return
        spec = ss.get("spec") or {}
        cd_name = spec.get("cluster", "")
        selfmgmt = bool((spec.get("provider") or {}).get("selfManagement"))
        cid = self.layer.kcm.clusters.get((ns, cd_name))
        target = self.mgmt if selfmgmt else (self.layer.fleet.client(cid) if cid else None)
        ts = now()
        gen = ss["metadata"].get("generation", 1)
        if ss["metadata"].get("deletionTimestamp"):
            states = (ss.get("status") or {}).get("services") or []
            if any(s.get("state") != "Deleting" for s in states):
                st = mutable(ss.get("status") or {})
                st["services"] = [dict(s, state="Deleting", lastStateTransitionTime=ts) for s in states]
                self.mgmt.set_status(ss, st, manager=MANAGER)
                return
            if target is not None:
                for s in states:
                    self.layer.uninstall(target, s["name"], {"namespace": s["namespace"]})
            if SS_FINALIZER in (ss["metadata"].get("finalizers") or []):
                body = mutable(ss)
                body["metadata"]["finalizers"] = [f for f in body["metadata"]["finalizers"] if f != SS_FINALIZER]
                self.mgmt.update(body, manager=MANAGER)
            return
        if SS_FINALIZER not in (ss["metadata"].get("finalizers") or []):
            body = mutable(ss)
            body["metadata"].setdefault("finalizers", []).append(SS_FINALIZER)
            self.mgmt.update(body, manager=MANAGER)
            return
        status = mutable(ss.get("status") or {})
        ref = MGMT_CLUSTER if selfmgmt else {"apiVersion": f"{GROUP}/v1beta1", "kind": "ClusterDeployment",
                                               "metadata": {"name": cd_name, "namespace": ns}}
        status["cluster"] = {"apiVersion": ref["apiVersion"], "kind": ref["kind"],
                             "name": ref["metadata"]["name"], "namespace": ref["metadata"]["namespace"]}
        status["provider"] = {"ready": True}
        status.setdefault("deployed", False)
        conds = status.setdefault("conditions", [])
        _cond(conds, "ServiceSetProfile", "True", "ServiceSetProfileReady", "Profile is ready", gen, ts)
        services = spec.get("services") or []
        skeys = {(s["namespace"], s["name"]) for s in services}
        prev = {(s["namespace"], s["name"]): s for s in status.get("services") or []}
        # what is no longer in the ServiceSet is withdrawn (Sveltos: the Profile's helmCharts changed)
        for k, s in prev.items():
            if k not in skeys and target is not None:
                self.layer.uninstall(target, s["name"], {"namespace": s["namespace"]})
        states = []
        for s in services:
            p = prev.get((s["namespace"], s["name"]))
            states.append(dict(p) if p else {"type": "Helm", "lastStateTransitionTime": ts, "name": s["name"],
                                              "namespace": s["namespace"], "template": s["template"],
                                              "version": s.get("version"), "state": "Provisioning"})
        failure, pending = "", False
        self.waiting.pop((ns, name), None)
        if target is not None:
            cd = MGMT_CLUSTER if selfmgmt else self.get("clusterdeployments", ns, cd_name)
            results = {}
            for s in services:
                res = self.install_one(target, cd, ss, s)
                if res is PENDING:
                    pending = True
                    break
                results[(s["namespace"], s["name"])] = res
                if res:
                    failure = res
                    break  # continueOnError false: Sveltos stops at the first failure
            for st in states:
                k = (st["namespace"], st["name"])
                new = "Deployed" if results.get(k, "x") is None else ("Failed" if failure else
                                                                      ("Provisioning" if pending else "Pending"))
                msg = failure if new == "Failed" else ""
                if new != st.get("state"):
                    st["lastStateTransitionTime"] = ts
                svc = next(x for x in services if (x["namespace"], x["name"]) == k)
                st.update(state=new, template=svc["template"], version=svc.get("version"))
                if msg:
                    st["failureMessage"] = msg
                else:
                    st.pop("failureMessage", None)
            status["deployed"] = all(st["state"] == "Deployed" for st in states)
        status["services"] = states
        if not states:
            status.pop("services")
        done = sum(1 for st in states if st["state"] == "Deployed")
        _cond(conds, "ServicesInReadyState", "True" if done == len(services) else "False", "ServicesInReadyState",
              f"{done}/{len(services)}", gen, ts)
        _cond(conds, "ServiceSetStatusesCollected", "True", "ServiceSetStatusesCollected", "Statuses collected",
              gen, ts)
        for c in conds:  # updateCondition keeps the transition time unless something changed
            old = next((o for o in (ss.get("status") or {}).get("conditions") or [] if o["type"] == c["type"]), None)
            if old and all(old.get(f) == c.get(f) for f in ("status", "reason", "message")):
                c["lastTransitionTime"] = old["lastTransitionTime"]
        if status != ss.get("status"):
            self.mgmt.set_status(ss, status, manager=MANAGER)
        key = (ns, name)
        if pending and key in self.waiting:  # a templateResourceRef: its watch wakes us, a slow poll besides
            attempt = self.retries.get(key, 0)
            self.retries[key] = attempt + 1
            self._poll_ss(ns, name, min(0.5 * 2 ** attempt, 10.0))
        elif pending:
            self._poll_ss(ns, name, 0.3)
        elif failure:
            attempt = self.retries.get(key, 0)
            self.retries[key] = attempt + 1
            self.sched.schedule(("ss-retry", ns, name), self.reconcile_ss, ns, name,
                                delay=min(2.0 * 2 ** attempt, 30.0))
        else:
            self.retries.pop(key, None)

    def install_one(self, target, cd, ss, svc):
        """None when deployed, PENDING, or the failure message (helm's, or the template's)."""
        st = self.get("servicetemplates", SYSTEM_NS, svc.get("template", "")) or \
            self.get("servicetemplates", ss["metadata"]["namespace"], svc.get("template", ""))
        if st is None or not (st.get("status") or {}).get("valid"):
            return f"ServiceTemplate {svc.get('template')} is invalid"
        if svc["name"] in self.layer.for_cd("fail_service", ss["spec"].get("cluster", "")):
            return "context deadline exceeded (kofsim scenario fail_service)"
        helm = (st.get("spec") or {}).get("helm") or {}
        chart = (helm.get("chartSpec") or {}).get("chart") or helm.get("chartName")
        version = str((helm.get("chartSpec") or {}).get("version") or helm.get("chartVersion") or "")
        try:
            values = render_values(self, cd, ss, svc)
        except RefMissing as missing:
            self.waiting[(ss["metadata"]["namespace"], ss["metadata"]["name"])] = missing.ref
            return PENDING
        except ValuesError as err:
            return str(err)
        except yaml.YAMLError as err:
            return f"failed to parse values: {err}"
        render = catalog_1x_workload.objects_for if catalog_1x_workload.handles(chart, version) else None
        err = self.layer.install(target, svc["name"], svc["namespace"], chart, version, values, render=render)
        if err is PENDING:
            return PENDING
        return err or None


# ------------------------------------------------------------------------------------ values
_BLOCK = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_ASSIGN = re.compile(r"^\$(\w+)\s*:?=\s*(.*)$", re.S)
_DIG = re.compile(r'^\.Cluster\.metadata \| dig "annotations" "([^"]+)" "((?:[^"\\]|\\.)*)"(\s*\|\s*fromYaml)?$', re.S)
_LIT = re.compile(r"^(?:printf\s+)?`(.*)`(.*)$", re.S)
_REPLACE = re.compile(r'replace\s+"\{(\w+)\}"\s+(\$\w+|\.Cluster\.metadata\.\w+)')
_MERGE = re.compile(r"^mergeOverwrite \(dict\)((?:\s+\$\w+)+)")


_SVELTOS_FUNCS = re.compile(r"\b(getResource|copy|removeField|setField|chainRemoveField|chainSetField)\b")


def cluster_data(cd):
    """Sveltos' `.Cluster` for a ClusterDeployment: the CAPI Cluster kcm makes, with the ClusterDeployment's name
    and namespace, spec.config.clusterLabels / clusterAnnotations as its labels and annotations."""
    if cd.get("kind") == "SveltosCluster":  # the management cluster: the object itself
        return cd
    cfg = (cd.get("spec") or {}).get("config") or {}
    meta = {"name": cd["metadata"]["name"], "namespace": cd["metadata"]["namespace"],
            "labels": dict(cfg.get("clusterLabels") or {}), "annotations": dict(cfg.get("clusterAnnotations") or {})}
    return {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": meta}


def template_refs(ctl, cd, ss):
    """The ServiceSet's templateResourceRefs resolved for the cluster: identifier -> object. Names and namespaces
    are instantiated as templates over `.Cluster` (an empty namespace is the cluster's); a missing optional
    reference is left out, a missing non-optional one raises RefMissing."""
    spec = (ss or {}).get("spec") or {}
    refs = ((spec.get("provider") or {}).get("config") or {}).get("templateResourceRefs")
    if refs is None:
        mcs = ctl.get("multiclusterservices", "", spec.get("multiClusterService", "")) or {}
        refs = ((mcs.get("spec") or {}).get("serviceSpec") or {}).get("templateResourceRefs") or []
    data = {"Cluster": cluster_data(cd)}
    out = {}
    for ref in refs:
        res = ref.get("resource") or {}
        try:
            name = gotemplate.render(res.get("name", ""), data)
            rns = gotemplate.render(res.get("namespace", ""), data) or cd["metadata"]["namespace"]
        except gotemplate.TemplateError as err:
            raise ValuesError(f"failed to instantiate templateResourceRef {ref.get('identifier')}: {err}") from err
        obj = ctl.mgmt.get_kind(res.get("apiVersion", "v1"), res.get("kind", ""), rns, name)
        if obj is None:
            if ref.get("optional"):
                continue
            raise RefMissing((res.get("kind"), rns, name),
                             f"{res.get('kind')} {rns}/{name} (templateResourceRefs {ref.get('identifier')}) "
                             f"not found")
        key = (res.get("kind"), rns, name)
        ctl.ref_users.setdefault(key, set()).add((ss["metadata"]["namespace"], ss["metadata"]["name"]))
        out[ref.get("identifier")] = obj
    return out


def _evaluate_template(ctl, cd, ss, text):
    """Sveltos' instantiateTemplateValues: the values text as a Go template over the cluster and the
    templateResourceRefs (gotemplate.py), then parsed as YAML."""
    resources = template_refs(ctl, cd, ss)
    try:
        out = gotemplate.render(text, {"Cluster": cluster_data(cd), "MgmtResources": resources}, resources)
    except gotemplate.TemplateError as err:
        raise ValuesError(f"failed to instantiate values: {err}") from err
    values = yaml.safe_load(out) if out.strip() else {}
    if not isinstance(values, dict):
        raise ValuesError("failed to instantiate values: not a YAML mapping")
    return values


def _adler(s):
    return str(zlib.adler32(s.encode()) & 0xffffffff)


def render_values(ctl, cd, ss, svc) -> dict:
    """The values Sveltos would render for svc on the ClusterDeployment cd: the MCS' Go-template statements of
    kof-regional / kof-child v1.10.0 evaluated in Python (annotations from spec.config.clusterAnnotations, the
    child's ConfigMap through templateResourceRefs `ChildConfig`), then valuesFrom ConfigMaps."""
    text = svc.get("values") or ""
    meta = cd["metadata"]
    name, ns = meta["name"], meta["namespace"]
    ann = cluster_data(cd)["metadata"].get("annotations") or {}
    refs_ns = ss["metadata"]["namespace"]  # kcm's convertValuesFrom: valuesFrom are read in the ServiceSet's namespace
    if "{{" not in text:
        values = catalog.parse_values(text)
    elif _SVELTOS_FUNCS.search(text) or "mergeOverwrite" not in text:
        values = _evaluate_template(ctl, cd, ss, text)
    else:
        values = _evaluate(ctl, text, name, ns, ann)
    for ref in svc.get("valuesFrom") or []:
        ref_name = ref.get("name", "").replace("{{ .Cluster.metadata.name }}", name)
        plural = "configmaps" if ref.get("kind") == "ConfigMap" else "secrets"
        obj = ctl.get(plural, refs_ns, ref_name, group="")
        if obj is None:
            raise ValuesError(f'failed to get {ref.get("kind")} {refs_ns}/{ref_name}: {plural} "{ref_name}" not found')
        for v in (obj.get("data") or {}).values():
            parsed = yaml.safe_load(v) if v else None
            if isinstance(parsed, dict):
                values = catalog.merge(values, parsed)
    return values


def _evaluate(ctl, text, name, ns, ann):
    env: dict = {}
    child_cm = None

    def child_field(key):
        nonlocal child_cm
        if child_cm is None:
            child_cm = ctl.get("configmaps", ns, f"kof-cluster-config-{name}", group="")
            if child_cm is None:  # a non-optional templateResourceRef: Sveltos waits for it (see RefMissing)
                raise RefMissing(("ConfigMap", ns, f"kof-cluster-config-{name}"),
                                 f"ConfigMap {ns}/kof-cluster-config-{name} (templateResourceRefs ChildConfig) "
                                 f"not found")
        return (child_cm.get("data") or {}).get(key, "")

    def vmuser_version(secret):
        sec = ctl.get("secrets", "kof", secret, group="")
        return (sec or {}).get("metadata", {}).get("resourceVersion", "")

    result = None
    for block in _BLOCK.findall(text):
        m = _ASSIGN.match(block)
        expr = m.group(2).strip() if m else block.strip()
        var = m.group(1) if m else None
        mm = _MERGE.match(expr)
        if mm:
            out: dict = {}
            for v in mm.group(1).split():  # sprig's mergeOverwrite, as the template says (a null replaces)
                out = gotemplate.merge_overwrite(out, env.get(v[1:]) or {})
            if var:
                env[var] = out
            else:
                result = out
            continue
        if var is None:
            if expr.startswith("$mergedValues | toYaml"):
                result = env.get("mergedValues")
            continue
        d = _DIG.match(expr)
        lit = _LIT.match(expr)
        if d:
            val = ann.get(d.group(1), d.group(2).replace('\\"', '"'))
            env[var] = (yaml.safe_load(val) or {}) if d.group(3) else val
        elif lit:
            body = lit.group(1)
            for ph, src in _REPLACE.findall(lit.group(2)):
                value = {".Cluster.metadata.name": name, ".Cluster.metadata.namespace": ns}.get(src)
                if value is None:
                    value = env.get(src[1:], "")
                body = body.replace("{" + ph + "}", "" if value is None else str(value))
            env[var] = yaml.safe_load(body) or {}
        elif expr == ".Cluster.metadata.name":
            env[var] = name
        elif expr == ".Cluster.metadata.namespace":
            env[var] = ns
        elif re.fullmatch(r'"[^"]*"', expr):
            env[var] = expr[1:-1]
        elif expr.startswith('getField "ChildConfig" "data.'):
            env[var] = child_field(expr.split('"data.')[1].rstrip('"'))
        elif expr.startswith('getField "StorageVMUserCredentials"'):
            env[var] = ""  # filled below, once the Secret's name is known
        elif var == "metricsEnabled":
            env[var] = not ann.get("k0rdent.mirantis.com/kof-write-metrics-endpoint")
        elif var == "metricsHost":
            env[var] = f"vmauth.{env.get('regionalDomain', '')}" if env.get("metricsEnabled") else ""
        elif var in ("grafanaHost", "dexHost"):
            env[var] = f"{var[:-4]}.{env.get('regionalDomain', '')}"
        elif var == "dexIssuer":
            env[var] = f"https://dex.{env.get('regionalDomain', '')}"
        elif var == "vmuserSecretName":
            env[var] = "kof-vmuser-creds-" + _adler(f"kof-cluster-config-{name}/{ns}")
        elif var == "env" and "defaultCRConfigEnv" in env:
            merged = env.get("mergedValues") or {}
            extra = (((merged.get("opentelemetry-kube-stack") or {}).get("defaultCRConfig") or {}).get("env") or [])
            env[var] = list((env["defaultCRConfigEnv"] or {}).get("env") or []) + list(extra)
            merged.setdefault("opentelemetry-kube-stack", {}).setdefault("defaultCRConfig", {})["env"] = env[var]
        if var == "vmuserSecretVersion" or (var == "vmuserSecretName" and "vmuserSecretVersion" in env):
            secret = env.get("vmuserSecretName") or "kof-vmuser-creds-admin-" + _adler(f"kof-{name}/{ns}")
            env["vmuserSecretVersion"] = vmuser_version(secret)
    if result is None:
        raise ValuesError("kofsim cannot evaluate these values (no mergeOverwrite result)")
    return result
