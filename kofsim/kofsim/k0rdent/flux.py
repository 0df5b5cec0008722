"""Flux's source-controller (HelmRepository, HelmChart) and helm-controller (HelmRelease) as KOF 1.x's umbrella
chart uses them on the management cluster (kofsim/K0RDENT.md, "KOF 1.x management tier").

Facts from fluxcd/source-controller v1.8.5 and fluxcd/helm-controller v1.5.5 (the API versions KOF 1.10.0's
kof-operator pins):
- HelmRepository: type `oci` is a static object (the controller clears its status); type `default` gets an artifact
  and Ready/ArtifactInStorage True `Succeeded` "stored artifact: revision 'sha256:…'".
- HelmChart: Ready/ArtifactInStorage True `ChartPullSucceeded` "pulled '<chart>' chart with version '<v>'" once
  its HelmRepository exists and the chart is one kofsim serves: victoria-metrics-operator 0.58.1, and a kof-*
  chart at every version a stand-in directory has (catalog_1x.find_chart: the HelmChart's kofsim/charts-dir
  annotation, $KOFSIM_EXTRA_CHARTS, kofsim/charts-1.10), so the umbrella's version decides the KOF version.
- HelmRelease: dependsOn must all exist, have observedGeneration == generation and Ready True, else Ready False
  `DependencyNotReady` "dependency '<ns>/<name>' is not ready" (requeued every 5 s, helm-controller's
  --requeue-dependency default, and at once when a dependency changes); then the chartRef's HelmChart must be Ready
  (`SourceNotReady`); then install / upgrade (`helm upgrade -i` as Layer.install does, objects from catalog_1x.py,
  values merged with the stand-in's values.yaml and checked against its values.schema.json), in sync = same chart
  name, version and values digest (no new revision, no history entry; a spec change such as spec.interval still
  records the generation: status.observedGeneration (patch.WithStatusObservedGeneration) and the Ready condition's
  observedGeneration (release.go summarize), Released keeps its own), or a forced upgrade when the annotations
  reconcile.fluxcd.io/forceAt == reconcile.fluxcd.io/requestedAt and forceAt != status.lastHandledForceAt (the
  kof chart sets both to `now | unixEpoch` on every helm upgrade). Status as helm-controller writes it: Released
  and Ready `InstallSucceeded` / `UpgradeSucceeded` "Helm install succeeded for release kof/kof-operators.v1 with
  chart kof-operators@1.10.0", or `InstallFailed` / `UpgradeFailed` "Helm install failed for release
  kof/kof-operators with chart kof-operators@1.10.0: <helm's error>"; history[] snapshots; finalizer
  finalizers.fluxcd.io; deletion uninstalls the release, leaving objects annotated helm.sh/resource-policy: keep,
  and the finalizer stays until every deleted object is gone (helm's uninstall wait).
"""
from __future__ import annotations

import hashlib
import json

from .. import errors as E
from . import api, catalog, catalog_1x
from .api import mutable, now
from .kcm import PENDING

SOURCE = "source.toolkit.fluxcd.io"
HELM = "helm.toolkit.fluxcd.io"
FINALIZER = "finalizers.fluxcd.io"
SOURCE_MANAGER = "source-controller"
HELM_MANAGER = "helm-controller"
DEPENDENCY_REQUEUE = 5.0  # helm-controller --requeue-dependency default
FAILURE_REQUEUE = 5.0
UNINSTALL_POLL = 0.5  # how often kofsim looks whether an uninstall's deleted objects are gone (helm watches them)
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
FORCE_AT = "reconcile.fluxcd.io/forceAt"
ARTIFACT_HOST = "http://source-controller.flux-system.svc.cluster.local."


def _sha(obj) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _cond(type_, status, reason, message, gen, prev=None):
    old = next((c for c in prev or [] if c.get("type") == type_), None)
    ts = old["lastTransitionTime"] if old and old.get("status") == status else now()
    return {"type": type_, "status": status, "observedGeneration": gen, "lastTransitionTime": ts,
            "reason": reason, "message": message}


def _ready(obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


class Flux:
    def __init__(self, layer):
        self.layer = layer
        self.mgmt = layer.mgmt
        self.sched = layer.runtime.scope("")
        self.mgmt.watch(SOURCE, "helmrepositories", self.on_repo)
        self.mgmt.watch(SOURCE, "helmcharts", self.on_chart)
        self.mgmt.watch(HELM, "helmreleases", self.on_release)

    def rt(self, group, plural):
        return self.mgmt.resource(group, plural)

    def get(self, group, plural, ns, name):
        rt = self.rt(group, plural)
        return self.mgmt.get(rt, ns, name) if rt is not None else None

    def list(self, group, plural, ns=None):
        rt = self.rt(group, plural)
        return self.mgmt.list(rt, ns) if rt is not None else []

    def resync(self):
        for hr in self.list(HELM, "helmreleases"):
            self._schedule_hr(hr["metadata"]["namespace"], hr["metadata"]["name"])

    # --------------------------------------------------------------------------------- events
    def on_repo(self, type_, obj):
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if type_ != "DELETED":
            self.sched.schedule(("flux-repo", ns, name), self.reconcile_repo, ns, name)
        for chart in self.list(SOURCE, "helmcharts", ns):
            if ((chart.get("spec") or {}).get("sourceRef") or {}).get("name") == name:
                self.sched.schedule(("flux-chart", ns, chart["metadata"]["name"]), self.reconcile_chart, ns,
                                    chart["metadata"]["name"])

    def on_chart(self, type_, obj):
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if type_ != "DELETED":
            self.sched.schedule(("flux-chart", ns, name), self.reconcile_chart, ns, name)
        for hr in self.list(HELM, "helmreleases"):
            ref = (hr.get("spec") or {}).get("chartRef") or {}
            if ref.get("name") == name and (ref.get("namespace") or hr["metadata"]["namespace"]) == ns:
                self._schedule_hr(hr["metadata"]["namespace"], hr["metadata"]["name"])

    def on_release(self, type_, obj):
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if type_ != "DELETED":
            self._schedule_hr(ns, name)
        # dependants wait for this one
        for hr in self.list(HELM, "helmreleases"):
            for dep in (hr.get("spec") or {}).get("dependsOn") or []:
                if dep.get("name") == name and (dep.get("namespace") or hr["metadata"]["namespace"]) == ns:
                    self._schedule_hr(hr["metadata"]["namespace"], hr["metadata"]["name"], delay=0.05)

    def _schedule_hr(self, ns, name, delay=None):
        self.sched.schedule(("flux-hr", ns, name), self.reconcile_release, ns, name, delay=delay)

    def _requeue_hr(self, ns, name, delay):
        """A timed retry (RequeueAfter) under its own key: an event meanwhile still reconciles at once."""
        self.sched.schedule(("flux-hr-requeue", ns, name), self.reconcile_release, ns, name, delay=delay)

    # ------------------------------------------------------------------------- source-controller
    def reconcile_repo(self, ns, name):
        repo = self.get(SOURCE, "helmrepositories", ns, name)
        if repo is None or repo["metadata"].get("deletionTimestamp"):
            return
        spec = repo.get("spec") or {}
        gen = repo["metadata"].get("generation", 1)
        if spec.get("type") == "oci":
            status = {}  # migrated to a static object: source-controller resets the status
        else:
            revision = _sha([spec.get("url"), name])
            msg = f"stored artifact: revision '{revision}'"
            prev = (repo.get("status") or {}).get("conditions")
            path = f"helmrepository/{ns}/{name}/index-{revision.split(':')[1]}.yaml"
            status = {"observedGeneration": gen,
                      "conditions": [_cond("Ready", "True", "Succeeded", msg, gen, prev),
                                     _cond("ArtifactInStorage", "True", "Succeeded", msg, gen, prev)],
                      "artifact": {"digest": revision, "lastUpdateTime": _kept(repo, "lastUpdateTime"),
                                   "path": path, "revision": revision, "size": 1024,
                                   "url": f"{ARTIFACT_HOST}/{path}"},
                      "url": f"{ARTIFACT_HOST}/{path}"}
        self._set_status(repo, status, SOURCE_MANAGER)

    def reconcile_chart(self, ns, name):
        chart = self.get(SOURCE, "helmcharts", ns, name)
        if chart is None or chart["metadata"].get("deletionTimestamp"):
            return
        spec = chart.get("spec") or {}
        gen = chart["metadata"].get("generation", 1)
        prev = (chart.get("status") or {}).get("conditions")
        src = spec.get("sourceRef") or {}
        cname, want = spec.get("chart", ""), str(spec.get("version") or "*")
        have = catalog_1x.CHART_VERSIONS.get(cname)
        if have is None:
            # a kof-* stand-in: served at every version a chart directory has (the HelmChart's kofsim/charts-dir
            # annotation, $KOFSIM_EXTRA_CHARTS, charts-1.10); "have" is the nearest for the error message
            found = catalog_1x.find_chart(cname, want, _extra_dirs(chart))
            if found is not None:
                have = str(catalog_1x.chart_meta(found).get("version"))
            elif catalog_1x.find_chart(cname, "", _extra_dirs(chart)) is not None:
                have = ""
        repo = self.get(SOURCE, "helmrepositories", ns, src.get("name", "")) if src.get("kind") == "HelmRepository" \
            else None
        if repo is None:
            msg = (f'failed to get source: helmrepositories.source.toolkit.fluxcd.io "{src.get("name", "")}" '
                   f"not found")
            status = {"observedGeneration": gen,
                      "conditions": [_cond("Ready", "False", "SourceUnavailable", msg, gen, prev),
                                     _cond("FetchFailed", "True", "SourceUnavailable", msg, gen, prev)]}
        elif not have or want not in ("*", "", have):
            # kofsim serves one version of each chart (the stand-ins'); other versions are not in the repository
            msg = (f"chart pull error: failed to get chart version for remote reference: could not get tag for "
                   f"'{cname}' chart with version '{want}'" if have is not None else
                   f"chart pull error: failed to get chart version for remote reference: '{cname}' not found")
            status = {"observedGeneration": gen,
                      "conditions": [_cond("Ready", "False", "ChartPullError", msg, gen, prev),
                                     _cond("FetchFailed", "True", "ChartPullError", msg, gen, prev)]}
        else:
            msg = f"pulled '{cname}' chart with version '{have}'"
            path = f"helmchart/{ns}/{name}/{cname}-{have}.tgz"
            status = {"observedGeneration": gen, "observedChartName": cname,
                      "conditions": [_cond("Ready", "True", "ChartPullSucceeded", msg, gen, prev),
                                     _cond("ArtifactInStorage", "True", "ChartPullSucceeded", msg, gen, prev)],
                      "artifact": {"digest": _sha([cname, have]), "lastUpdateTime": _kept(chart, "lastUpdateTime"),
                                   "path": path, "revision": have, "size": 4096, "url": f"{ARTIFACT_HOST}/{path}"},
                      "url": f"{ARTIFACT_HOST}/helmchart/{ns}/{name}/{cname}-latest.tgz"}
        self._set_status(chart, status, SOURCE_MANAGER)

    # --------------------------------------------------------------------------- helm-controller
    def reconcile_release(self, ns, name):
        hr = self.get(HELM, "helmreleases", ns, name)
        if hr is None:
            return
        if hr["metadata"].get("deletionTimestamp"):
            self._finalize(hr)
            return
        if FINALIZER not in (hr["metadata"].get("finalizers") or []):
            body = mutable(hr)
            body["metadata"].setdefault("finalizers", []).append(FINALIZER)
            hr = self.mgmt.update(body, manager=HELM_MANAGER)
        spec = hr.get("spec") or {}
        gen = hr["metadata"].get("generation", 1)
        status = mutable(hr.get("status") or {})
        conds = status.get("conditions") or []
        ann = hr["metadata"].get("annotations") or {}

        def waiting(reason, msg, delay):
            status["conditions"] = [_cond("Reconciling", "True", "Progressing", "Fulfilling prerequisites", gen, conds),
                                    _cond("Ready", "False", reason, msg, gen, conds)]
            self._set_status(hr, status, HELM_MANAGER)
            self._requeue_hr(ns, name, delay)

        for dep in spec.get("dependsOn") or []:
            dns = dep.get("namespace") or ns
            other = self.get(HELM, "helmreleases", dns, dep.get("name", ""))
            if other is None:
                return waiting("DependencyNotReady", f"unable to get '{dns}/{dep.get('name')}' dependency: "
                               f'helmreleases.helm.toolkit.fluxcd.io "{dep.get("name")}" not found', DEPENDENCY_REQUEUE)
            if other["metadata"].get("generation") != (other.get("status") or {}).get("observedGeneration") \
                    or not _ready(other):
                return waiting("DependencyNotReady", f"dependency '{dns}/{dep.get('name')}' is not ready",
                               DEPENDENCY_REQUEUE)
        ref = spec.get("chartRef") or {}
        cns = ref.get("namespace") or ns
        chart = self.get(SOURCE, "helmcharts", cns, ref.get("name", "")) if ref.get("kind") == "HelmChart" else None
        if chart is None:
            return waiting("ArtifactFailed", f"could not get Source object: helmcharts.source.toolkit.fluxcd.io "
                           f'"{ref.get("name", "")}" not found', DEPENDENCY_REQUEUE)
        if not _ready(chart) or not (chart.get("status") or {}).get("artifact") \
                or (chart.get("status") or {}).get("observedGeneration") != chart["metadata"].get("generation", 1):
            # helm-controller's isSourceReady: Ready and observedGeneration == generation (a HelmChart whose
            # spec.version just changed is not used with its old artifact)
            return waiting("SourceNotReady", f"HelmChart '{cns}/{ref.get('name')}' is not ready: "
                           + next((c.get("message", "") for c in (chart.get("status") or {}).get("conditions") or []
                                   if c.get("type") == "Ready"), "waiting to be reconciled"), DEPENDENCY_REQUEUE)
        cname = chart["status"].get("observedChartName") or chart["spec"]["chart"]
        cversion = chart["status"]["artifact"]["revision"]
        chart_dir = None if cname in catalog_1x.CHART_VERSIONS else catalog_1x.find_chart(cname, cversion,
                                                                                          _extra_dirs(chart))
        values = spec.get("values") or {}
        release = spec.get("releaseName") or (f"{spec['targetNamespace']}-{name}" if spec.get("targetNamespace")
                                              else name)
        rns = spec.get("targetNamespace") or ns
        storage_ns = spec.get("storageNamespace") or ns
        config_digest = _sha(values)
        history = list(status.get("history") or [])
        latest = history[0] if history else None
        in_sync = self.layer.release(self.mgmt, release, storage_ns)
        force = ann.get(FORCE_AT) is not None and ann.get(FORCE_AT) == ann.get(REQUESTED_AT) \
            and ann.get(FORCE_AT) != status.get("lastHandledForceAt") \
            and ann.get(REQUESTED_AT) != status.get("lastHandledReconcileAt")
        action = "upgrade" if in_sync else "install"
        same = bool(in_sync and latest and latest.get("chartName") == cname and latest.get("chartVersion") == cversion
                    and latest.get("configDigest") == config_digest and latest.get("version") == in_sync["revision"])
        status.update({"storageNamespace": storage_ns, "lastAttemptedGeneration": gen,
                       "lastAttemptedRevision": cversion, "lastAttemptedConfigDigest": config_digest})
        if FORCE_AT in ann:
            status["lastHandledForceAt"] = ann[FORCE_AT]
        if REQUESTED_AT in ann:
            status["lastHandledReconcileAt"] = ann[REQUESTED_AT]
        status.pop("lastAttemptedValuesChecksum", None)
        if same and not force:
            # in sync: no Helm action; Ready/Released as the last action left them (restored after a failure)
            status["history"] = history[:1]
            status["observedGeneration"] = gen
            if not _ready(hr):
                msg = self._success_msg(latest)
                reason = "UpgradeSucceeded" if status.get("lastAttemptedReleaseAction") == "upgrade" \
                    else "InstallSucceeded"
                status["conditions"] = [_cond("Released", "True", reason, msg, gen, conds),
                                        _cond("Ready", "True", reason, msg, gen, conds)]
            else:
                # atomic_release.go AtomicRelease.Reconcile: no next action -> Reconciling deleted, summarize(req)
                # (release.go) re-sets Ready from the Released condition (reason/message) with ObservedGeneration =
                # metadata.generation (conditions.Set); Released keeps the generation of its last release action
                rel = next((c for c in conds if c["type"] == "Released"), None) \
                    or next(c for c in conds if c["type"] == "Ready")
                ready = _cond("Ready", rel["status"], rel["reason"], rel["message"], gen, conds)
                status["conditions"] = [ready if c["type"] == "Ready" else c for c in conds
                                        if c["type"] != "Reconciling"]
            self._set_status(hr, status, HELM_MANAGER)
            return
        status["lastAttemptedReleaseAction"] = action
        err = self._fault(ns, name)

        def render(chart_name, rel, rns_, vals, lookup):
            def lookup2(api_version, kind, lns, lname):
                if api_version == "__list__":  # names: kcm's kinds in a namespace, or Secrets in any
                    rt = self.mgmt.kind("v1" if kind == "Secret" else catalog_1x.KCM_API, kind)
                    return [o["metadata"]["name"] for o in self.mgmt.list(rt, lns or None)] if rt else []
                return lookup(api_version, kind, lns, lname)
            return catalog_1x.objects_for(chart_name, rel, rns_, vals, lookup2, version=cversion,
                                          chart_dir=chart_dir)
        if err is None:
            err = self.layer.install(self.mgmt, release, rns, cname, cversion, values, render=render,
                                     force=force or not same)
        if err is PENDING:
            self._requeue_hr(ns, name, 0.2)
            return
        if err is None:
            info = self.layer.release(self.mgmt, release, rns)
            snap = {"apiVersion": "v2", "name": release, "namespace": rns, "version": info["revision"],
                    "status": "deployed", "action": action, "chartName": cname, "chartVersion": cversion,
                    "appVersion": catalog_1x.app_version(cname, cversion, chart_dir),
                    "configDigest": config_digest, "firstDeployed": (latest or {}).get("firstDeployed") or now(),
                    "lastDeployed": now()}
            snap["digest"] = _sha(snap)
            if latest:
                latest = dict(latest, status="superseded")
            status["history"] = [snap] + ([latest] if latest else [])
            reason = "InstallSucceeded" if action == "install" else "UpgradeSucceeded"
            msg = self._success_msg(snap)
            status["conditions"] = [_cond("Released", "True", reason, msg, gen, conds),
                                    _cond("Ready", "True", reason, msg, gen, conds)]
            status["observedGeneration"] = gen
            status.pop("failures", None)
            status.pop("installFailures", None)
            status.pop("upgradeFailures", None)
            self._set_status(hr, status, HELM_MANAGER)
            api.log.info("flux: HelmRelease %s/%s %s %s", ns, name, reason, msg)
            return
        reason = "InstallFailed" if action == "install" else "UpgradeFailed"
        msg = (f"Helm {action} failed for release {rns}/{release} with chart {cname}@{cversion}: "
               f"{err.removeprefix('Error: ').strip()}")
        status["failures"] = int(status.get("failures") or 0) + 1
        status["conditions"] = [_cond("Reconciling", "True", "ProgressingWithRetry", msg, gen, conds),
                                _cond("Released", "False", reason, msg, gen, conds),
                                _cond("Ready", "False", reason, msg, gen, conds)]
        self._set_status(hr, status, HELM_MANAGER)
        self._requeue_hr(ns, name, FAILURE_REQUEUE)

    @staticmethod
    def _success_msg(snap) -> str:
        verb = "upgrade" if snap.get("action") == "upgrade" else "install"
        return (f"Helm {verb} succeeded for release {snap['namespace']}/{snap['name']}.v{snap['version']} "
                f"with chart {snap['chartName']}@{snap['chartVersion']}")

    def _fault(self, ns, name):
        listed = self.layer.scenarios.get("fail_helmrelease") or []
        if name in listed or f"{ns}/{name}" in listed or "*" in listed:
            return "context deadline exceeded (kofsim scenario fail_helmrelease)"
        return None

    def _finalize(self, hr):
        spec = hr.get("spec") or {}
        name, ns = hr["metadata"]["name"], hr["metadata"]["namespace"]
        release = spec.get("releaseName") or name
        storage_ns = (hr.get("status") or {}).get("storageNamespace") or spec.get("storageNamespace") or ns
        info = self.layer.release(self.mgmt, release, storage_ns)
        if info:
            # helm uninstall as helm-controller v1.5.5 runs it (internal/action/uninstall.go): deletion propagation
            # background, then it waits (StatusWatcher strategy, spec.uninstall.disableWait false) until every
            # deleted object is gone (an MCS waits for kcm's finalizer); the release records go afterwards
            left = []
            for key in info["objects"]:
                api_version, kind, ons, oname = key
                rt = self.mgmt.kind(api_version, kind)
                obj = self.mgmt.get(rt, ons if rt.namespaced else "", oname) if rt else None
                if obj and (obj["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep":
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.layer._delete(self.mgmt, key)
                    if self.mgmt.get(rt, ons if rt.namespaced else "", oname) is not None:
                        left.append(key)
            if left:
                self._requeue_hr(ns, name, UNINSTALL_POLL)
                return
            sec_rt = self.mgmt.resource("", "secrets")
            for sec in self.mgmt.list(sec_rt, storage_ns, {"owner": "helm", "name": release}):
                self.mgmt.delete(sec_rt, storage_ns, sec["metadata"]["name"])
            self.layer._releases.pop((self.mgmt.name, storage_ns, release), None)
        if FINALIZER in (hr["metadata"].get("finalizers") or []):
            body = mutable(hr)
            body["metadata"]["finalizers"] = [f for f in body["metadata"]["finalizers"] if f != FINALIZER]
            self.mgmt.update(body, manager=HELM_MANAGER)

    def _set_status(self, obj, status, manager):
        try:
            self.mgmt.set_status(obj, status, manager=manager)
        except E.ApiError as err:
            if err.code == 404:
                return
            raise


def _extra_dirs(chart) -> tuple:
    """The chart directories a HelmChart names: the kof umbrella stand-in copies its Chart.yaml annotation
    kofsim/charts-dir (an absolute path, written by catalog_1x.relabel or by hand) onto every HelmChart."""
    d = (chart["metadata"].get("annotations") or {}).get(catalog_1x.CHARTS_DIR_ANNOTATION)
    return (d,) if d else ()


def _kept(obj, key):
    return ((obj.get("status") or {}).get("artifact") or {}).get(key) or now()


__all__ = ["Flux", "catalog"]
