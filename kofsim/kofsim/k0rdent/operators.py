"""The operators KOF's charts install, simulated on every cluster kofsim serves (management and virtual), as
far as the collection and the guide's verification steps observe them. Each acts only on events of its own
kinds (no periodic rescans), creates what the real operator creates, owned by the custom resource (so
deleting the resource garbage-collects them), and never rewrites an object that is already as wanted.

- victoria-metrics-operator: VMCluster `<n>` -> vmselect-<n> / vmstorage-<n> StatefulSets (with their
  volume claim templates), vminsert-<n> Deployment and the three Services; VMAuth `<n>` -> vmauth-<n>
  Deployment, Service (8427) and, with spec.ingress, Ingress; VMAlert -> vmalert-<n>; VMAlertmanager ->
  vmalertmanager-<n> StatefulSet + Service (9093); VMSingle -> vmsingle-<n>. status.updateStatus
  `operational` once created.
- grafana-operator: Grafana `<n>` -> <n>-deployment, <n>-service (3000), <n>-pvc (spec.persistentVolumeClaim),
  <n>-ingress (spec.ingress), in the operator's stage order: a claim it cannot update (a changed class) stops it
  at stage pvc, stageStatus failed, lastMessage the server's refusal, requeued after 10 s. GrafanaDatasource status as the operator version of the KOF generation writes it:
  KOF 0.1 (kof-mothership 0.1.1 ships grafana-operator v5.13.0) only NoMatchingInstances, hash, lastMessage,
  lastResync and uid (see _sync_datasource_v5_13); KOF 1.x (grafana-operator >= 5.16) a DatasourceSynchronized
  condition with observedGeneration.
- opentelemetry-operator: OpenTelemetryCollector `<n>` -> <n>-collector Deployment / DaemonSet / StatefulSet
  by spec.mode, status.scale.statusReplicas ("ready/total") kept current from the workload.
- cert-manager: Issuers/ClusterIssuers Ready; a Certificate whose issuer exists is issued into its
  spec.secretName (kubernetes.io/tls) once a cert-manager controller Deployment runs on that cluster. No ACME:
  Ingress annotations do not create Certificates (the guide's Let's Encrypt needs public DNS).
- envoy-gateway (gateway-helm, installed by kof-regional's MultiClusterService on a regional cluster): while its
  Deployment `envoy-gateway` runs, a GatewayClass of controller `gateway.envoyproxy.io/gatewayclass-controller` is
  Accepted, and each Gateway of such a class gets its proxy - Deployment and LoadBalancer Service
  `envoy-<namespace>-<name>-<hash>` in the controller's namespace (the Service named by the controller's
  configuration, envoyProxy.provider.kubernetes.envoyService.name, when set: kof-regional sets
  `gateway-<cluster>`), labelled `gateway.envoyproxy.io/owning-gateway-*`
  (no owner reference: another namespace; removed with the Gateway) - and the Gateway API v1 status: the Service's
  load-balancer address in `status.addresses` (Hostname or IPAddress), `Accepted`, `Programmed` (False,
  AddressNotAssigned, until the cloud gave the Service its address) and one entry per listener. The data plane
  itself (routes, TLS) is not simulated.
- promxy-operator (management cluster; kof-facts §1): renders PromxyServerGroups into `<label value>` key
  `config.yaml`. 0.1.x (kcm v1alpha1 mode): label `k0rdent.mirantis.com/promxy-secret-name`, the PSGs of the
  triggering PSG's namespace only, basic auth mandatory (one PSG whose credentials Secret is missing aborts the
  whole render). kcm v1beta1 mode models KOF 1.0-1.7: same label, all namespaces, basic auth optional. It acts
  only while its Deployment (`*-promxy-operator`) exists, and does not watch Secrets: rotating credentials does
  not re-render until some PSG changes (as the real one).
"""
from __future__ import annotations

import base64
import hashlib
import json

import yaml

from .. import errors as E
from ..fastcopy import clone, yaml_dump
from ..selectors import match_label_selector_obj
from .api import RETRY_CODES, mutable, now

PSG_GROUP = "kof.k0rdent.mirantis.com"
PSG_LABEL_1_8 = "k0rdent.mirantis.com/secret-name"
PSG_LABEL = "k0rdent.mirantis.com/promxy-secret-name"
GRAFANA_GROUP = "grafana.integreatly.org"
GRAFANA_REQUEUE_S = 10.0  # grafana-operator's RequeueDelay (controllers/grafana_controller.go)
VM_GROUP = "operator.victoriametrics.com"
OTEL_GROUP = "opentelemetry.io"
CM_GROUP = "cert-manager.io"
GW_GROUP = "gateway.networking.k8s.io"
ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
OWNING_NAME, OWNING_NS = "gateway.envoyproxy.io/owning-gateway-name", "gateway.envoyproxy.io/owning-gateway-namespace"
HASH = "operator.kofsim.io/last-applied-hash"
PAUSE = "registry.k8s.io/pause:3.10"


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _merge(base: dict, over: dict) -> dict:
    """grafana-operator's Merge of plain values: maps merged key by key, anything else replaced, nothing removed."""
    out = dict(base)
    for key, val in over.items():
        out[key] = _merge(base[key], val) if isinstance(val, dict) and isinstance(base.get(key), dict) else clone(val)
    return out


def _owner(cr) -> dict:
    return {"apiVersion": cr["apiVersion"], "kind": cr["kind"], "name": cr["metadata"]["name"],
            "uid": cr["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _labels(component: str, instance: str, manager: str) -> dict:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": instance,
            "app.kubernetes.io/managed-by": manager}


def workload(kind, name, ns, labels, *, replicas=1, claims=(), volumes=(), container="main", image=PAUSE,
             env_from=()):
    """A Deployment / StatefulSet / DaemonSet with one container; claims are (name, pvc spec) templates."""
    spec = {"containers": [dict({"name": container, "image": image},
                                **({"envFrom": list(env_from)} if env_from else {}))]}
    if volumes:
        spec["volumes"] = list(volumes)
    body = {"selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": spec}}
    if kind != "DaemonSet":
        body["replicas"] = int(replicas)
    if kind == "StatefulSet":
        body["serviceName"] = name
        if claims:
            body["volumeClaimTemplates"] = [{"metadata": {"name": c}, "spec": clone(s)} for c, s in claims]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
            "spec": body}


def service(name, ns, selector, ports, labels=None):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels or selector)},
            "spec": {"type": "ClusterIP", "selector": dict(selector),
                     "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports]}}


# the kinds each cluster's operators watch (group, plural)
WATCHED = [(VM_GROUP, p) for p in ("vmclusters", "vmauths", "vmalerts", "vmalertmanagers", "vmsingles")] + [
    (GRAFANA_GROUP, "grafanas"), (GRAFANA_GROUP, "grafanadatasources"), ("", "secrets"), ("", "configmaps"),
    (OTEL_GROUP, "opentelemetrycollectors"), ("apps", "deployments"), ("apps", "daemonsets"),
    ("apps", "statefulsets"), (CM_GROUP, "certificates"), (CM_GROUP, "issuers"), (CM_GROUP, "clusterissuers"),
    (GW_GROUP, "gatewayclasses"), (GW_GROUP, "gateways"), ("", "services")]


class ClusterOperators:
    """The simulated operators of one cluster, as API clients (api.Client) of that cluster."""

    def __init__(self, layer, client, sched, *, management: bool):
        self.layer = layer
        self.c = client
        self.sched = sched
        self.management = management
        for group, plural in WATCHED + ([(PSG_GROUP, "promxyservergroups")] if management else []):
            client.watch(group, plural, self.on_event)

    # ------------------------------------------------------------------------------------ helpers
    def rt(self, group, plural):
        return self.c.resource(group, plural)

    def get(self, group, plural, ns, name):
        rt = self.rt(group, plural)
        return (rt, self.c.get(rt, ns if rt.namespaced else "", name)) if rt else (None, None)

    def find(self, plural, ns, name):
        """A core-group object (Secret, ConfigMap, ...)."""
        return self.c.get(self.c.resource("", plural), ns, name)

    def ensure(self, obj, owner, manager=None, raise_invalid=False):
        """Create or update an owned object (owner None: not owned); a write only when what the operator wants
        changed. raise_invalid: the server's refusal goes to the caller (an operator that reports it)."""
        obj = clone(obj)
        meta = obj["metadata"]
        if owner is not None:
            meta["ownerReferences"] = [_owner(owner)]
        h = _digest(obj)
        meta.setdefault("annotations", {})[HASH] = h
        rt = self.c.kind(obj["apiVersion"], obj["kind"])
        if rt is None:
            return None
        cur = self.c.get(rt, meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        if cur is not None and (cur["metadata"].get("annotations") or {}).get(HASH) == h:
            return cur
        try:
            return self.c.ensure(obj, manager=manager or self._manager(owner["kind"]))
        except E.ApiError as err:
            if err.code in RETRY_CODES or raise_invalid:
                raise
            if err.code == 422 and obj["kind"] == "StatefulSet" and cur is not None and owner is not None \
                    and owner["kind"] in VM_BUILDERS:
                # vm-operator's recreateSTSIfNeed (v0.51.3 .. v0.67.0): a StatefulSet whose claim templates (or
                # other fields an update may not change) changed is deleted with propagationPolicy Orphan - pods
                # and claims stay - and created anew; here on the next reconcile, once it is gone
                self.c.delete(rt, meta["namespace"], meta["name"], propagation="Orphan")
                o_ns, o_name = owner["metadata"].get("namespace", ""), owner["metadata"]["name"]
                self.schedule((owner["kind"], o_ns, o_name), self.reconcile_vm, owner["kind"], o_ns, o_name,
                              delay=0.2)
            return None  # namespace terminating or kind gone: the next event retries

    @staticmethod
    def _manager(kind):
        return {"Grafana": "grafana-operator", "OpenTelemetryCollector": "opentelemetry-operator",
                "Certificate": "cert-manager-certificates-issuing"}.get(kind, "vm-operator")

    def _set_condition(self, obj, cond, manager):
        """A status of this one condition, written only when it differs from the first condition there."""
        old = ((obj.get("status") or {}).get("conditions") or [{}])[0]
        if {k: old.get(k) for k in cond} != cond:
            self.c.set_status(obj, {"conditions": [dict(cond, lastTransitionTime=now())]}, manager=manager)

    def set_status(self, rt, obj, status):
        if obj.get("status") != status:
            self.c.set_status(obj, status, manager=self._status_manager(obj.get("kind")))

    @staticmethod
    def _status_manager(kind):
        return {"Grafana": "grafana-operator", "GrafanaDatasource": "grafana-operator",
                "OpenTelemetryCollector": "opentelemetry-operator", "Certificate": "cert-manager-certificates-issuing",
                "Issuer": "cert-manager-issuers", "ClusterIssuer": "cert-manager-clusterissuers"}.get(kind,
                                                                                                 "vm-operator")

    def schedule(self, key, fn, *args, delay=None):
        self.sched.schedule(("op",) + key, fn, *args, delay=delay)

    # ------------------------------------------------------------------------------------- events
    def on_event(self, type_, obj):
        meta = obj["metadata"]
        g, k = obj.get("apiVersion", "").rpartition("/")[0], obj.get("kind")
        ns, name = meta.get("namespace", ""), meta["name"]
        if g == VM_GROUP and k in VM_BUILDERS:
            if type_ != "DELETED":
                self.schedule((k, ns, name), self.reconcile_vm, k, ns, name)
        elif g == GRAFANA_GROUP and k == "Grafana":
            if type_ != "DELETED":
                self.schedule(("Grafana", ns, name), self.reconcile_grafana, ns, name)
            self.resync_datasources(None)  # datasources select Grafanas in every namespace
        elif g == GRAFANA_GROUP and k == "GrafanaDatasource" and type_ != "DELETED":
            self.schedule(("gds", ns, name), self.sync_datasource, ns, name)
        elif g == "" and k in ("Secret", "ConfigMap") and self.rt(GRAFANA_GROUP, "grafanadatasources") is not None:
            self.resync_datasources(ns)
        elif g == OTEL_GROUP and k == "OpenTelemetryCollector" and type_ != "DELETED":
            self.schedule(("otel", ns, name), self.reconcile_otel, ns, name)
        elif g == "apps" and type_ != "DELETED":
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "OpenTelemetryCollector":
                    self.schedule(("otel", ns, ref["name"]), self.reconcile_otel, ns, ref["name"])
                elif ref.get("kind") == "Grafana" and k == "Deployment":  # grafana-operator Owns(Deployment)
                    self.schedule(("Grafana", ns, ref["name"]), self.reconcile_grafana, ns, ref["name"])
            if k == "Deployment" and (meta.get("labels") or {}).get("app.kubernetes.io/name") == "cert-manager":
                self.schedule(("certs",), self.issue_all)
            if k == "Deployment" and name == "envoy-gateway":
                self.schedule(("gateways",), self.reconcile_gateways)
            if self.management and k == "Deployment" and name.endswith(("-promxy-operator", "-kof-operator")):
                self.schedule(("promxy-start",), self.render_all_promxy)
        elif g == CM_GROUP and k == "Certificate" and type_ != "DELETED":
            self.schedule(("cert", ns, name), self.issue, ns, name)
        elif g == CM_GROUP and k in ("Issuer", "ClusterIssuer") and type_ != "DELETED":
            self.schedule(("issuer", k, ns, name), self.issuer_ready, k, ns, name)
            self.schedule(("certs",), self.issue_all)
        elif g == GW_GROUP and k == "Gateway":
            self.schedule(("gw", ns, name), self.reconcile_gateway, ns, name)
        elif g == GW_GROUP and k == "GatewayClass" and type_ != "DELETED":
            self.schedule(("gateways",), self.reconcile_gateways)
        elif g == "" and k == "Service" and (meta.get("labels") or {}).get(OWNING_NAME):
            labels = meta["labels"]
            self.schedule(("gw", labels.get(OWNING_NS, ""), labels[OWNING_NAME]), self.reconcile_gateway,
                          labels.get(OWNING_NS, ""), labels[OWNING_NAME])
        elif self.management and g == PSG_GROUP and k == "PromxyServerGroup":
            self.schedule(("promxy", ns if self.layer.kof_mode == "0.1" else ""), self.render_promxy,
                          ns if self.layer.kof_mode == "0.1" else None)

    # ------------------------------------------------------------------------ victoria-metrics
    def reconcile_vm(self, kind, ns, name):
        rt, cr = self.get(VM_GROUP, VM_BUILDERS[kind][0], ns, name)
        if cr is None or cr["metadata"].get("deletionTimestamp"):
            return
        for obj in VM_BUILDERS[kind][1](name, ns, cr.get("spec") or {}):
            self.ensure(obj, cr)
        self.set_status(rt, cr, dict(cr.get("status") or {}, updateStatus="operational",
                                     observedGeneration=cr["metadata"].get("generation", 1)))

    # --------------------------------------------------------------------------- grafana-operator
    def reconcile_grafana(self, ns, name):
        rt, g = self.get(GRAFANA_GROUP, "grafanas", ns, name)
        if g is None or g["metadata"].get("deletionTimestamp"):
            return
        spec = g.get("spec") or {}
        labels = {"app": name}
        tpl_spec = ((((spec.get("deployment") or {}).get("spec") or {}).get("template") or {}).get("spec") or {})
        env_from = []
        for ctr in tpl_spec.get("containers") or []:
            if ctr.get("name") == "grafana":
                env_from = ctr.get("envFrom") or []
        volumes = []
        if spec.get("persistentVolumeClaim"):
            pvc_spec = clone((spec["persistentVolumeClaim"] or {}).get("spec") or {})
            pvc_spec.setdefault("accessModes", ["ReadWriteOnce"])
            try:
                self._grafana_claim(g, f"{name}-pvc", ns, labels, pvc_spec)
            except E.ApiError as err:
                if err.code in RETRY_CODES:
                    raise
                # grafana-operator v5.13/v5.15 runs its stages in order and stops at the first that fails (a claim
                # whose class changed is immutable): stage pvc failed with the server's message, the Deployment
                # untouched, the reconcile requeued after RequeueDelay
                self.set_status(rt, g, dict(g.get("status") or {}, stage="pvc", stageStatus="failed",
                                            lastMessage=err.message))
                self.schedule(("Grafana", ns, name), self.reconcile_grafana, ns, name, delay=GRAFANA_REQUEUE_S)
                return
            volumes.append({"name": "grafana-data", "persistentVolumeClaim": {"claimName": f"{name}-pvc"}})
        version = str(spec.get("version") or "10.4.7")
        self.ensure(workload("Deployment", f"{name}-deployment", ns, labels, container="grafana",
                             image=f"docker.io/grafana/grafana:{version}", volumes=volumes, env_from=env_from), g)
        self.ensure(service(f"{name}-service", ns, labels, [("grafana", 3000)]), g)
        ing = spec.get("ingress")
        if ing:
            self.ensure({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                         "metadata": dict({"name": f"{name}-ingress", "namespace": ns, "labels": dict(labels)},
                                          **({"annotations": dict((ing.get("metadata") or {}).get("annotations"))}
                                             if (ing.get("metadata") or {}).get("annotations") else {})),
                         "spec": clone(ing.get("spec") or {})}, g)
        self.set_status(rt, g, {"stage": "complete", "stageStatus": "success", "version": version,
                                "adminUrl": f"http://{name}-service.{ns}:3000"})

    def _grafana_claim(self, g, name, ns, labels, pvc_spec):
        """PvcReconciler (v5.15.1): CreateOrUpdate of the claim with the Grafana's claim spec merged into the live
        one (Merge: a strategic merge that removes nothing), so what the server set - volumeName, volumeMode, the
        default class - stays, and a changed class reaches the server, which refuses it."""
        rt = self.rt("", "persistentvolumeclaims")
        cur = self.c.get(rt, ns, name)
        if cur is None:
            self.ensure({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": name, "namespace": ns, "labels": dict(labels)}, "spec": pvc_spec},
                        g, raise_invalid=True)
            return
        spec = _merge(cur.get("spec") or {}, pvc_spec)
        if spec != cur.get("spec"):
            body = mutable(cur)
            body["spec"] = spec
            self.c.update(body, manager="grafana-operator")

    def resync_datasources(self, ns):
        """Every GrafanaDatasource of ns (None: of the cluster). The real operator requeues on its own (errors
        after a delay, successes after resyncPeriod); kofsim re-syncs on the events that can change the outcome:
        a Grafana, or a Secret/ConfigMap in the datasource's namespace."""
        rt = self.rt(GRAFANA_GROUP, "grafanadatasources")
        for d in self.c.list(rt, ns) if rt else []:
            dns = d["metadata"]["namespace"]
            self.schedule(("gds", dns, d["metadata"]["name"]), self.sync_datasource, dns, d["metadata"]["name"])

    def sync_datasource(self, ns, name):
        rt, ds = self.get(GRAFANA_GROUP, "grafanadatasources", ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        if self.layer.kof_mode == "0.1":
            self._sync_datasource_v5_13(rt, ds, ns)
        else:
            self._sync_datasource_conditions(rt, ds, ns)

    def _matching_grafanas(self, spec):
        """GetMatchingInstances: every Grafana of the cluster whose labels match spec.instanceSelector."""
        g_rt = self.rt(GRAFANA_GROUP, "grafanas")
        return [g for g in (self.c.list(g_rt, None) if g_rt else [])
                if match_label_selector_obj(spec.get("instanceSelector") or {}, g["metadata"].get("labels"))]

    def _sync_datasource_v5_13(self, rt, ds, ns):
        """grafana-operator v5.13.0 (kof-mothership 0.1.1; controllers/datasource_controller.go Reconcile): its
        status has only NoMatchingInstances, hash, lastMessage, lastResync and uid (all omitempty).
        - NoMatchingInstances is written on every reconcile (no Grafana anywhere matches instanceSelector:
          true, and nothing else happens);
        - a valuesFrom Secret/ConfigMap or key that is missing fails before any other status write: the
          operator only logs it and requeues, the status says nothing;
        - a matching Grafana in another namespace is skipped unless allowCrossNamespaceImport; one that is not
          ready (stage complete/success) makes the sync unsuccessful without a message;
        - success: lastMessage cleared, hash = sha256 of the datasource as sent to Grafana (placeholders
          substituted), uid = spec.datasource.uid or metadata.uid, lastResync when the resync period elapsed."""
        spec = ds.get("spec") or {}
        prev = ds.get("status") or {}
        status = {k: v for k, v in prev.items() if k in ("hash", "lastMessage", "lastResync", "uid")}
        instances = self._matching_grafanas(spec)
        if not instances:
            status["NoMatchingInstances"] = True
            self.set_status(rt, ds, status)
            return
        content = self._datasource_content(ns, ds)
        if content is None:
            self.set_status(rt, ds, status)  # NoMatchingInstances false (omitted): the error is only logged
            return
        success = True
        for g in instances:
            if g["metadata"].get("namespace") != ns and not spec.get("allowCrossNamespaceImport"):
                continue
            gst = g.get("status") or {}
            if gst.get("stage") != "complete" or gst.get("stageStatus") != "success":
                success = False
        if success:
            status.pop("lastMessage", None)
            status["hash"] = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"))
                                            .encode()).hexdigest()
            status["uid"] = content["uid"]
            if status.get("hash") != prev.get("hash") or "lastResync" not in status:
                status["lastResync"] = now()
        self.set_status(rt, ds, status)

    def _datasource_content(self, ns, ds):
        """The datasource as the operator sends it to Grafana, or None when a valuesFrom source is missing."""
        spec = ds.get("spec") or {}
        content = clone(spec.get("datasource") or {})
        if not content.get("uid"):
            content["uid"] = ds["metadata"]["uid"]
        for item in spec.get("valuesFrom") or []:
            src = item.get("valueFrom") or {}
            value = None
            for ref_key, plural in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
                ref = src.get(ref_key)
                if ref:
                    obj = self.find(plural, ns, ref.get("name", ""))
                    data = (obj or {}).get("data") or {}
                    if ref.get("key") not in data:
                        return None
                    value = base64.b64decode(data[ref["key"]]).decode() if plural == "secrets" else data[ref["key"]]
                    key = ref["key"]
            if value is None:
                continue
            node, parts = content, str(item.get("targetPath", "")).split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict) and isinstance(node.get(parts[-1]), str):
                node[parts[-1]] = node[parts[-1]].replace("${%s}" % key, value).replace("$" + key, value)
        return content

    def _sync_datasource_conditions(self, rt, ds, ns):
        """grafana-operator >= 5.16 (KOF 1.x): a DatasourceSynchronized condition with observedGeneration."""
        spec = ds.get("spec") or {}
        instances = [g for g in self._matching_grafanas(spec) if g["metadata"].get("namespace") == ns
                     or spec.get("allowCrossNamespaceImport")]
        gen = ds["metadata"].get("generation", 1)
        prev = ds.get("status") or {}
        old_cond = (prev.get("conditions") or [{}])[0]
        ts = now()
        missing = self._missing_values_source(ns, spec)
        digest = _digest(spec)
        if not instances:
            cond = {"type": "DatasourceSynchronized", "status": "False", "reason": "NoMatchingInstances",
                    "message": "No instances found matching .spec.instanceSelector"}
            status = {"NoMatchingInstances": True}
        elif missing:
            cond = {"type": "DatasourceSynchronized", "status": "False", "reason": "InvalidSpec",
                    "message": f"building datasource: {missing} not found in namespace {ns}"}
            status = {}
        else:
            cond = {"type": "DatasourceSynchronized", "status": "True", "reason": "ApplySuccessful",
                    "message": f"Datasource was successfully applied to {len(instances)} instances"}
            status = {"hash": digest, "uid": (spec.get("datasource") or {}).get("uid") or ds["metadata"]["uid"]}
        same = (old_cond.get("reason") == cond["reason"] and old_cond.get("message") == cond["message"]
                and old_cond.get("observedGeneration") == gen and prev.get("hash") == status.get("hash"))
        if same:
            return
        cond.update(observedGeneration=gen, lastTransitionTime=ts)
        status.update(conditions=[cond], lastResync=ts)
        self.c.set_status(ds, status, manager="grafana-operator")

    def _missing_values_source(self, ns, spec):
        for item in spec.get("valuesFrom") or []:
            src = item.get("valueFrom") or {}
            for ref_key, plural, what in (("secretKeyRef", "secrets", "Secret"),
                                          ("configMapKeyRef", "configmaps", "ConfigMap")):
                ref = src.get(ref_key)
                if ref:
                    obj = self.find(plural, ns, ref.get("name", ""))
                    if obj is None or ref.get("key") not in (obj.get("data") or {}):
                        return f'{what} "{ref.get("name")}" (key {ref.get("key")})'
        return None

    # --------------------------------------------------------------------- opentelemetry-operator
    def reconcile_otel(self, ns, name):
        rt, col = self.get(OTEL_GROUP, "opentelemetrycollectors", ns, name)
        if col is None or col["metadata"].get("deletionTimestamp"):
            return
        spec = col.get("spec") or {}
        mode = spec.get("mode") or "deployment"
        if mode == "sidecar":
            return
        kind = {"deployment": "Deployment", "daemonset": "DaemonSet", "statefulset": "StatefulSet"}.get(mode)
        if kind is None:
            return
        wname = f"{name}-collector"
        labels = {"app.kubernetes.io/name": wname, "app.kubernetes.io/instance": f"{ns}.{name}",
                  "app.kubernetes.io/component": "opentelemetry-collector",
                  "app.kubernetes.io/managed-by": "opentelemetry-operator"}
        image = spec.get("image") or "otel/opentelemetry-collector-contrib:0.116.0"
        if isinstance(image, dict):  # KOF 1.x: opentelemetry-kube-stack's values shape {repository, tag, digest}
            ref = image.get("digest") and f"@{image['digest']}" or (image.get("tag") and f":{image['tag']}") or ""
            image = f"{image.get('repository') or 'otel/opentelemetry-collector-k8s'}{ref}"
        w = self.ensure(workload(kind, wname, ns, labels, replicas=spec.get("replicas", 1), container="otc-container",
                                 image=image), col)
        st = (w or {}).get("status") or {}
        if kind == "DaemonSet":
            total, ready = st.get("desiredNumberScheduled", 0), st.get("numberReady", 0)
        else:
            total, ready = int(spec.get("replicas", 1)), st.get("readyReplicas", 0)
        sel = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        self.set_status(rt, col, {"scale": {"replicas": total, "statusReplicas": f"{ready}/{total}",
                                            "selector": sel},
                                  "version": image.rpartition(":")[2] if ":" in image.rsplit("/", 1)[-1]
                                  else ""})

    # ------------------------------------------------------------------------------ cert-manager
    def _cert_manager_running(self) -> bool:
        rt = self.c.resource("apps", "deployments")
        return any((d["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "cert-manager"
                   for d in self.c.list(rt))

    def issuer_ready(self, kind, ns, name):
        rt, iss = self.get(CM_GROUP, "issuers" if kind == "Issuer" else "clusterissuers", ns, name)
        if iss is None or not self._cert_manager_running():
            return
        acme = "acme" in (iss.get("spec") or {})
        cond = {"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered" if acme else "IsReady",
                "message": "The ACME account was registered with the ACME server" if acme else "",
                "observedGeneration": iss["metadata"].get("generation", 1)}
        self._set_condition(iss, cond, "cert-manager-issuers")

    def issue_all(self):
        if not self._cert_manager_running():
            return
        for kind, plural in (("Issuer", "issuers"), ("ClusterIssuer", "clusterissuers")):
            rt = self.rt(CM_GROUP, plural)
            for iss in self.c.list(rt) if rt else []:
                self.issuer_ready(kind, iss["metadata"].get("namespace", ""), iss["metadata"]["name"])
        rt = self.rt(CM_GROUP, "certificates")
        for cert in self.c.list(rt) if rt else []:
            self.issue(cert["metadata"]["namespace"], cert["metadata"]["name"])

    def issue(self, ns, name):
        rt, cert = self.get(CM_GROUP, "certificates", ns, name)
        if cert is None or cert["metadata"].get("deletionTimestamp") or not self._cert_manager_running():
            return
        spec = cert.get("spec") or {}
        ref = spec.get("issuerRef") or {}
        kind = ref.get("kind") or "Issuer"
        _, iss = self.get(CM_GROUP, "clusterissuers" if kind == "ClusterIssuer" else "issuers", ns, ref.get("name", ""))
        gen = cert["metadata"].get("generation", 1)
        if iss is None:
            cond = {"type": "Ready", "status": "False", "reason": "DoesNotExist",
                    "message": f'Issuing certificate as Secret does not exist; {kind} "{ref.get("name")}" not found'}
        elif "acme" in (iss.get("spec") or {}):
            # no ACME server behind kofsim: the order stays pending, as with an unresolvable domain
            cond = {"type": "Ready", "status": "False", "reason": "Issuing",
                    "message": "Issuing certificate as Secret does not exist (ACME order pending)"}
        else:
            secret = spec.get("secretName") or name
            pem = base64.b64encode(f"kofsim certificate {ns}/{name}\n".encode()).decode()
            self.ensure({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                         "metadata": {"name": secret, "namespace": ns,
                                      "annotations": {"cert-manager.io/certificate-name": name,
                                                      "cert-manager.io/issuer-name": ref.get("name", ""),
                                                      "cert-manager.io/issuer-kind": kind}},
                         "data": {"tls.crt": pem, "tls.key": pem, "ca.crt": pem}}, cert)
            cond = {"type": "Ready", "status": "True", "reason": "Ready",
                    "message": "Certificate is up to date and has not expired"}
        cond["observedGeneration"] = gen
        self._set_condition(cert, cond, "cert-manager-certificates-issuing")

    # ------------------------------------------------------------------------------ envoy-gateway
    def _envoy_gateway(self) -> dict | None:
        """The running envoy-gateway controller's Deployment (gateway-helm's), or None."""
        rt = self.c.resource("apps", "deployments")
        return next((d for d in self.c.list(rt, labels={"app.kubernetes.io/name": "gateway-helm"})
                     if d["metadata"]["name"] == "envoy-gateway" and not d["metadata"].get("deletionTimestamp")),
                    None)

    def _envoy_service_name(self, ns) -> str:
        """envoyProxy.provider.kubernetes.envoyService.name of the controller's configuration, or ''."""
        cm = self.find("configmaps", ns, "envoy-gateway-config")
        try:
            config = yaml.safe_load(((cm or {}).get("data") or {}).get("envoy-gateway.yaml") or "") or {}
        except yaml.YAMLError:
            return ""
        kube = ((((config.get("envoyProxy") or {}).get("provider") or {}).get("kubernetes") or {})
                if isinstance(config, dict) else {})
        return str((kube.get("envoyService") or {}).get("name") or "")

    def reconcile_gateways(self):
        rt = self.rt(GW_GROUP, "gateways")
        for gw in self.c.list(rt) if rt else []:
            self.reconcile_gateway(gw["metadata"]["namespace"], gw["metadata"]["name"])

    def _envoy_class(self, name) -> dict | None:
        """The GatewayClass `name` when it is envoy-gateway's, marked Accepted."""
        rt, gwc = self.get(GW_GROUP, "gatewayclasses", "", name)
        if gwc is None or (gwc.get("spec") or {}).get("controllerName") != ENVOY_CONTROLLER:
            return None
        self._set_condition(gwc, {"type": "Accepted", "status": "True", "reason": "Accepted",
                                  "message": "Valid GatewayClass",
                                  "observedGeneration": gwc["metadata"].get("generation", 1)}, "envoy-gateway")
        return gwc

    def reconcile_gateway(self, ns, name):
        controller = self._envoy_gateway()
        if controller is None:
            return
        cns = controller["metadata"]["namespace"]
        proxy = f"envoy-{ns}-{name}-{hashlib.sha256(f'{ns}/{name}'.encode()).hexdigest()[:8]}"
        svc_name = self._envoy_service_name(cns) or proxy
        rt, gw = self.get(GW_GROUP, "gateways", ns, name)
        if gw is None or gw["metadata"].get("deletionTimestamp") or \
                self._envoy_class((gw.get("spec") or {}).get("gatewayClassName", "")) is None:
            for plural, group, obj_name in (("services", "", svc_name), ("deployments", "apps", proxy)):
                cur = self.c.get(self.rt(group, plural), cns, obj_name)
                if cur is not None and (cur["metadata"].get("labels") or {}).get(OWNING_NAME) == name:
                    self.c.delete(self.rt(group, plural), cns, obj_name)
            return
        spec = gw.get("spec") or {}
        labels = {"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy",
                  "app.kubernetes.io/managed-by": "envoy-gateway", OWNING_NAME: name, OWNING_NS: ns}
        ports = sorted({(f"{lst.get('protocol', 'HTTP').lower()}-{lst.get('port')}", int(lst.get("port") or 80))
                        for lst in spec.get("listeners") or []})
        svc = service(svc_name, ns=cns, selector=labels, ports=ports or [("http-80", 80)])
        svc["spec"]["type"] = "LoadBalancer"
        self.ensure(workload("Deployment", proxy, cns, labels, container="envoy",
                             image="docker.io/envoyproxy/envoy:distroless-v1.37.1"), None, manager="envoy-gateway")
        svc = self.ensure(svc, None, manager="envoy-gateway")
        ingress = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        addresses = [{"type": "Hostname", "value": i["hostname"]} if i.get("hostname") else
                     {"type": "IPAddress", "value": i["ip"]} for i in ingress if i.get("hostname") or i.get("ip")]
        gen = gw["metadata"].get("generation", 1)
        programmed = ({"type": "Programmed", "status": "True", "reason": "Programmed",
                       "message": "Address assigned to the Gateway, 1/1 envoy replicas available"} if addresses else
                      {"type": "Programmed", "status": "False", "reason": "AddressNotAssigned",
                       "message": "No addresses have been assigned to the Gateway"})
        conds = [{"type": "Accepted", "status": "True", "reason": "Accepted",
                  "message": "The Gateway has been scheduled by Envoy Gateway"}, programmed]
        routes = self.rt(GW_GROUP, "httproutes")
        attached = {}
        for r in self.c.list(routes) if routes else []:
            for ref in (r.get("spec") or {}).get("parentRefs") or []:
                if ref.get("name") == name and (ref.get("namespace") or r["metadata"]["namespace"]) == ns:
                    attached[ref.get("sectionName")] = attached.get(ref.get("sectionName"), 0) + 1
        listeners = [{"name": lst.get("name"),
                      "attachedRoutes": attached.get(lst.get("name"), 0) + attached.get(None, 0),
                      "supportedKinds": [{"group": GW_GROUP, "kind": "HTTPRoute"},
                                         {"group": GW_GROUP, "kind": "GRPCRoute"}],
                      "conditions": [dict(c, observedGeneration=gen) for c in (
                          {"type": t, "status": "True", "reason": t, "message": m} for t, m in (
                              ("Programmed", "Sending translated listener configuration to the data plane"),
                              ("Accepted", "Listener is Accepted"), ("ResolvedRefs", "Listener references resolved")))]}
                     for lst in spec.get("listeners") or []]
        want = {"addresses": addresses, "listeners": listeners,
                "conditions": [dict(c, observedGeneration=gen) for c in conds]}
        have = gw.get("status") or {}
        strip = (lambda conditions: [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                                     for c in conditions or []])
        if (have.get("addresses") or []) == addresses and strip(have.get("conditions")) == want["conditions"] and \
                [dict(x, conditions=strip(x.get("conditions"))) for x in have.get("listeners") or []] == listeners:
            return
        ts = now()
        want["conditions"] = [dict(c, lastTransitionTime=ts) for c in want["conditions"]]
        for x in want["listeners"]:
            x["conditions"] = [dict(c, lastTransitionTime=ts) for c in x["conditions"]]
        self.c.set_status(gw, want, manager="envoy-gateway")

    # ---------------------------------------------------------------------------- promxy-operator
    def _promxy_operator(self):
        rt = self.c.resource("apps", "deployments")
        # [flux.py] KOF 1.10 has no promxy-operator Deployment: kof-mothership's `<fullname>-kof-operator` renders
        # the PromxyServerGroups
        suffixes = ("-promxy-operator",) if self.layer.kof_mode == "0.1" else ("-promxy-operator", "-kof-operator")
        return next((d for d in self.c.list(rt) if d["metadata"]["name"].endswith(suffixes)
                     and not d["metadata"].get("deletionTimestamp")), None)

    def render_all_promxy(self):
        rt = self.rt(PSG_GROUP, "promxyservergroups")
        if rt is None:
            return
        if self.layer.kof_mode != "0.1":
            self.render_promxy(None)
            return
        for ns in sorted({p["metadata"]["namespace"] for p in self.c.list(rt)}):
            self.render_promxy(ns)

    def render_promxy(self, ns):
        """ns: the triggering PSG's namespace (0.1.x), None for all namespaces (1.x)."""
        rt = self.rt(PSG_GROUP, "promxyservergroups")
        operator = self._promxy_operator()
        if rt is None or operator is None:
            return
        op_ns = operator["metadata"]["namespace"]
        v01 = self.layer.kof_mode == "0.1"
        groups: dict[str, list] = {}
        for psg in self.c.list(rt, ns):
            labels = psg["metadata"].get("labels") or {}
            # KOF 1.8 renamed the label kof-operator keys on (kof-facts 9.1); the 1.x mode serves both eras
            target = labels.get(PSG_LABEL) or (None if v01 else labels.get(PSG_LABEL_1_8))
            if target and not psg["metadata"].get("deletionTimestamp"):
                groups.setdefault(target, []).append(psg)
        sec_rt = self.c.resource("", "secrets")
        for secret_name, psgs in sorted(groups.items()):
            server_groups = []
            for psg in sorted(psgs, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
                spec = psg.get("spec") or {}
                http = spec.get("http_client") or {}
                ba = http.get("basic_auth") or {}
                group = {"static_configs": [{"targets": list(spec.get("targets") or [])}],
                         "path_prefix": spec.get("path_prefix", ""), "scheme": spec.get("scheme", "http"),
                         "http_client": {"dial_timeout": http.get("dial_timeout", "5s"),
                                         "tls_config": {"insecure_skip_verify": bool(
                                             (http.get("tls_config") or {}).get("insecure_skip_verify", False))}},
                         "labels": {"promxyCluster": spec.get("cluster_name", "")}}
                if v01 or ba.get("credentials_secret_name"):
                    # 0.1.x reads the Secret from the PSG's namespace unconditionally; 1.x from its own
                    cred = self.c.get(sec_rt, psg["metadata"]["namespace"] if v01 else op_ns,
                                      ba.get("credentials_secret_name", ""))
                    if cred is None:
                        return  # PromxySecretCreationFailed: the whole reconcile stops
                    data = cred.get("data") or {}
                    group["http_client"]["basic_auth"] = {
                        "username": base64.b64decode(data.get(ba.get("username_key", ""), "")).decode(),
                        "password": base64.b64decode(data.get(ba.get("password_key", ""), "")).decode()}
                if not v01:
                    group["labels"]["promxyClusterNamespace"] = psg["metadata"]["namespace"]
                    group["ignore_error"] = True
                server_groups.append(group)
            config = {"global": {"evaluation_interval": "5s", "external_labels": {"source": "promxy"}},
                      "remote_write": [{"url": "http://vminsert-cluster:8480/insert/0/prometheus/api/v1/write"}],
                      "promxy": {"server_groups": server_groups}}
            want = base64.b64encode(yaml_dump(config, sort_keys=False).encode()).decode()
            cur = self.c.get(sec_rt, op_ns, secret_name)
            if cur is not None and (cur.get("data") or {}).get("config.yaml") == want:
                continue
            obj = mutable(cur) if cur else {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                                   "metadata": {"name": secret_name, "namespace": op_ns}}
            obj["metadata"].setdefault("labels", {})["app.kubernetes.io/managed-by"] = "promxy-operator"
            obj["data"] = dict(obj.get("data") or {}, **{"config.yaml": want})
            try:
                if cur is None:
                    self.c.create(obj, manager="promxy-operator")
                else:
                    self.c.update(obj, manager="promxy-operator")
            except E.ApiError as err:
                if err.code in RETRY_CODES:
                    raise
                return


# ------------------------------------------------------------------------------ VM builders
def _claim(storage: dict) -> dict | None:
    vct = (storage or {}).get("volumeClaimTemplate") or {}
    spec = clone(vct.get("spec") or {})
    if not spec:
        return None
    spec.setdefault("accessModes", ["ReadWriteOnce"])
    return spec


def _vmcluster(name, ns, spec):
    out = []
    for comp, port, kind, claim in (("vmselect", 8481, "StatefulSet", "vmselect-cachedir"),
                                    ("vminsert", 8480, "Deployment", None),
                                    ("vmstorage", 8482, "StatefulSet", "vmstorage-db")):
        cspec = spec.get(comp) or {}
        labels = _labels(comp, name, "vm-operator")
        pvc = _claim(cspec.get("storage")) if claim else None
        out.append(workload(kind, f"{comp}-{name}", ns, labels, replicas=cspec.get("replicaCount", 1),
                            claims=[(claim, pvc)] if pvc else (), image=f"victoriametrics/{comp}:v1.108.1-cluster"))
        ports = [("http", port)] + ([("vminsert", 8400), ("vmselect", 8401)] if comp == "vmstorage" else [])
        out.append(service(f"{comp}-{name}", ns, labels, ports))
    return out


def _vmauth(name, ns, spec):
    labels = _labels("vmauth", name, "vm-operator")
    out = [workload("Deployment", f"vmauth-{name}", ns, labels, replicas=spec.get("replicaCount", 1),
                    image="victoriametrics/vmauth:v1.108.1"),
           service(f"vmauth-{name}", ns, labels, [("http", 8427)])]
    ing = spec.get("ingress")
    if ing:
        host = ing.get("host")
        rule = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": f"vmauth-{name}", "port": {"name": "http"}}}}]}}
        if host:
            rule["host"] = host
        ispec = {"rules": [rule]}
        if ing.get("class_name"):
            ispec["ingressClassName"] = ing["class_name"]
        if ing.get("tlsSecretName"):
            ispec["tls"] = [{"hosts": list(ing.get("tlsHosts") or ([host] if host else [])),
                             "secretName": ing["tlsSecretName"]}]
        meta = {"name": f"vmauth-{name}", "namespace": ns, "labels": dict(labels)}
        if ing.get("annotations"):
            meta["annotations"] = dict(ing["annotations"])
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": ispec})
    return out


def _simple(component, port, kind="Deployment"):
    def build(name, ns, spec):
        labels = _labels(component, name, "vm-operator")
        return [workload(kind, f"{component}-{name}", ns, labels, replicas=spec.get("replicaCount", 1),
                         image=f"victoriametrics/{component}:v1.108.1"),
                service(f"{component}-{name}", ns, labels, [("http", port)])]
    return build


VM_BUILDERS = {"VMCluster": ("vmclusters", _vmcluster), "VMAuth": ("vmauths", _vmauth),
               "VMAlert": ("vmalerts", _simple("vmalert", 8080)),
               "VMAlertmanager": ("vmalertmanagers", _simple("vmalertmanager", 9093, "StatefulSet")),
               "VMSingle": ("vmsingles", _simple("vmsingle", 8429))}
