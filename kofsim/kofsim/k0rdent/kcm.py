"""Simulated k0rdent Cluster Manager (kcm 0.1.x, API k0rdent.mirantis.com/v1alpha1) and Sveltos.

kcm:
- validating webhooks: a ClusterDeployment must name an existing, valid ClusterTemplate and a Ready
  Credential, and may not reference a ServiceTemplate that exists but is not valid (kof#57); a ServiceTemplate
  or ClusterTemplate that a ClusterDeployment references cannot be deleted (kof#615/#642).
- ServiceTemplate controller: `status.valid` once its chart source (HelmRepository) exists and the chart is one
  kofsim knows.
- ClusterDeployment controller: after `--ready-after` seconds a virtual cluster (served by this process at
  /clusters/<ns>/<name>) and the `<name>-kubeconfig` Secret (key `value`), then `Ready`; deletion tears the
  virtual cluster down behind the `k0rdent.mirantis.com/cleanup` finalizer.
Sveltos:
- one ClusterSummary per ClusterDeployment for its services (`p--<cd>-capi-<cd>`, a namespaced Profile) and
  one per matching ClusterProfile (`<profile>-capi-<cd>`), with Helm / Resources feature summaries going
  Provisioning -> Provisioned (or Failed, with the reason).
- services are "installed" into the virtual cluster from catalog.py; ClusterProfiles copy the Secrets named
  in their templateResourceRefs (continuous sync: a changed source Secret is copied again).
"""
from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import time

from .. import errors as E
from ..selectors import match_label_selector_obj
from ..store import now
from ..tls import kubeconfig
from . import catalog

GROUP = "k0rdent.mirantis.com"
SVELTOS = "config.projectsveltos.io"
FINALIZER = "k0rdent.mirantis.com/cleanup"


def _deny(webhook: str, kind: str, why: str) -> E.ApiError:
    return E.ApiError(403, "Forbidden", f'admission webhook "{webhook}" denied the request: the {kind} is '
                                        f"invalid: {why}" if kind else f'admission webhook "{webhook}" denied the '
                                                                       f"request: {why}")


def _cond(type_, status, reason, message, ts, prev=None):
    if prev and prev.get("status") == status and prev.get("reason") == reason and prev.get("message") == message:
        return prev
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": ts}


class Kcm:
    def __init__(self, layer):
        self.layer = layer
        self.sim = layer.sim
        self.mgmt = layer.mgmt
        self.ctl = self.sim.controllers[""]
        self.born: dict[tuple, float] = {}        # (ns, name) -> when the CD was first seen
        self.clusters: dict[tuple, str] = {}       # (ns, name) -> virtual cluster id
        self.synced: dict[tuple, int] = {}         # (ns, name) -> generation Sveltos last acted on
        self.mgmt.admission.append(self.admit)
        self.mgmt.listeners.append(self.on_event)

    # ------------------------------------------------------------------------------ accessors
    def rt(self, group, plural):
        rts = self.mgmt.registry.versions_of(group, plural)
        return self.mgmt.storage_rt(rts[0]) if rts else None

    def get(self, group, plural, ns, name):
        rt = self.rt(group, plural)
        if rt is None:
            return None
        return self.mgmt.find(rt, ns if rt.namespaced else "", name)

    # ------------------------------------------------------------------------------- webhooks
    def admit(self, op, rt, new, old):
        if rt.group != GROUP:
            return
        if rt.kind == "ClusterDeployment" and op in ("CREATE", "UPDATE"):
            self._admit_cd(new, old)
        elif rt.kind in ("ServiceTemplate", "ClusterTemplate") and op == "DELETE":
            self._admit_template_delete(rt, old)

    def _admit_cd(self, cd, old):
        hook = "validation.clusterdeployment.k0rdent.mirantis.com"
        ns = cd["metadata"]["namespace"]
        spec = cd.get("spec") or {}
        if cd["metadata"].get("deletionTimestamp"):
            return
        changed_template = old is None or (old.get("spec") or {}).get("template") != spec.get("template")
        if changed_template:
            tpl = self.get(GROUP, "clustertemplates", ns, spec.get("template", ""))
            if tpl is None:
                raise _deny(hook, "ClusterDeployment", f'clustertemplates.k0rdent.mirantis.com "{spec.get("template")}" '
                                                       "not found")
            if not (tpl.get("status") or {}).get("valid"):
                why = (tpl.get("status") or {}).get("validationError") or "not valid"
                raise _deny(hook, "ClusterDeployment", f"the template is not valid: {why}")
        cred_name = spec.get("credential")
        if cred_name and (old is None or (old.get("spec") or {}).get("credential") != cred_name):
            cred = self.get(GROUP, "credentials", ns, cred_name)
            if cred is None:
                raise _deny(hook, "ClusterDeployment", f'credentials.k0rdent.mirantis.com "{cred_name}" not found')
            if not (cred.get("status") or {}).get("ready"):
                raise _deny(hook, "ClusterDeployment", f"credential {ns}/{cred_name} is not Ready")
        for svc in ((spec.get("serviceSpec") or {}).get("services") or []):
            st = self.get(GROUP, "servicetemplates", ns, svc.get("template", ""))
            if st is not None and (st.get("status") or {}).get("valid") is not True:
                raise _deny(hook, "ClusterDeployment", f"the template is not valid: servicetemplate {ns}/"
                                                       f"{svc.get('template')}")

    def _admit_template_delete(self, rt, tpl):
        name, ns = tpl["metadata"]["name"], tpl["metadata"].get("namespace")
        cd_rt = self.rt(GROUP, "clusterdeployments")
        for cd in self.mgmt.list_objects(cd_rt, ns) if cd_rt else []:
            spec = cd.get("spec") or {}
            uses = spec.get("template") == name if rt.kind == "ClusterTemplate" else any(
                s.get("template") == name for s in (spec.get("serviceSpec") or {}).get("services") or [])
            if uses and not cd["metadata"].get("deletionTimestamp"):
                raise _deny(f"validation.{rt.kind.lower()}.k0rdent.mirantis.com", "",
                            f"the {rt.kind} {ns}/{name} cannot be removed while it is used by ClusterDeployment "
                            f"{ns}/{cd['metadata']['name']}")

    # ------------------------------------------------------------------------------------ events
    def on_event(self, type_, rt, obj):
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        if rt.group == GROUP and rt.kind == "ClusterDeployment":
            if type_ == "DELETED":
                self.teardown(ns, name)
            else:
                self.ctl.schedule(("kcm-cd", ns, name), self.reconcile_cd, ns, name)
        elif rt.group == GROUP and rt.kind == "ServiceTemplate" and type_ != "DELETED":
            self.ctl.schedule(("kcm-st", ns, name), self.reconcile_st, ns, name)
            if (obj.get("status") or {}).get("valid"):
                self.resync_all()
        elif rt.kind == "HelmRepository" and type_ != "DELETED":
            st_rt = self.rt(GROUP, "servicetemplates")
            for st in self.mgmt.list_objects(st_rt, ns) if st_rt else []:
                self.ctl.schedule(("kcm-st", ns, st["metadata"]["name"]), self.reconcile_st, ns,
                                  st["metadata"]["name"])
        elif rt.group == SVELTOS and rt.kind == "ClusterProfile":
            self.resync_all()
        elif rt.group == "" and rt.kind == "Secret" and type_ != "DELETED" and self.layer.secret_referenced(ns, name):
            self.resync_all()

    def resync_all(self):
        for (ns, name) in list(self.clusters):
            self.ctl.schedule(("sveltos", ns, name), self.layer.sveltos.sync, ns, name, delay=0.1)

    # ---------------------------------------------------------------------------- ServiceTemplate
    def reconcile_st(self, ns, name):
        rt = self.rt(GROUP, "servicetemplates")
        st = self.mgmt.find(rt, ns, name) if rt else None
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
        elif chart not in catalog.KNOWN_CHARTS:
            err = f"chart {chart} not found in repository {src.get('name', '')}"
        status = {"valid": err is None, "observedGeneration": st["metadata"].get("generation", 1)}
        if err:
            status["validationError"] = err
        else:
            status["chartRef"] = {"kind": "HelmChart", "name": name, "namespace": ns}
            if version:
                status["chartVersion"] = version
        if st.get("status") != status:
            self.mgmt.set_status(rt, st, status)

    # -------------------------------------------------------------------------- ClusterDeployment
    def reconcile_cd(self, ns, name):
        rt = self.rt(GROUP, "clusterdeployments")
        cd = self.mgmt.find(rt, ns, name) if rt else None
        if cd is None:
            return
        key = (ns, name)
        ts = now()
        if cd["metadata"].get("deletionTimestamp"):
            if FINALIZER in (cd["metadata"].get("finalizers") or []):
                self.teardown(ns, name)
                self.ctl.schedule(("kcm-fin", ns, name), self._drop_finalizer, ns, name,
                                  delay=min(1.0, max(0.1, self.sim.ready_after / 4)))
            return
        if FINALIZER not in (cd["metadata"].get("finalizers") or []):
            body = copy.deepcopy(cd)
            body["metadata"].setdefault("finalizers", []).append(FINALIZER)
            cd, _, _ = self.mgmt.write(rt, body, namespace=ns, old=cd, internal=True)
        self.born.setdefault(key, time.monotonic())
        scen = self.layer.scenarios
        prev = {c["type"]: c for c in (cd.get("status") or {}).get("conditions") or []}
        spec = cd.get("spec") or {}
        conds = [_cond("TemplateReady", "True", "Succeeded", "Template is valid", ts, prev.get("TemplateReady")),
                 _cond("HelmChartReady", "True", "Succeeded", "Helm chart is valid", ts, prev.get("HelmChartReady"))]
        wait = self.sim.ready_after - (time.monotonic() - self.born[key])
        never = name in scen.get("never_ready", [])
        if never or wait > 0:
            conds += [_cond("HelmReleaseReady", "True", "InstallSucceeded", "Helm install succeeded", ts,
                            prev.get("HelmReleaseReady")),
                      _cond("Ready", "False", "Provisioning", "Control plane is being provisioned: waiting for "
                            "infrastructure", ts, prev.get("Ready"))]
            self._set_status(rt, cd, {"conditions": conds, "observedGeneration": cd["metadata"].get("generation")})
            if not never:
                self.ctl.schedule(("kcm-cd", ns, name), self.reconcile_cd, ns, name, delay=max(0.05, wait))
            return
        cid = self.ensure_cluster(cd)
        if name not in scen.get("no_kubeconfig", []):
            self.ensure_kubeconfig(cd, cid)
        services_status = self.layer.sveltos.services_status(ns, name)
        conds += [_cond("HelmReleaseReady", "True", "InstallSucceeded", "Helm install succeeded", ts,
                        prev.get("HelmReleaseReady")),
                  _cond("Ready", "True", "Succeeded", "Object is ready", ts, prev.get("Ready"))]
        status = {"conditions": conds, "observedGeneration": cd["metadata"].get("generation"),
                  "k8sVersion": self.sim.clusters[cid].k8s_version}
        if services_status:
            status["services"] = services_status
        self._set_status(rt, cd, status)
        # Sveltos acts on a new or changed ClusterDeployment; other triggers (profiles, secrets, templates)
        # call resync_all, and Sveltos retries its own pending work.
        gen = cd["metadata"].get("generation")
        if self.synced.get(key) != gen:
            self.synced[key] = gen
            self.ctl.schedule(("sveltos", ns, name), self.layer.sveltos.sync, ns, name, delay=0.05)

    def _set_status(self, rt, cd, status):
        if cd.get("status") != status:
            self.mgmt.set_status(rt, cd, status)

    def _drop_finalizer(self, ns, name):
        rt = self.rt(GROUP, "clusterdeployments")
        cd = self.mgmt.find(rt, ns, name)
        if cd is None:
            return
        body = copy.deepcopy(cd)
        body["metadata"]["finalizers"] = [f for f in cd["metadata"].get("finalizers") or [] if f != FINALIZER]
        self.mgmt.write(rt, body, namespace=ns, old=cd, internal=True)

    def ensure_cluster(self, cd) -> str:
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        cid = f"{ns}/{name}"
        if cid in self.sim.clusters:
            self.clusters[(ns, name)] = cid
            return cid
        region = ((cd.get("spec") or {}).get("config") or {}).get("region") or "us-east-2"
        c = self.sim.add_cluster(cid, lb_domain=f"{region}.elb.amazonaws.com")
        self.clusters[(ns, name)] = cid
        self.layer.seed_workload_cluster(c, cd)
        return cid

    def ensure_kubeconfig(self, cd, cid):
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        c = self.sim.clusters[cid]
        kc = kubeconfig(self.sim.cluster_url(cid), self.sim.ca_pem, c.token, name, "default")
        sec_rt = self.rt("", "secrets")
        existing = self.mgmt.find(sec_rt, ns, f"{name}-kubeconfig")
        want = base64.b64encode(kc.encode()).decode()
        if existing is not None and (existing.get("data") or {}).get("value") == want:
            return
        obj = {"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
               "metadata": {"name": f"{name}-kubeconfig", "namespace": ns,
                            "labels": {"cluster.x-k8s.io/cluster-name": name},
                            "ownerReferences": [{"apiVersion": cd["apiVersion"], "kind": "ClusterDeployment",
                                                 "name": name, "uid": cd["metadata"]["uid"],
                                                 "blockOwnerDeletion": True, "controller": True}]},
               "data": {"value": want}}
        self.mgmt.upsert(obj)

    def teardown(self, ns, name):
        cid = self.clusters.pop((ns, name), None) or f"{ns}/{name}"
        self.born.pop((ns, name), None)
        self.synced.pop((ns, name), None)
        if cid in self.sim.clusters:
            self.sim.remove_cluster(cid)
        sec_rt = self.rt("", "secrets")
        sec = self.mgmt.find(sec_rt, ns, f"{name}-kubeconfig")
        if sec is not None:
            self.mgmt.remove(sec_rt, sec)
        self.layer.sveltos.forget(ns, name)


# ======================================================================================== Sveltos
def helm_release_secret(release: str, ns: str, chart: str, version: str, values: dict, revision: int) -> dict:
    """The record helm 3/4 keep per release revision, so `helm list` on a virtual cluster shows it."""
    ts = now()
    rel = {"name": release, "namespace": ns, "version": revision,
           "info": {"first_deployed": ts, "last_deployed": ts, "deleted": "", "status": "deployed",
                    "description": "Install complete" if revision == 1 else "Upgrade complete"},
           "chart": {"metadata": {"name": chart, "version": version or "0.0.0", "appVersion": version or "",
                                  "apiVersion": "v2"}, "templates": [], "values": {}},
           "config": values, "manifest": ""}
    payload = base64.b64encode(gzip.compress(json.dumps(rel).encode())).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{release}.v{revision}", "namespace": ns,
                         "labels": {"name": release, "owner": "helm", "status": "deployed",
                                    "version": str(revision)}},
            "data": {"release": base64.b64encode(payload.encode()).decode()}}


class Sveltos:
    def __init__(self, layer):
        self.layer = layer
        self.sim = layer.sim
        self.mgmt = layer.mgmt
        self.state: dict[tuple, dict] = {}  # (ns, cd) -> {service name: {"hash", "revision", "state", "msg"}}

    def rt(self, group, plural):
        rts = self.mgmt.registry.versions_of(group, plural)
        return self.mgmt.storage_rt(rts[0]) if rts else None

    def forget(self, ns, name):
        self.state.pop((ns, name), None)

    def services_status(self, ns, name):
        st = self.state.get((ns, name))
        if not st:
            return None
        return [{"clusterName": name, "clusterNamespace": ns,
                 "conditions": [{"type": svc, "status": "True" if s["state"] == "Provisioned" else "False",
                                 "reason": s["state"], "message": s.get("msg", ""),
                                 "lastTransitionTime": s.get("ts", now())} for svc, s in sorted(st.items())]}]

    def _summary(self, ns, cd, name, labels, features, releases):
        rt = self.rt(SVELTOS, "clustersummaries")
        if rt is None:
            return
        body = {"apiVersion": rt.api_version, "kind": "ClusterSummary",
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                             "ownerReferences": [{"apiVersion": cd["apiVersion"], "kind": "ClusterDeployment",
                                                  "name": cd["metadata"]["name"], "uid": cd["metadata"]["uid"]}]},
                "spec": {"clusterName": cd["metadata"]["name"], "clusterNamespace": ns, "clusterType": "Capi"}}
        existing = self.mgmt.find(rt, ns, name)
        if existing is None:
            existing = self.mgmt.upsert(body, status=False)
        status = {"featureSummaries": features}
        if releases:
            status["helmReleaseSummaries"] = releases
        old = existing.get("status") or {}
        for f in status["featureSummaries"]:
            prev = next((p for p in old.get("featureSummaries") or [] if p.get("featureID") == f["featureID"]), None)
            if prev and prev.get("status") == f["status"] and prev.get("failureMessage") == f.get("failureMessage"):
                f["lastAppliedTime"] = prev.get("lastAppliedTime")
        if old != status:
            self.mgmt.set_status(rt, existing, status)

    def sync(self, ns, name):
        """Provision everything Sveltos manages for one ClusterDeployment's cluster."""
        kcm = self.layer.kcm
        cd_rt = kcm.rt(GROUP, "clusterdeployments")
        cd = self.mgmt.find(cd_rt, ns, name) if cd_rt else None
        cid = kcm.clusters.get((ns, name))
        if cd is None or cid is None or cid not in self.sim.clusters or cd["metadata"].get("deletionTimestamp"):
            return
        target = self.sim.clusters[cid]
        cluster_labels = ((cd.get("spec") or {}).get("config") or {}).get("clusterLabels") or {}
        ts = now()
        retry = False
        # ClusterProfiles selecting this cluster: copy the referenced resources
        cp_rt = self.rt(SVELTOS, "clusterprofiles")
        for cp in self.mgmt.list_objects(cp_rt) if cp_rt else []:
            spec = cp.get("spec") or {}
            if not match_label_selector_obj(spec.get("clusterSelector") or {"matchLabels": {"__none__": "x"}},
                                            cluster_labels):
                continue
            failure = None
            for ref in spec.get("templateResourceRefs") or []:
                res = ref.get("resource") or {}
                if res.get("kind") != "Secret":
                    continue
                src = self.mgmt.find(self.mgmt.registry.get("", "v1", "secrets"), res.get("namespace", ""),
                                     res.get("name", ""))
                if src is None:
                    failure = f"Secret {res.get('namespace')}/{res.get('name')} not found"
                    retry = True
                    continue
                self.layer.copy_secret(target, src)
            self._summary(ns, cd, f"{cp['metadata']['name']}-capi-{name}",
                          {"projectsveltos.io/cluster-name": name, "projectsveltos.io/cluster-profile-name":
                           cp["metadata"]["name"], "projectsveltos.io/cluster-type": "Capi"},
                          [dict({"featureID": "Resources", "status": "Failed" if failure else "Provisioned",
                                 "hash": _hash(spec), "lastAppliedTime": ts},
                                **({"failureMessage": failure} if failure else {}))], [])
        # the ClusterDeployment's own services (kcm renders them into a namespaced Profile)
        services = ((cd.get("spec") or {}).get("serviceSpec") or {}).get("services") or []
        st = self.state.setdefault((ns, name), {})
        releases, failed = [], []
        for svc in services:
            sname, sns = svc.get("name"), svc.get("namespace") or "default"
            if svc.get("disable"):
                continue
            res = self._install(target, ns, name, svc)
            st[sname] = dict(st.get(sname, {}), state=res[0], msg=res[1], ts=st.get(sname, {}).get("ts", ts)
                             if st.get(sname, {}).get("state") == res[0] else ts)
            if res[0] == "Provisioned":
                releases.append({"releaseName": sname, "releaseNamespace": sns, "status": "Managing"})
            else:
                failed.append(f"{sname}: {res[1]}")
                retry = retry or res[0] == "Provisioning"
        for gone in [s for s in st if s not in {x.get("name") for x in services if not x.get("disable")}]:
            self.layer.uninstall(target, gone, st.pop(gone))
        if services:
            provisioning = any(st.get(s.get("name"), {}).get("state") == "Provisioning" for s in services)
            feature = {"featureID": "Helm", "hash": _hash(services), "lastAppliedTime": ts,
                       "status": "Failed" if failed and not provisioning else
                       "Provisioning" if provisioning else "Provisioned"}
            if failed:
                feature["failureMessage"] = "; ".join(failed)
            self._summary(ns, cd, f"p--{name}-capi-{name}",
                          {"projectsveltos.io/cluster-name": name, "projectsveltos.io/profile-name": name,
                           "projectsveltos.io/cluster-type": "Capi"}, [feature], releases)
        services_status = self.services_status(ns, name)
        if services_status and (cd.get("status") or {}).get("services") != services_status:
            kcm.ctl.schedule(("kcm-cd", ns, name), kcm.reconcile_cd, ns, name)
        if retry:
            kcm.ctl.schedule(("sveltos", ns, name), self.sync, ns, name, delay=0.5)

    def _install(self, target, ns, cd_name, svc) -> tuple[str, str]:
        kcm = self.layer.kcm
        tpl_name = svc.get("template", "")
        st = kcm.get(GROUP, "servicetemplates", ns, tpl_name)
        if st is None:
            return "Failed", f"ServiceTemplate {ns}/{tpl_name} not found"
        if not (st.get("status") or {}).get("valid"):
            return "Failed", f"ServiceTemplate {ns}/{tpl_name} is not valid"
        fail = self.layer.scenarios.get("fail_service", {})
        if svc.get("name") in (fail.get(cd_name) or []) or svc.get("name") == fail.get(cd_name):
            return "Failed", "helm install failed: context deadline exceeded (kofsim scenario)"
        helm = (st.get("spec") or {}).get("helm") or {}
        chart = (helm.get("chartSpec") or {}).get("chart") or helm.get("chartName")
        version = (helm.get("chartSpec") or {}).get("version") or helm.get("chartVersion") or ""
        try:
            values = catalog.parse_values(svc.get("values"))
        except Exception as err:  # YAML error in values: helm would refuse too
            return "Failed", f"failed to parse values: {err}"
        sns = svc.get("namespace") or "default"
        if chart in catalog.NEEDS_STORAGE_SECRET:
            sec = target.find(target.registry.get("", "v1", "secrets"), sns, catalog.STORAGE_SECRET)
            if sec is None:
                return "Provisioning", (f"template: {chart}: error calling lookup: Secret {sns}/"
                                        f"{catalog.STORAGE_SECRET} not found (is the cluster labelled "
                                        f"k0rdent.mirantis.com/kof-storage-secrets?)")
        self.layer.install(target, svc.get("name"), sns, chart, version, values)
        return "Provisioned", ""


def _hash(obj) -> str:
    return base64.b64encode(hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()).decode()[:24]
