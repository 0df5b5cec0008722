"""What the KOF 1.10 MultiClusterServices install on a workload cluster (kof-regional / kof-child at v1.10.0):
kof-storage 1.10, kof-collectors 1.10, kof-operators 1.10, envoy-gateway's `gateway-helm` and kof-propagation 1.10
(kof-mothership's and kof-operator's propagation MultiClusterServices: the chart renders `propagation.data`, the
object Sveltos' template produced, into the workload cluster); cert-manager and
victoria-metrics-operator stay catalog.py's. Values are the chart's defaults (kofsim/charts-1.10/<chart>/values.yaml)
merged with the release's and validated against kofsim/charts-1.10/<chart>/values.schema.json as helm 3 does (an
unknown key fails the install with helm's message). The objects are those KOF's own checks look at, named as the
v1.10.0 templates name them; kofsim's operators (operators.py) turn the custom resources into workloads.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft7Validator

from ..fastcopy import clone
from . import catalog
from .catalog import RenderError, _get, deployment, merge, service, workload

CHARTS_1X = Path(__file__).resolve().parent.parent / "charts-1.10"
KOF_1X = ("kof-storage", "kof-collectors", "kof-operators", "kof-propagation")
CHARTS = KOF_1X + ("gateway-helm",)


def handles(chart: str, version: str) -> bool:
    """kof-* charts of the 1.x generation (a 1.x chart version) and gateway-helm."""
    return chart == "gateway-helm" or (chart in KOF_1X and str(version or "").lstrip("v").startswith("1."))


# k0rdent/kof@v1.10.0 charts/kof-propagation/values.yaml (the chart has no stand-in directory: one template)
PROPAGATION_DEFAULTS = {"propagation": {"enabled": False, "data": ""}}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterIssuer",
                  "StorageClass", "PriorityClass", "GatewayClass", "PersistentVolume", "IngressClass"}


@lru_cache(maxsize=None)
def _defaults(chart):
    if chart == "kof-propagation":
        return PROPAGATION_DEFAULTS
    f = CHARTS_1X / chart / "values.yaml"
    return (yaml.safe_load(f.read_text()) or {}) if f.exists() else {}


@lru_cache(maxsize=None)
def _validator(chart):
    f = CHARTS_1X / chart / "values.schema.json"
    return Draft7Validator(json.loads(f.read_text())) if f.exists() else None


def validate(chart, values):
    v = _validator(chart)
    if v is None:
        return
    lines = []
    for n, err in enumerate(v.iter_errors(json.loads(json.dumps(values, default=str)))):
        for m, (path, text) in enumerate(catalog._go_errors(err)):
            lines.append(((path, n, m), f"{'.'.join(path) if path else '(root)'}: {text}"))
    if lines:
        raise RenderError(catalog.SCHEMA_ERROR + f"{chart}:\n" + "".join(f"- {t}\n" for _, t in sorted(lines)))


def objects_for(chart, release, ns, values, lookup=None):
    """(CRD dirs, objects), as catalog.objects_for."""
    merged = merge(clone(_defaults(chart)), values or {})
    validate(chart, merged)
    return BUILDERS[chart](release, ns, merged, lookup or (lambda *a: None))


def _kof_storage(release, ns, v, lookup):
    objs = []
    g = v.get("global") or {}
    sc = g.get("storageClass") or ""
    cm = v.get("cert-manager") or {}
    if cm.get("enabled") and (cm.get("cluster-issuer") or {}).get("create"):
        ci = cm.get("cluster-issuer") or {}
        name = ci.get("name") or f"{ci.get('provider')}-prod"
        spec = ({"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory", "email": cm.get("email"),
                          "privateKeySecretRef": {"name": name}, "solvers": cm.get("solvers")}}
                if ci.get("provider") == "letsencrypt" else {"selfSigned": {}})
        objs.append({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name},
                     "spec": spec})
    gwc = v.get("gatewayClass") or {}
    if gwc.get("enabled"):
        objs.append({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                     "metadata": {"name": gwc.get("name")}, "spec": {"controllerName": gwc.get("controllerName")}})
    gw = v.get("gateway") or {}
    if gw.get("enabled"):
        meta = {"name": gw.get("name"), "namespace": ns}
        if gw.get("annotations"):
            meta["annotations"] = gw["annotations"]
        objs.append({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": meta,
                     "spec": clone(gw.get("spec") or {})})
    vm = v.get("victoriametrics") or {}
    if vm.get("enabled"):
        if (vm.get("vmcluster") or {}).get("enabled"):
            spec = clone((vm.get("vmcluster") or {}).get("spec") or {})
            if sc:
                for comp in ("vmselect", "vmstorage"):
                    tpl = ((spec.get(comp) or {}).get("storage") or {}).get("volumeClaimTemplate")
                    if isinstance(tpl, dict):
                        tpl.setdefault("spec", {})["storageClassName"] = sc
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMCluster",
                         "metadata": {"name": "cluster", "namespace": ns}, "spec": spec})
        auth = vm.get("vmauth") or {}
        if auth.get("enabled"):
            spec = clone(auth.get("spec") or {})
            ing = spec.get("ingress")
            if isinstance(ing, dict):
                if ing.get("enabled"):
                    ann = ing.setdefault("annotations", {}) or {}
                    ing["annotations"] = ann
                    if not ann.get("cert-manager.io/cluster-issuer"):
                        ci = cm.get("cluster-issuer") or {}
                        ann["cert-manager.io/cluster-issuer"] = ci.get("name") or f"{ci.get('provider')}-prod"
                else:
                    spec.pop("ingress")
            if not (spec.get("httpRoute") or {}).get("enabled"):
                spec.pop("httpRoute", None)
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMAuth",
                         "metadata": {"name": "cluster", "namespace": ns}, "spec": spec})
    # the external-dns dependency (chart 1.20.0, appVersion 0.20.0): its Deployment passes `env`, `extraVolumes` and
    # `extraVolumeMounts` through as given and the provider as --provider (templates/deployment.yaml); kof-storage's
    # defaults mount the Secret external-dns-aws-credentials, so without it the pod waits in ContainerCreating
    ed = v.get("external-dns") or {}
    if ed.get("enabled"):
        objs.append(workload("Deployment", f"{release}-external-dns", ns, "external-dns", release, "kof-storage",
                             image="registry.k8s.io/external-dns/external-dns:v0.20.0", container="external-dns",
                             env=ed.get("env"), mounts=ed.get("extraVolumeMounts"), volumes=ed.get("extraVolumes"),
                             args=_external_dns_args(ed)))
    # the log and trace storage StatefulSets helm itself manages (not an operator): their volume claim templates
    # come from the values, so a changed storage class or size is an update Kubernetes forbids
    for dep, app, name, pv_default in VL_STORAGE:
        objs += _vl_storage(release, ns, v, dep, app, name, pv_default)
    return [], objs


# victoria-logs-cluster 0.0.25 (vlstorage) and victoria-traces-cluster 0.1.1 (vtstorage, nameOverride vt-cluster):
# templates/v?storage-server.yaml, values.yaml and victoria-metrics-common's vm.selectorLabels
VL_STORAGE = (("victoria-logs-cluster", "vlstorage", "victoria-logs-cluster", "vlstorage-volume"),
              ("victoria-traces-cluster", "vtstorage", "vt-cluster", "vtstorage-volume"))
VL_IMAGES = {"vlstorage": "victoriametrics/victoria-logs:v1.43.1", "vtstorage": "victoriametrics/victoria-traces:v0.8.1"}


def _vl_storage(release, ns, v, dep, app, chart_name, pv_name):
    sub = v.get(dep) or {}
    comp = sub.get(app) or {}
    if not sub.get("enabled", True) or not comp.get("enabled", True):
        return []
    pvc = merge({"enabled": True, "name": pv_name, "accessModes": ["ReadWriteOnce"], "annotations": {},
                 "extraLabels": {}, "storageClassName": "", "existingClaim": "", "mountPath": "/storage",
                 "size": "10Gi"}, clone(comp.get("persistentVolume") or {}))
    fullname = f"{release}-{chart_name}-{app}"
    sel = {"app.kubernetes.io/name": chart_name, "app.kubernetes.io/instance": release, "app": app}
    pod = {"containers": [{"name": app, "image": VL_IMAGES[app],
                           "volumeMounts": [{"name": pvc["name"], "mountPath": pvc["mountPath"]}]}]}
    if not pvc["enabled"] or pvc["existingClaim"]:
        pod["volumes"] = [{"name": f"{app}-volume", **({"persistentVolumeClaim": {"claimName": pvc["existingClaim"]}}
                                                       if pvc["enabled"] else {"emptyDir": {}})}]
    spec = {"serviceName": fullname, "selector": {"matchLabels": dict(sel)},
            "replicas": comp.get("replicaCount", 2), "podManagementPolicy": comp.get("podManagementPolicy",
                                                                                    "OrderedReady"),
            "template": {"metadata": {"labels": dict(sel, **(sub.get("podLabels") or {}),
                                                     **(comp.get("podLabels") or {}))}, "spec": pod},
            "minReadySeconds": comp.get("minReadySeconds", 0)}
    if pvc["enabled"] and not pvc["existingClaim"]:
        meta = {"name": pvc["name"]}
        if pvc["annotations"]:
            meta["annotations"] = clone(pvc["annotations"])
        if pvc["extraLabels"]:
            meta["labels"] = clone(pvc["extraLabels"])
        cspec = {"accessModes": clone(pvc["accessModes"]), "resources": {"requests": {"storage": str(pvc["size"])}}}
        if not pvc["accessModes"]:
            cspec.pop("accessModes")
        if pvc["storageClassName"]:  # `with`: an empty class is left out; "-" means the empty class
            cspec["storageClassName"] = "" if pvc["storageClassName"] == "-" else pvc["storageClassName"]
        spec["volumeClaimTemplates"] = [{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                                         "spec": cspec}]
    return [{"apiVersion": "apps/v1", "kind": "StatefulSet",
             "metadata": {"name": fullname, "namespace": ns, "labels": dict(sel)}, "spec": spec}]


def _external_dns_args(ed):
    """external-dns chart 1.20.0's arguments in its order: --source per `sources`, --provider, then `extraArgs`
    (a map; a list value repeats the flag)."""
    args = [f"--source={s}" for s in ed.get("sources") or []] + [f"--provider={catalog.external_dns_provider(ed)}"]
    extra = ed.get("extraArgs")
    for key, value in (extra.items() if isinstance(extra, dict) else ()):
        if value is not None:
            args += [f"--{key}={str(x).lower() if isinstance(x, bool) else x}"
                     for x in (value if isinstance(value, list) else [value])]
    return args


def _collector_name(release, ks, name):
    return f"{ks.get('fullnameOverride') or release}-{name}"


def _kof_collectors(release, ns, v, lookup):
    objs = []
    ks = v.get("opentelemetry-kube-stack") or {}
    base = ks.get("defaultCRConfig") or {}
    for name, col in sorted((ks.get("collectors") or {}).items()):
        if not isinstance(col, dict) or not col.get("enabled"):
            continue
        spec = merge(clone({k: x for k, x in base.items() if k != "podAnnotations"}),
                     {k: x for k, x in col.items() if k not in ("enabled", "name")})
        spec.setdefault("mode", "deployment")
        meta = {"name": _collector_name(release, ks, name), "namespace": ns,
                "labels": {"app.kubernetes.io/instance": release}}
        if base.get("podAnnotations"):
            spec["podAnnotations"] = dict(base["podAnnotations"], **(spec.get("podAnnotations") or {}))
        objs.append({"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
                     "metadata": meta, "spec": spec})
    oc = v.get("opencost") or {}
    if oc.get("enabled", True):
        exp = (oc.get("opencost") or {}).get("exporter") or {}
        prom = (oc.get("opencost") or {}).get("prometheus") or {}
        env = [{"name": "CLUSTER_ID", "value": str(exp.get("defaultClusterId", ""))},
               {"name": "PROMETHEUS_SERVER_ENDPOINT", "value": str((prom.get("external") or {}).get("url", ""))}]
        env += [{"name": k, "value": str(x)} for k, x in sorted((exp.get("extraEnv") or {}).items())]
        dep = deployment(f"{release}-opencost", ns, {"app.kubernetes.io/name": "opencost",
                                                     "app.kubernetes.io/instance": release})
        dep["spec"]["template"]["spec"]["containers"][0]["env"] = env
        objs.append(dep)
        objs.append(service(f"{release}-opencost", ns, {"app.kubernetes.io/name": "opencost",
                                                        "app.kubernetes.io/instance": release},
                            [("http", 9003, 9003)]))
    return [], objs


def _kof_operators(release, ns, v, lookup):
    crds = []
    if (v.get("prometheus-operator-crds") or {}).get("enabled", True):
        crds.append("prometheus")
    oo = v.get("opentelemetry-operator") or {}
    objs = []
    if oo.get("enabled", True):
        crds.append("opentelemetry")
        objs.append(deployment(f"{release}-opentelemetry-operator", ns,
                               {"app.kubernetes.io/name": "opentelemetry-operator",
                                "app.kubernetes.io/instance": release}))
    return crds, objs


def _gateway_helm(release, ns, v, lookup):
    """gateway-helm v1.7.2: the controller, and its configuration (ConfigMap envoy-gateway-config, key
    envoy-gateway.yaml: the EnvoyGateway resource from `config.envoyGateway`), which operators.py's envoy-gateway
    stand-in reads (kof-regional names the proxy Service through envoyProxy.provider.kubernetes.envoyService)."""
    config = dict({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyGateway"},
                  **((v.get("config") or {}).get("envoyGateway") or {}))
    return ["gatewayapi"], [{"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "envoy-gateway-config", "namespace": ns},
                             "data": {"envoy-gateway.yaml": yaml.safe_dump(config, sort_keys=False)}},
                            deployment("envoy-gateway", ns, {"app.kubernetes.io/name": "gateway-helm",
                                                             "app.kubernetes.io/instance": release}),
                            service("envoy-gateway", ns, {"app.kubernetes.io/name": "gateway-helm",
                                                          "app.kubernetes.io/instance": release},
                                    [("grpc", 18000, 18000)])]


def _kof_propagation(release, ns, v, lookup):
    """templates/propagation.yaml at v1.10.0: `{{ .Values.propagation.data }}` when propagation.enabled; helm
    puts namespaced objects without a namespace into the release's."""
    p = v.get("propagation") or {}
    if not p.get("enabled"):
        return [], []
    try:
        docs = [d for d in yaml.safe_load_all(str(p.get("data") or "")) if d is not None]
    except yaml.YAMLError as err:
        raise RenderError(f"YAML parse error on kof-propagation/templates/propagation.yaml: {err}") from err
    objs = []
    for d in docs:
        if not isinstance(d, dict) or not d.get("kind") or not d.get("apiVersion"):
            raise RenderError("unable to build kubernetes objects from release manifest: error validating \"\": "
                              "error validating data: [apiVersion not set, kind not set]")
        d = clone(d)
        meta = d.setdefault("metadata", {})
        for k in ("creationTimestamp", "generation", "deletionTimestamp", "selfLink"):
            meta.pop(k, None)
        d.pop("status", None)
        if d["kind"] not in CLUSTER_SCOPED:
            meta.setdefault("namespace", ns)
        objs.append(d)
    return [], objs


BUILDERS = {"kof-storage": _kof_storage, "kof-collectors": _kof_collectors, "kof-operators": _kof_operators,
            "gateway-helm": _gateway_helm, "kof-propagation": _kof_propagation}
