"""Simulated k0rdent Cluster Manager (kcm 0.1.x, API k0rdent.mirantis.com/v1alpha1; kcm 1.x v1beta1 as an
option) and Sveltos.

kcm:
- validating webhooks (kcm's messages): a ClusterDeployment must name an existing, valid ClusterTemplate, an
  existing Ready Credential, and existing, valid ServiceTemplates (kof#57); they run for server-side dry runs
  too (sideEffects: None). A ServiceTemplate or ClusterTemplate that a ClusterDeployment references cannot be
  deleted (kof#615/#642).
- ServiceTemplate controller: `status.valid` once its chart source (HelmRepository) exists and the chart is one
  kofsim can install; otherwise `validationError`.
- ClusterDeployment controller: after `--ready-after` seconds a virtual cluster (served by this process at
  /clusters/<ns>/<name>, its own objects and token) and the `<name>-kubeconfig` Secret (key `value`), then
  `Ready`; a Sveltos Profile for its services; deletion tears the virtual cluster down behind kcm's
  `k0rdent.mirantis.com/cluster-deployment` finalizer (foreground deletion and other finalizers are the API's);
  in v1beta1 mode first the ClusterDeployment's ServiceSets go, as kcm v1.10.0's reconcileDelete does it.
Sveltos:
- one ClusterSummary per ClusterDeployment for its services (`p--<cd>-capi-<cd>`, the namespaced Profile kcm
  renders) and one per matching ClusterProfile (`<profile>-capi-<cd>`), with Helm / Resources feature summaries
  going Provisioning -> Provisioned, or Failed with helm's message (missing template, a chart that cannot render
  because its `lookup` finds no credentials Secret, kinds whose CRDs are missing, scripted faults).
- services are "installed" into the virtual cluster from catalog.py, in list order; ClusterProfiles copy the
  Secrets named in their templateResourceRefs (continuous sync: a changed source Secret is copied again).
- everything reacts to events; a failed service is retried when something it may depend on appears on its
  cluster (a Secret, a CRD), when the ClusterDeployment changes, or when a profile or template does.

Every controller here is an API client (api.Client): it reads, lists and watches, writes with the resourceVersion it
read (a 409 requeues the work), writes status through the status subresource, adds and removes its finalizer, and
owns what it creates. The same code runs in the emulator's process (inproc.py) and, as `kofsim controllers`,
against a real kube-apiserver (rest.py); the workload clusters come from a fleet (inproc.EmulatorFleet: virtual
clusters of the emulator; realfleet.RealFleet: a kube-apiserver each).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json

from .. import errors as E
from ..selectors import match_label_selector_obj
from . import admission, catalog, catalog_1x
from .api import mutable, now

GROUP = "k0rdent.mirantis.com"
SVELTOS = "config.projectsveltos.io"
# kcm's ClusterDeployment finalizer (v0.1.0 and v1.10.0 api/*/clusterdeployment_types.go ClusterDeploymentFinalizer);
# "k0rdent.mirantis.com/cleanup" is kcm's BlockingFinalizer, which kcm puts on the CAPI Cluster, not on the
# ClusterDeployment: kofsim used it before and still removes it from a ClusterDeployment that carries it
FINALIZER = "k0rdent.mirantis.com/cluster-deployment"
LEGACY_FINALIZER = "k0rdent.mirantis.com/cleanup"
CD_DELETE_REQUEUE = 10.0  # kcm v1.10.0 ClusterDeploymentReconciler.defaultRequeueTime
MANAGER = "manager"  # kcm's controller-runtime field manager
SVELTOS_MANAGER = "addon-controller"


def _deny(kind: str, why: str) -> admission.Denied:
    return admission.Denied(f"the {kind} is invalid: {why}" if kind else why)


def denied_error(webhook: str, denied) -> E.ApiError:
    """kube-apiserver's answer to a webhook denial: 403 with the webhook's name, its warnings as Warning headers."""
    warning = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in denied.warnings)
    return E.ApiError(403, "Forbidden", f'admission webhook "{webhook}" denied the request: {denied.message}',
                      headers={"Warning": warning} if warning else None)


def _cond(type_, status, reason, message, ts, prev=None):
    if prev and prev.get("status") == status and prev.get("reason") == reason and prev.get("message") == message:
        return prev
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": ts}


def _ready(obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


class Kcm:
    def __init__(self, layer):
        self.layer = layer
        self.mgmt = layer.mgmt
        self.fleet = layer.fleet
        self.sched = layer.runtime.scope("")
        self.born: dict[tuple, float] = {}        # (ns, name) -> when the CD was first seen (monotonic)
        self.clusters: dict[tuple, str] = {}       # (ns, name) -> workload cluster id (provisioned)
        self.synced: dict[tuple, int] = {}         # (ns, name) -> generation Sveltos last acted on
        watch = self.mgmt.watch
        watch(GROUP, "clusterdeployments", self.on_cd)
        watch(GROUP, "servicetemplates", self.on_st)
        watch("source.toolkit.fluxcd.io", "helmrepositories", self.on_repo)
        watch(GROUP, "clustertemplatechains", self.on_chain)
        watch(SVELTOS, "clusterprofiles", lambda _t, _o: self.resync_all())
        watch("", "secrets", self.on_secret)

    # ------------------------------------------------------------------------------ accessors
    def rt(self, group, plural):
        return self.mgmt.resource(group, plural)

    def get(self, group, plural, ns, name):
        rt = self.rt(group, plural)
        if rt is None:
            return None
        return self.mgmt.get(rt, ns if rt.namespaced else "", name)

    def list(self, group, plural, ns=None):
        rt = self.rt(group, plural)
        return self.mgmt.list(rt, ns) if rt is not None else []

    # ------------------------------------------------------------------------------- webhooks
    def review(self, op, kind, new, old):
        """kcm's validating webhooks (kcm v0.1.0's rules, admission.py; kcm 1.x's in v1beta1 mode). Raises
        admission.Denied (message without kube-apiserver's prefix); returns the webhook's name when it applies,
        None for requests no webhook of kcm intercepts. Used by the emulator's admission hook and by the real
        backend's ValidatingWebhookConfiguration (webhook.py)."""
        if kind == "ClusterDeployment" and op in ("CREATE", "UPDATE"):
            self._admit_cd(new, old)
            return admission.WEBHOOK
        if kind in ("ServiceTemplate", "ClusterTemplate") and op == "DELETE":
            self._admit_template_delete(kind, old)
            return f"validation.{kind.lower()}.k0rdent.mirantis.com"
        return None

    def admit(self, op, rt, new, old):
        """The emulator's admission hook (store.Cluster.admission)."""
        if rt.group != GROUP or rt.kind not in ("ClusterDeployment", "ServiceTemplate", "ClusterTemplate"):
            return
        try:
            self.review(op, rt.kind, new, old)
        except admission.Denied as denied:
            hook = admission.WEBHOOK if rt.kind == "ClusterDeployment" else \
                f"validation.{rt.kind.lower()}.k0rdent.mirantis.com"
            raise denied_error(hook, denied) from None

    def _admit_cd(self, cd, old):
        ns = cd["metadata"]["namespace"]
        spec = cd.get("spec") or {}
        if cd["metadata"].get("deletionTimestamp"):
            return
        if self.layer.kcm_version == "v1alpha1":
            # kcm v0.1.0's rules and messages (admission.py)
            admission.validate_cluster_deployment("UPDATE" if old else "CREATE", cd, old,
                                                  lambda plural, n, name: self.get(GROUP, plural, n, name))
            return
        key = f"{ns}/{cd['metadata']['name']}"
        if old is not None and (old.get("spec") or {}).get("template") != spec.get("template") and \
                spec.get("template") not in ((old.get("status") or {}).get("availableUpgrades") or []):
            raise _deny("", "cluster upgrade is forbidden")

        def deny(why):
            return _deny("ClusterDeployment", why)
        tname = spec.get("template", "")
        tpl = self.get(GROUP, "clustertemplates", ns, tname)
        if tpl is None:
            raise deny(f'clustertemplates.k0rdent.mirantis.com "{tname}" not found')
        if old is None or (old.get("spec") or {}).get("template") != tname:
            if not (tpl.get("status") or {}).get("valid"):
                raise deny(f"the ClusterTemplate {ns}/{tname} is invalid with the error: "
                           f"{(tpl.get('status') or {}).get('validationError', '')}")
        providers = (tpl.get("status") or {}).get("providers") or []
        if not any(p.startswith("infrastructure-") for p in providers):
            raise deny(f"no infrastructure providers have been found in the ClusterTemplate {ns}/{tname}")
        cred_name = spec.get("credential", "")
        cred = self.get(GROUP, "credentials", ns, cred_name)
        if cred is None:
            raise deny(f"failed to get Credential {ns}/{cred_name} referred in the ClusterDeployment {key}: "
                       f'credentials.k0rdent.mirantis.com "{cred_name}" not found')
        if not (cred.get("status") or {}).get("ready"):
            raise deny(f"the Credential {ns}/{cred_name} is not Ready")
        errs = []
        for svc in ((spec.get("serviceSpec") or {}).get("services") or []):
            sname = svc.get("template", "")
            st = self.get(GROUP, "servicetemplates", ns, sname)
            if st is None:
                errs.append(f'failed to get ServiceTemplate {ns}/{sname}: servicetemplates.k0rdent.mirantis.com '
                            f'"{sname}" not found')
            elif (st.get("status") or {}).get("valid") is not True:
                errs.append(f"the ServiceTemplate {ns}/{sname} is invalid with the error: "
                            f"{(st.get('status') or {}).get('validationError', '')}")
        if errs:
            raise deny("\n".join(errs))

    def _admit_template_delete(self, kind, tpl):
        ns = tpl["metadata"].get("namespace")
        cds = self.list(GROUP, "clusterdeployments", ns)
        mcss = self.list(GROUP, "multiclusterservices")
        if self.layer.kcm_version == "v1alpha1":
            admission.validate_template_delete(kind, tpl, cds, mcss)
            return
        admission.validate_template_delete_v1beta1(kind, tpl, cds, mcss, self._owner_exists)

    def _owner_exists(self, ref, ns):
        group = ref.get("apiVersion", "").rpartition("/")[0]
        rt = self.mgmt.kind(ref.get("apiVersion", ""), ref.get("kind", "")) if group else None
        return rt is not None and self.mgmt.get(rt, ns if rt.namespaced else "", ref.get("name", "")) is not None

    # ------------------------------------------------------------------------------------ events
    def on_cd(self, type_, obj):
        ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        if type_ == "DELETED":
            self.sched.schedule(("kcm-teardown", ns, name), self.teardown, ns, name)
        else:
            self.sched.schedule(("kcm-cd", ns, name), self.reconcile_cd, ns, name)

    def on_st(self, type_, obj):
        if type_ == "DELETED":
            return
        ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        self.sched.schedule(("kcm-st", ns, name), self.reconcile_st, ns, name)
        if (obj.get("status") or {}).get("valid"):
            self.resync_all()

    def on_repo(self, type_, obj):
        if type_ == "DELETED":
            return
        ns = obj["metadata"].get("namespace", "")
        for st in self.list(GROUP, "servicetemplates", ns):
            self.sched.schedule(("kcm-st", ns, st["metadata"]["name"]), self.reconcile_st, ns, st["metadata"]["name"])

    def on_chain(self, _type, obj):
        # kcm's ClusterDeployment controller watches chains: availableUpgrades follow them
        ns = obj["metadata"].get("namespace", "")
        for cd in self.list(GROUP, "clusterdeployments", ns):
            self.sched.schedule(("kcm-cd", ns, cd["metadata"]["name"]), self.reconcile_cd, ns, cd["metadata"]["name"])

    def on_secret(self, type_, obj):
        if type_ != "DELETED" and self.layer.secret_referenced(obj["metadata"].get("namespace", ""),
                                                              obj["metadata"]["name"]):
            self.resync_all()

    def resync_all(self):
        for (ns, name) in list(self.clusters):
            self.sched.schedule(("sveltos", ns, name), self.layer.sveltos.sync, ns, name, delay=0.1)

    # ---------------------------------------------------------------------------- ServiceTemplate
    def reconcile_st(self, ns, name):
        st = self.get(GROUP, "servicetemplates", ns, name)
        if st is None:
            return
        helm = (st.get("spec") or {}).get("helm") or {}
        chart_spec = helm.get("chartSpec") or {}
        chart = chart_spec.get("chart") or helm.get("chartName")
        version = chart_spec.get("version") or helm.get("chartVersion")
        src = chart_spec.get("sourceRef") or {}
        err = None
        if not chart:
            err = "spec.helm.chartSpec.chart is empty"
        elif src and self.get("source.toolkit.fluxcd.io", "helmrepositories", ns, src.get("name", "")) is None:
            err = f"HelmRepository {ns}/{src.get('name')} not found"
        elif chart not in catalog.KNOWN_CHARTS and not (self.layer.kof_mode == "1.x" and
                                                       chart in catalog_1x.TEMPLATE_CHARTS):  # [flux.py] KOF 1.10
            err = f"chart {chart} not found in repository {src.get('name', '')}"
        status = {"valid": err is None, "observedGeneration": st["metadata"].get("generation", 1)}
        if err:
            status["validationError"] = err
        else:
            status["chartRef"] = {"kind": "HelmChart", "name": name, "namespace": ns}
            if version:
                status["chartVersion"] = version
        self.mgmt.set_status(st, status, manager=MANAGER)

    # -------------------------------------------------------------------------- ClusterDeployment
    def reconcile_cd(self, ns, name):
        cd = self.get(GROUP, "clusterdeployments", ns, name)
        if cd is None:
            return
        key = (ns, name)
        ts = now()
        prev = {c["type"]: c for c in (cd.get("status") or {}).get("conditions") or []}
        if cd["metadata"].get("deletionTimestamp"):
            self.reconcile_delete(cd, ts, prev)
            return
        if FINALIZER not in (cd["metadata"].get("finalizers") or []):
            body = mutable(cd)
            body["metadata"].setdefault("finalizers", []).append(FINALIZER)
            cd = self.mgmt.update(body, manager=MANAGER)
        clock = self.layer.clock
        self.born.setdefault(key, clock())
        gen = cd["metadata"].get("generation")
        conds = [_cond("TemplateReady", "True", "Succeeded", "Template is valid", ts, prev.get("TemplateReady")),
                 _cond("HelmChartReady", "True", "Succeeded", "Helm chart is valid", ts, prev.get("HelmChartReady")),
                 _cond("HelmReleaseReady", "True", "InstallSucceeded", "Helm install succeeded", ts,
                       prev.get("HelmReleaseReady"))]
        # a cluster that is Ready already (a restarted controller) does not wait again
        wait = 0 if _ready(cd) else self.layer.ready_after() - (clock() - self.born[key])
        never = self.layer.for_cd("never_ready", name)
        client = None
        if not never and wait <= 0:
            client = self.ensure_cluster(cd)
            if client is None:  # the cluster's API is still starting (real backend)
                wait = 0.25
        if never or wait > 0:
            conds.append(_cond("Ready", "False", "Provisioning", "Control plane is being provisioned: waiting for "
                               "infrastructure", ts, prev.get("Ready")))
            self.mgmt.set_status(cd, {"conditions": conds, "observedGeneration": gen}, manager=MANAGER)
            if not never:
                self.sched.schedule(("kcm-cd", ns, name), self.reconcile_cd, ns, name, delay=max(0.05, wait))
            return
        cid = f"{ns}/{name}"
        if not self.layer.for_cd("no_kubeconfig", name):
            self.ensure_kubeconfig(cd, cid)
        services = [s for s in ((cd.get("spec") or {}).get("serviceSpec") or {}).get("services") or []
                    if not s.get("disable")]
        if services:
            self.ensure_profile(cd, services)
            conds.append(_cond("SveltosProfileReady", "True", "Succeeded", "Sveltos Profile is ready", ts,
                               prev.get("SveltosProfileReady")))
        else:
            prt = self.rt(SVELTOS, "profiles")
            if prt is not None and self.mgmt.get(prt, ns, name) is not None:
                self.mgmt.delete(prt, ns, name, propagation="Background")
        svc_state = self.layer.sveltos.services_status(ns, name, services, cd)
        if self.layer.kcm_version == "v1beta1" and services:
            ok = sum(1 for s in svc_state or [] if s["state"] == "Deployed")
            conds.append(_cond("ServicesInReadyState", "True" if ok == len(services) else "False",
                               "Succeeded" if ok == len(services) else "Progressing", f"{ok}/{len(services)}", ts,
                               prev.get("ServicesInReadyState")))
        conds.append(_cond("Ready", "True", "Succeeded", "Object is ready", ts, prev.get("Ready")))
        status = {"conditions": conds, "observedGeneration": gen, "k8sVersion": self.fleet.k8s_version(cid)}
        upgrades = self.available_upgrades(ns, (cd.get("spec") or {}).get("template", ""))
        if upgrades:
            status["availableUpgrades"] = upgrades
        if svc_state:
            status["services"] = svc_state
        self.mgmt.set_status(cd, status, manager=MANAGER)
        # Sveltos acts on a new or changed ClusterDeployment; other triggers (profiles, secrets, templates,
        # objects appearing on the cluster while a service waits for them) schedule it on their own.
        if self.synced.get(key) != gen:
            self.synced[key] = gen
            self.sched.schedule(("sveltos", ns, name), self.layer.sveltos.sync, ns, name, delay=0.05)

    def available_upgrades(self, ns, template):
        """status.availableUpgrades from the namespace's ClusterTemplateChains, as kcm's controller sets it."""
        return admission.available_upgrades(template, self.list(GROUP, "clustertemplatechains", ns))

    def reconcile_delete(self, cd, ts, prev):
        """A ClusterDeployment being deleted. v1alpha1: the cluster goes at once, the finalizer after a short
        delay. v1beta1 (kcm v1.10.0 reconcileDelete): condition Deleting; the CD's ServiceSets are deleted (their
        own finalizer uninstalls the services from the still running cluster, mcs.py) and, while any is left, the
        controller requeues after its defaultRequeueTime (10 s: it does not watch ServiceSets); then the cluster
        is deleted (the CAPI Cluster, here the virtual cluster) and the finalizer removed."""
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        fins = cd["metadata"].get("finalizers") or []
        if FINALIZER not in fins and LEGACY_FINALIZER not in fins:
            return
        status = mutable(cd.get("status") or {})
        conds = [c for c in status.get("conditions") or [] if c["type"] not in ("Ready", "Deleting")]
        conds.append(_cond("Ready", "False", "Deleting", "Cluster is being deleted", ts, prev.get("Ready")))
        delay = min(1.0, max(0.1, self.layer.ready_after() / 4))
        if self.layer.kcm_version == "v1alpha1":
            self.mgmt.set_status(cd, dict(status, conditions=conds), manager=MANAGER)
            self.teardown(ns, name)
            self.sched.schedule(("kcm-fin", ns, name), self._drop_finalizer, ns, name, delay=delay)
            return
        ss_rt = self.rt(GROUP, "servicesets")
        own = [s for s in (self.mgmt.list(ss_rt, ns) if ss_rt is not None else [])
               if any(o.get("kind") == "ClusterDeployment" and o.get("name") == name
                      for o in s["metadata"].get("ownerReferences") or [])]
        for ss in own:
            if not ss["metadata"].get("deletionTimestamp"):
                self.mgmt.delete(ss_rt, ns, ss["metadata"]["name"])
        if own:
            reason, msg = "WaitingForServiceSetsDeletion", "Waiting for ServiceSets to be deleted"
        else:
            reason, msg = "WaitingForClusterDeletion", "Waiting for CAPI Cluster to be deleted"
        conds.append(_cond("Deleting", "True", reason, msg, ts, prev.get("Deleting")))
        self.mgmt.set_status(cd, dict(status, conditions=conds), manager=MANAGER)
        if own:
            self.sched.schedule(("kcm-cd-requeue", ns, name), self.reconcile_cd, ns, name, delay=CD_DELETE_REQUEUE)
            return
        self.teardown(ns, name)
        self.sched.schedule(("kcm-fin", ns, name), self._drop_finalizer, ns, name, delay=delay)

    def _drop_finalizer(self, ns, name):
        cd = self.get(GROUP, "clusterdeployments", ns, name)
        if cd is None or not {FINALIZER, LEGACY_FINALIZER} & set(cd["metadata"].get("finalizers") or []):
            return
        body = mutable(cd)
        body["metadata"]["finalizers"] = [f for f in cd["metadata"].get("finalizers") or []
                                          if f not in (FINALIZER, LEGACY_FINALIZER)]
        self.mgmt.update(body, manager=MANAGER)

    def ensure_cluster(self, cd):
        """The workload cluster's client, None while it is being provisioned."""
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        region = ((cd.get("spec") or {}).get("config") or {}).get("region") or "us-east-2"
        client = self.fleet.ensure(f"{ns}/{name}", region=region)
        if client is not None:
            self.clusters[(ns, name)] = f"{ns}/{name}"
        return client

    def ensure_kubeconfig(self, cd, cid):
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        text = self.fleet.kubeconfig(cid, name)
        if text is None:
            return
        want = base64.b64encode(text.encode()).decode()
        sec_rt = self.rt("", "secrets")
        existing = self.mgmt.get(sec_rt, ns, f"{name}-kubeconfig")
        if existing is not None and (existing.get("data") or {}).get("value") == want:
            return
        obj = {"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
               "metadata": {"name": f"{name}-kubeconfig", "namespace": ns,
                            "labels": {"cluster.x-k8s.io/cluster-name": name},
                            "ownerReferences": [{"apiVersion": cd["apiVersion"], "kind": "ClusterDeployment",
                                                 "name": name, "uid": cd["metadata"]["uid"],
                                                 "blockOwnerDeletion": True, "controller": True}]},
               "data": {"value": want}}
        self.mgmt.ensure(obj, manager=MANAGER)

    def ensure_profile(self, cd, services):
        """The Sveltos Profile kcm renders from spec.serviceSpec (its ClusterSummary is p--<cd>-capi-<cd>)."""
        rt = self.rt(SVELTOS, "profiles")
        if rt is None:
            return
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        sspec = (cd.get("spec") or {}).get("serviceSpec") or {}
        charts = []
        for svc in services:
            st = self.get(GROUP, "servicetemplates", ns, svc.get("template", "")) or {}
            cs = (((st.get("spec") or {}).get("helm") or {}).get("chartSpec") or {})
            chart = {"repositoryURL": f"oci://kofsim/{cs.get('chart', svc.get('template'))}",
                     "repositoryName": svc.get("template"), "chartName": cs.get("chart", ""),
                     "chartVersion": str(cs.get("version", "")), "releaseName": svc.get("name"),
                     "releaseNamespace": svc.get("namespace") or svc.get("name"), "helmChartAction": "Install"}
            if svc.get("values"):
                chart["values"] = svc["values"]
            charts.append(chart)
        want = {"apiVersion": rt.api_version, "kind": "Profile",
                "metadata": {"name": name, "namespace": ns,
                             "labels": {"k0rdent.mirantis.com/managed": "true"},
                             "ownerReferences": [{"apiVersion": cd["apiVersion"], "kind": "ClusterDeployment",
                                                  "name": name, "uid": cd["metadata"]["uid"],
                                                  "blockOwnerDeletion": True, "controller": True}]},
                "spec": {"clusterRefs": [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
                                          "name": name, "namespace": ns}],
                         "helmCharts": charts, "priority": sspec.get("priority", 100),
                         "stopOnConflict": bool(sspec.get("stopOnConflict", False)),
                         "syncMode": sspec.get("syncMode") or "Continuous"}}
        cur = self.mgmt.get(rt, ns, name)
        if cur is None or cur.get("spec") != want["spec"]:
            self.mgmt.ensure(want, manager=MANAGER)

    def teardown(self, ns, name):
        cid = self.clusters.pop((ns, name), None) or f"{ns}/{name}"
        self.born.pop((ns, name), None)
        self.synced.pop((ns, name), None)
        self.layer.detach(cid)
        self.fleet.remove(cid)
        sec_rt = self.rt("", "secrets")
        if self.mgmt.get(sec_rt, ns, f"{name}-kubeconfig") is not None:
            self.mgmt.delete(sec_rt, ns, f"{name}-kubeconfig")
        self.layer.sveltos.forget(ns, name)


# ======================================================================================== Sveltos
def helm_release_secret(release: str, ns: str, chart: str, version: str, values: dict, revision: int,
                        manifest: str = "") -> dict:
    """The record helm 3/4 keep per release revision, so `helm list` / `helm get` on a workload cluster show it
    (and Sveltos, after a restart, knows what it installed)."""
    ts = now()
    rel = {"name": release, "namespace": ns, "version": revision,
           "info": {"first_deployed": ts, "last_deployed": ts, "deleted": "", "status": "deployed",
                    "description": "Install complete" if revision == 1 else "Upgrade complete"},
           "chart": {"metadata": {"name": chart, "version": version or "0.0.0", "appVersion": version or "",
                                  "apiVersion": "v2"}, "templates": [], "values": {}},
           "config": values, "manifest": manifest}
    payload = base64.b64encode(gzip.compress(json.dumps(rel).encode())).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{release}.v{revision}", "namespace": ns,
                         "labels": {"name": release, "owner": "helm", "status": "deployed",
                                    "version": str(revision)}},
            "data": {"release": base64.b64encode(payload.encode()).decode()}}


def read_release_secret(secret: dict) -> dict | None:
    """The release record of a helm release Secret (None when it is not one)."""
    try:
        payload = base64.b64decode((secret.get("data") or {}).get("release", ""))
        raw = base64.b64decode(payload)
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except (ValueError, OSError):
        return None


class Sveltos:
    def __init__(self, layer):
        self.layer = layer
        self.mgmt = layer.mgmt
        # (ns, cd) -> {service name: {"state": Provisioned|Failed, "msg", "ts", "template", "namespace"}}
        self.state: dict[tuple, dict] = {}
        self.profiles: dict[tuple, dict] = {}  # (ns, cd) -> {ClusterProfile: {(ns, name) of Secrets it copied}}
        self.retries: dict[tuple, int] = {}    # (ns, cd) -> failed syncs in a row
        # Sveltos' own controllers watch their kinds: every Profile (each one listed again when a restarted
        # process starts, as controller-runtime's informers do) and a ClusterSummary that went are reconciled, so
        # a Profile whose ClusterSummary is missing gets it whatever kcm's controller did or did not schedule
        self.mgmt.watch(SVELTOS, "profiles", self.on_profile)
        self.mgmt.watch(SVELTOS, "clustersummaries", self.on_summary)

    def rt(self, group, plural):
        return self.mgmt.resource(group, plural)

    def forget(self, ns, name):
        self.state.pop((ns, name), None)
        self.profiles.pop((ns, name), None)
        self.retries.pop((ns, name), None)

    def _drop_summary(self, ns, name):
        rt = self.rt(SVELTOS, "clustersummaries")
        if rt is not None and self.mgmt.get(rt, ns, name) is not None:
            self.mgmt.delete(rt, ns, name, propagation="Background")

    def on_profile(self, _type, obj):
        """Sveltos' Profile controller: kcm's Profile for a ClusterDeployment (its clusterRefs name the cluster),
        added, changed or deleted: that cluster's summary is reconciled."""
        ns = obj["metadata"].get("namespace", "")
        refs = (obj.get("spec") or {}).get("clusterRefs") or [{}]
        self.resync(ns, refs[0].get("name") or obj["metadata"]["name"])

    def on_summary(self, type_, obj):
        """A ClusterSummary deleted (by hand, by the garbage collector, by a sync): Sveltos makes it again while its
        profile still selects the cluster (sync drops the ones that no longer apply)."""
        if type_ != "DELETED":
            return
        labels = obj["metadata"].get("labels") or {}
        cluster = (obj.get("spec") or {}).get("clusterName") or labels.get("projectsveltos.io/cluster-name")
        if cluster:
            self.resync(obj["metadata"].get("namespace", ""), cluster)

    def resync(self, ns, name, delay=0.05):
        self.layer.kcm.sched.schedule(("sveltos", ns, name), self.sync, ns, name, delay=delay)

    def on_workload_event(self, ns, name, type_, obj):
        """Something appeared on a cluster: a failed service may now install (Sveltos' retry)."""
        if type_ == "DELETED" or obj.get("kind") not in ("Secret", "CustomResourceDefinition"):
            return
        st = self.state.get((ns, name))
        if st and any(s["state"] != "Provisioned" for s in st.values()):
            self.layer.kcm.sched.schedule(("sveltos", ns, name), self.sync, ns, name, delay=0.2)

    def services_status(self, ns, name, services=None, cd=None):
        """ClusterDeployment status.services: kcm 0.1.x's shape (one entry per cluster, a condition per
        service) or kcm 1.x's (one entry per service with its state)."""
        st = self.state.get((ns, name))
        if not st:
            # nothing synced by this process yet (a restarted controller): what the status says stays
            return ((cd or {}).get("status") or {}).get("services") if cd is not None else None
        if self.layer.kcm_version == "v1beta1":
            out = []
            for svc in services or []:
                s = st.get(svc.get("name"))
                if s is None:
                    continue
                item = {"name": svc.get("name"), "namespace": s["namespace"],
                        "template": svc.get("template"), "type": "Helm",
                        "state": "Deployed" if s["state"] == "Provisioned" else "Failed",
                        "lastStateTransitionTime": s.get("ts", now())}
                if s.get("msg"):
                    item["failureMessage"] = s["msg"]
                out.append(item)
            return out
        # kcm 0.1.x copies the ClusterSummary: a `Helm` feature condition and one per managed release
        failed = sorted((n, x) for n, x in st.items() if x["state"] != "Provisioned")
        ts = max((x.get("ts", "") for x in st.values()), default=now())
        conds = [{"type": "Helm", "status": "False" if failed else "True",
                  "reason": "Failed" if failed else "Provisioned",
                  "message": "\n".join(f"{n}: {x.get('msg', '')}" for n, x in failed), "lastTransitionTime": ts}]
        for svc, x in sorted(st.items()):
            if x["state"] == "Provisioned":
                conds.append({"type": f"{x['namespace']}.{svc}/SveltosHelmReleaseReady", "status": "True",
                              "reason": "Managing", "message": f"Release {x['namespace']}/{svc}",
                              "lastTransitionTime": x.get("ts", ts)})
        return [{"clusterName": name, "clusterNamespace": ns, "conditions": conds}]

    @staticmethod
    def _previous_ts(cd):
        """service -> lastTransitionTime in the ClusterDeployment's status (what a restarted controller keeps)."""
        out = {}
        for entry in (cd.get("status") or {}).get("services") or []:
            if "conditions" in entry:
                for c in entry.get("conditions") or []:
                    if c.get("type", "").endswith("/SveltosHelmReleaseReady"):
                        out[c["type"].split("/")[0].split(".", 1)[-1]] = c.get("lastTransitionTime")
            elif entry.get("name"):
                out[entry["name"]] = entry.get("lastStateTransitionTime")
        return out

    def _summary(self, ns, cd, name, labels, features, releases):
        rt = self.rt(SVELTOS, "clustersummaries")
        if rt is None:
            return
        body = {"apiVersion": rt.api_version, "kind": "ClusterSummary",
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                             "ownerReferences": [{"apiVersion": cd["apiVersion"], "kind": "ClusterDeployment",
                                                  "name": cd["metadata"]["name"], "uid": cd["metadata"]["uid"]}]},
                "spec": {"clusterName": cd["metadata"]["name"], "clusterNamespace": ns, "clusterType": "Capi"}}
        existing = self.mgmt.get(rt, ns, name)
        if existing is None:
            existing = self.mgmt.create(body, manager=SVELTOS_MANAGER)
        status = {"featureSummaries": features}
        if releases:
            status["helmReleaseSummaries"] = releases
        old = existing.get("status") or {}
        for f in status["featureSummaries"]:
            prev = next((p for p in old.get("featureSummaries") or [] if p.get("featureID") == f["featureID"]), None)
            if prev and prev.get("status") == f["status"] and prev.get("failureMessage") == f.get("failureMessage"):
                f["lastAppliedTime"] = prev.get("lastAppliedTime")
        self.mgmt.set_status(existing, status, manager=SVELTOS_MANAGER)

    def _deployed(self, ns, name, target):
        """ClusterProfile -> Secrets it copied to the cluster; rebuilt from the ClusterSummaries and the cluster
        after a restart (what Sveltos' ClusterSummary status records)."""
        key = (ns, name)
        if key in self.profiles:
            return self.profiles[key]
        deployed = self.profiles[key] = {}
        rt = self.rt(SVELTOS, "clustersummaries")
        sec_rt = target.resource("", "secrets")
        copied = {(s["metadata"]["namespace"], s["metadata"]["name"])
                  for s in target.list(sec_rt, None, {"projectsveltos.io/reason": "Resources"})}
        for s in self.mgmt.list(rt, ns) if rt is not None else []:
            labels = s["metadata"].get("labels") or {}
            cp = labels.get("projectsveltos.io/cluster-profile-name")
            if cp and labels.get("projectsveltos.io/cluster-name") == name:
                deployed[cp] = set(copied)
        return deployed

    def sync(self, ns, name):
        """Provision everything Sveltos manages for one ClusterDeployment's cluster."""
        kcm = self.layer.kcm
        cd = kcm.get(GROUP, "clusterdeployments", ns, name)
        cid = kcm.clusters.get((ns, name))
        target = self.layer.fleet.client(cid) if cid else None
        if cd is None or cd["metadata"].get("deletionTimestamp"):
            return
        if target is None:
            # the cluster is not reachable yet (its control plane still starting, or a restarted controller
            # still finding it again): Sveltos requeues, with a back-off, instead of waiting for the next event
            attempt = self.retries.get((ns, name), 0)
            self.retries[(ns, name)] = attempt + 1
            kcm.sched.schedule(("sveltos-retry", ns, name), self.sync, ns, name, delay=min(0.5 * 2 ** attempt, 10.0))
            return
        cluster_labels = ((cd.get("spec") or {}).get("config") or {}).get("clusterLabels") or {}
        ts = now()
        # ClusterProfiles selecting this cluster: copy the referenced resources
        deployed = self._deployed(ns, name, target)  # profile -> {(ns, secret)} copied by it
        matched = set()
        sec_rt = self.mgmt.resource("", "secrets")
        for cp in kcm.list(SVELTOS, "clusterprofiles"):
            spec = cp.get("spec") or {}
            if not match_label_selector_obj(spec.get("clusterSelector") or {"matchLabels": {"__none__": "x"}},
                                            cluster_labels):
                continue
            matched.add(cp["metadata"]["name"])
            copied = deployed.setdefault(cp["metadata"]["name"], set())
            failure = None
            for ref in spec.get("templateResourceRefs") or []:
                res = ref.get("resource") or {}
                if res.get("kind") != "Secret":
                    continue
                src = self.mgmt.get(sec_rt, res.get("namespace", ""), res.get("name", ""))
                if src is None:
                    failure = (f'Secret {res.get("namespace")}/{res.get("name")} referenced in '
                               f"templateResourceRefs not found")
                    continue
                self.layer.copy_secret(target, src)
                copied.add((res.get("namespace", ""), res.get("name", "")))
            self._summary(ns, cd, f"{cp['metadata']['name']}-capi-{name}",
                          {"projectsveltos.io/cluster-name": name, "projectsveltos.io/cluster-profile-name":
                           cp["metadata"]["name"], "projectsveltos.io/cluster-type": "Capi"},
                          [dict({"featureID": "Resources", "status": "Failed" if failure else "Provisioned",
                                 "hash": _hash(spec), "lastAppliedTime": ts},
                                **({"failureMessage": failure} if failure else {}))], [])
        # a profile that no longer selects the cluster (or is gone) withdraws what it deployed, and its summary
        for gone in [p for p in deployed if p not in matched]:
            keep = set().union(*(deployed[p] for p in deployed if p != gone))
            tsec = target.resource("", "secrets")
            for sns, sname in deployed.pop(gone) - keep:
                sec = target.get(tsec, sns, sname)
                if sec is not None and (sec["metadata"].get("labels") or {}).get("projectsveltos.io/reason"):
                    target.delete(tsec, sns, sname)
            self._drop_summary(ns, f"{gone}-capi-{name}")
        # the ClusterDeployment's own services (kcm renders them into a namespaced Profile), in order
        services = [s for s in ((cd.get("spec") or {}).get("serviceSpec") or {}).get("services") or []
                    if not s.get("disable")]
        fresh = (ns, name) not in self.state
        st = self.state.setdefault((ns, name), {})
        before = self._previous_ts(cd) if fresh else {}
        releases, failed = [], []
        for svc in services:
            sname, sns = svc.get("name"), svc.get("namespace") or svc.get("name")  # kcm's default
            state, msg = self._install(target, ns, name, svc)
            if state == "Pending":  # helm waits for the CRDs it just installed to be served
                st.pop(sname, None)
                kcm.sched.schedule(("sveltos", ns, name), self.sync, ns, name, delay=0.3)
                return
            cur = st.get(sname) or ({"state": "Provisioned", "msg": "", "ts": before[sname]}
                                    if before.get(sname) else {})
            st[sname] = {"state": state, "msg": msg, "namespace": sns, "template": svc.get("template"),
                         "ts": cur.get("ts", ts) if cur.get("state") == state and cur.get("msg") == msg else ts}
            if state == "Provisioned":
                releases.append({"releaseName": sname, "releaseNamespace": sns, "status": "Managing"})
            else:
                failed.append(f"{sname}: {msg}")
        for gone in [s for s in st if s not in {x.get("name") for x in services}]:
            self.layer.uninstall(target, gone, st.pop(gone))
        if not services:
            self._drop_summary(ns, f"p--{name}-capi-{name}")
        else:
            feature = {"featureID": "Helm", "hash": _hash(services), "lastAppliedTime": ts,
                       "status": "Failed" if failed else "Provisioned"}
            if failed:
                feature["failureMessage"] = "\n".join(failed)
            self._summary(ns, cd, f"p--{name}-capi-{name}",
                          {"projectsveltos.io/cluster-name": name, "projectsveltos.io/profile-name": name,
                           "projectsveltos.io/cluster-type": "Capi"}, [feature], releases)
        # Sveltos requeues what failed with a back-off, whatever else happens (a CRD that another service just
        # installed is served a moment later on a real API server)
        if failed:
            attempt = self.retries.get((ns, name), 0)
            self.retries[(ns, name)] = attempt + 1
            kcm.sched.schedule(("sveltos-retry", ns, name), self.sync, ns, name, delay=min(2.0 * 2 ** attempt, 30.0))
        else:
            self.retries.pop((ns, name), None)
        want = self.services_status(ns, name, services)
        if want != (cd.get("status") or {}).get("services"):
            kcm.sched.schedule(("kcm-cd", ns, name), kcm.reconcile_cd, ns, name)

    def _install(self, target, ns, cd_name, svc) -> tuple[str, str]:
        kcm = self.layer.kcm
        tpl_name = svc.get("template", "")
        st = kcm.get(GROUP, "servicetemplates", ns, tpl_name)
        if st is None:
            return "Failed", f'ServiceTemplate {ns}/{tpl_name} not found'
        if not (st.get("status") or {}).get("valid"):
            return "Failed", f"ServiceTemplate {ns}/{tpl_name} is not valid: " \
                             f"{(st.get('status') or {}).get('validationError', '')}"
        if svc.get("name") in self.layer.for_cd("fail_service", cd_name):
            return "Failed", "context deadline exceeded (kofsim scenario fail_service)"
        helm = (st.get("spec") or {}).get("helm") or {}
        chart = (helm.get("chartSpec") or {}).get("chart") or helm.get("chartName")
        version = (helm.get("chartSpec") or {}).get("version") or helm.get("chartVersion") or ""
        try:
            values = catalog.parse_values(svc.get("values"))
        except Exception as err:  # helm refuses values that are not a YAML mapping
            return "Failed", f"failed to parse values: {err}"
        err = self.layer.install(target, svc.get("name"), svc.get("namespace") or svc.get("name"), chart,
                                 str(version), values)
        if err is PENDING:
            return "Pending", ""
        return ("Failed", err) if err else ("Provisioned", "")


PENDING = object()  # an install that waits for its CRDs to be served


def _hash(obj) -> str:
    return base64.b64encode(hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()).decode()[:24]

