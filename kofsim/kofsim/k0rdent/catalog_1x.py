"""What KOF 1.10's management-tier charts create on the management cluster when Flux installs them (flux.py):
kof-operators, victoria-metrics-operator, kof-mothership, kof-regional, kof-child. Names, kinds, namespaces and
the switches that select them are the real charts' at k0rdent/kof@v1.10.0 (kofsim/K0RDENT.md, "KOF 1.x
management tier"); the objects are kofsim's own renderings of those facts, without the real charts' full specs.

Every builder is `build(release, ns, values, lookup, version) -> (crd_dirs, objects)` on the values already merged
with the stand-in chart's values.yaml and validated against its values.schema.json; `version` is the version of the
chart Flux pulled (the HelmChart's spec.version): kof-mothership names its ServiceTemplates, chains and
`kof-propagation-<v>` after it, kof-regional / kof-child their services' templates. The chart of a version is the
stand-in directory whose Chart.yaml has that name and version, looked up by find_chart() in the HelmChart's
`kofsim/charts-dir` annotation (the umbrella copies its own Chart.yaml annotation there), the directories of
$KOFSIM_EXTRA_CHARTS and kofsim/charts-1.10 (kofsim/K0RDENT.md, "KOF versions and upgrades").
"""
from __future__ import annotations

import base64
import os
import secrets
import string
from functools import lru_cache
from pathlib import Path

import yaml

from ..fastcopy import yaml_dump
from . import catalog
from .catalog import RenderError, _get, deployment, service

CHARTS_1X = Path(__file__).resolve().parent.parent / "charts-1.10"
KOF_VERSION = "1.10.0"
VMO_VERSION = "0.58.1"  # kof 1.10.0 values: victoria-metrics-operator.version
KCM_API = "k0rdent.mirantis.com/v1beta1"
KEEP = {"helm.sh/resource-policy": "keep"}
# the kof-mothership's kgst subcharts (alias -> values key); their ServiceTemplates are named <chart>-<version dashed>
KGST_ALIASES = ("cert-manager-service-template", "ingress-nginx-service-template", "envoy-gateway-service-template",
                "victoria-metrics-operator-service-template")
# charts kof-mothership 1.10 makes ServiceTemplates for (kcm's ServiceTemplate controller accepts them)
TEMPLATE_CHARTS = {"kof-operators", "kof-collectors", "kof-storage", "kof-propagation", "cert-manager",
                   "ingress-nginx", "gateway-helm", "victoria-metrics-operator"}


CHARTS_DIR_ANNOTATION = "kofsim/charts-dir"
EXTRA_CHARTS_ENV = "KOFSIM_EXTRA_CHARTS"


def chart_roots(extra=()) -> list[Path]:
    """Where chart directories are looked for, in order: `extra` (a HelmChart's kofsim/charts-dir annotation),
    $KOFSIM_EXTRA_CHARTS (os.pathsep-separated, read by the server process), kofsim's charts-1.10."""
    env = [d for d in os.environ.get(EXTRA_CHARTS_ENV, "").split(os.pathsep) if d]
    out = []
    for d in [*extra, *env, CHARTS_1X]:
        p = Path(d).expanduser()
        if p not in out:
            out.append(p)
    return out


@lru_cache(maxsize=256)
def _chart_meta(chart_yaml: Path, mtime: float) -> dict:
    try:
        return yaml.safe_load(chart_yaml.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def chart_meta(chart_dir: Path) -> dict:
    f = Path(chart_dir) / "Chart.yaml"
    try:
        return _chart_meta(f, f.stat().st_mtime)
    except OSError:
        return {}


def find_chart(name: str, version: str = "", extra=()) -> Path | None:
    """The stand-in directory of chart `name` at `version` (empty or "*": the first found, charts-1.10's last)."""
    want = str(version or "").lstrip("v")
    for root in chart_roots(extra):
        meta = chart_meta(root / name)
        if meta.get("name") == name and (want in ("", "*") or str(meta.get("version", "")).lstrip("v") == want):
            return root / name
    return None


def dashed(version: str) -> str:
    return version.replace(".", "-")


def _labels(release, chart, version=KOF_VERSION, name=None):
    return {"app.kubernetes.io/name": name or chart, "app.kubernetes.io/instance": release,
            "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": f"{chart}-{version}"}


def fullname(release: str, chart: str) -> str:
    """helm's usual `<chart>.fullname`: the release name when it contains the chart name."""
    return release if chart in release else f"{release}-{chart}"[:63].rstrip("-")


# --------------------------------------------------------------------------------- kof-operators
def kof_operators(release, ns, v, lookup, version=KOF_VERSION):
    """kof-operators 1.10.0: prometheus-operator-crds 15.0.0, opentelemetry-operator 0.104.0 (its Deployment),
    grafana-operator 5.21.4 (disabled by default)."""
    crds, objs = [], []
    if _get(v, "prometheus-operator-crds.enabled", True):
        crds.append("prometheus")
    if _get(v, "opentelemetry-operator.enabled", True):
        crds.append("opentelemetry")
        name = fullname(release, "opentelemetry-operator")
        objs.append(deployment(name, ns, {"app.kubernetes.io/name": "opentelemetry-operator",
                                          "app.kubernetes.io/instance": release,
                                          "app.kubernetes.io/component": "controller-manager"}))
    if _get(v, "grafana-operator.enabled", False):
        crds.append("grafana")
        objs.append(deployment(fullname(release, "grafana-operator"), ns,
                               {"app.kubernetes.io/name": "grafana-operator", "app.kubernetes.io/instance": release}))
    return crds, objs


def victoria_metrics_operator(release, ns, v, lookup, version=VMO_VERSION):
    """victoria-metrics-operator 0.58.1 (crds.plain: the CRDs as plain templates)."""
    name = fullname(release, "victoria-metrics-operator")
    objs = [deployment(name, ns, {"app.kubernetes.io/name": "victoria-metrics-operator",
                                  "app.kubernetes.io/instance": release}),
            service(name, ns, {"app.kubernetes.io/name": "victoria-metrics-operator",
                               "app.kubernetes.io/instance": release},
                    [("http", 8080, 8080), ("webhook", 9443, 9443)])]
    return ["victoriametrics"], objs


# --------------------------------------------------------------------------------- kof-mothership
def _secret(name, ns, string_data, labels=None, annotations=None):
    meta = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta,
            "data": {k: base64.b64encode(s.encode()).decode() for k, s in string_data.items()}}


def _rand(n):
    return "".join(secrets.choice(string.ascii_letters) for _ in range(int(n)))


def _kept_credentials(v, lookup, ns, name, user_key, password_key):
    """A chart's generated credentials (the `lookup` + randAlpha idiom): the Secret's current data when it holds a
    user, else a random user and password of global.random_username_length / random_password_length."""
    cur = lookup("v1", "Secret", ns, name) if lookup else None
    if cur and (cur.get("data") or {}).get(user_key):
        return {k: base64.b64decode(x).decode() for k, x in cur["data"].items()}
    return {user_key: _rand(_get(v, "global.random_username_length", 8) or 8),
            password_key: _rand(_get(v, "global.random_password_length", 12) or 12)}


def _service_template(name, ns, chart, version, repo):
    return {"apiVersion": KCM_API, "kind": "ServiceTemplate",
            "metadata": {"name": name, "namespace": ns, "annotations": dict(KEEP)},
            "spec": {"helm": {"chartSpec": {"chart": chart, "version": version, "interval": "10m0s",
                                            "sourceRef": {"kind": "HelmRepository", "name": repo}}}}}


def _chain(name, ns, new_name, prefix, version, lookup, existing):
    supported = [{"name": new_name}]
    for old in existing:
        if old.startswith(prefix) and old != new_name:
            supported.append({"name": old, "availableUpgrades": [{"name": new_name, "version": version}]})
    return {"apiVersion": KCM_API, "kind": "ServiceTemplateChain",
            "metadata": {"name": name, "namespace": ns, "annotations": dict(KEEP)},
            "spec": {"supportedTemplates": supported}}


def kof_mothership(release, ns, v, lookup, version=KOF_VERSION):
    kof_version = version
    kcm_ns = _get(v, "kcm.namespace", "kcm-system")
    objs = []
    existing = sorted(n for n in (lookup("__list__", "ServiceTemplate", kcm_ns, "") or [])) if lookup else []
    if _get(v, "kcm.installTemplates", True):
        repo = _get(v, "kcm.kof.repo.name", "oci-registry")
        for short in ("operators", "collectors", "storage", "propagation"):
            new = f"kof-{short}-{dashed(kof_version)}"
            objs.append(_service_template(new, kcm_ns, f"kof-{short}", kof_version, repo))
            objs.append(_chain(new, kcm_ns, new, f"kof-{short}-", kof_version, lookup, existing))
    for alias in KGST_ALIASES:
        cfg = v.get(alias) or {}
        if not cfg or (alias == "cert-manager-service-template" and not cfg.get("enabled", True)):
            continue
        chart, _, version = str(cfg.get("chart", "")).partition(":")
        st_ns = cfg.get("namespace") or ns
        new = f"{chart}-{dashed(version)}"
        repo = cfg.get("repo") or {}
        # kgst 2.x: a HelmRepository (a pre-install hook, kept; one that exists, e.g. the kof chart's
        # victoria-metrics, is left alone here) and the ServiceTemplate
        if not (lookup and lookup("source.toolkit.fluxcd.io/v1", "HelmRepository", st_ns, repo.get("name", alias))):
            objs.append({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                         "metadata": {"name": repo.get("name", alias), "namespace": st_ns,
                                      "labels": {"k0rdent.mirantis.com/managed": "true"},
                                      "annotations": {"helm.sh/hook": "pre-install, pre-upgrade", **KEEP}},
                         "spec": dict(repo.get("spec") or {})})
        objs.append(_service_template(new, st_ns, chart, version, repo.get("name", alias)))
        objs.append(_chain(f"{new}-chain", st_ns, new, f"{chart}-", version, lookup, existing))
    # kof-operator (promxy PSG rendering, MCS automation): Deployment <fullname>-kof-operator
    op_full = fullname(release, "kof-mothership")
    if _get(v, "kcm.kof.operator.enabled", True):
        op = deployment(f"{op_full}-kof-operator", ns, {"app.kubernetes.io/name": "kof-operator",
                                                         "app.kubernetes.io/instance": release})
        # templates/kof-operator/operator-deployment.yaml: the env the stand-in operator reads ("{{ value }}")
        cross = _get(v, "kcm.kof.operator.crossNamespace", False)
        ctr = op["spec"]["template"]["spec"]["containers"][0]
        ctr["args"] = [f"--management-cluster-name={_get(v, 'global.clusterName', 'mothership')}"]
        ctr["env"] = [
            {"name": "KOF_REGIONLESS_ENABLED", "value": str(bool(_get(v, "regionless.enabled", False))).lower()},
            {"name": "KOF_REGIONLESS_DOMAIN", "value": str(_get(v, "regionless.domain", "mothership.example.com"))},
            {"name": "CROSS_NAMESPACE", "value": str(cross).lower() if isinstance(cross, bool) else str(cross)},
            {"name": "RELEASE_NAMESPACE", "value": ns}]
        objs.append(op)
        objs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": f"{op_full}-kof-operator", "namespace": ns}})
        objs.append(service(f"{release}-kof-operator", ns, {"app.kubernetes.io/name": "kof-operator",
                                                            "app.kubernetes.io/instance": release},
                            [("http", 9090, 9090)]))
    # secrets kof components use (kcm.kof.secrets.<profile>.secrets[]): random, kept once created
    for _profile, spec in sorted((_get(v, "kcm.kof.secrets", {}) or {}).items()):
        for name in (spec or {}).get("secrets") or []:
            objs.append(_secret(name, ns, _kept_credentials(v, lookup, ns, name, "username", "password")))
    # templates/ksm/copy-secrets.yaml: per kcm.kof.mcs entry a MultiClusterService <name>-remote that copies the
    # listed Secrets of the release namespace to the clusters matching its labels (kof-propagation, one service each)
    for pname, spec in sorted((_get(v, "kcm.kof.mcs", {}) or {}).items()):
        spec = spec or {}
        names = list(spec.get("secrets") or [])
        objs.append({"apiVersion": KCM_API, "kind": "MultiClusterService", "metadata": {"name": f"{pname}-remote"},
                     "spec": {"clusterSelector": {"matchLabels": dict(spec.get("matchLabels") or {})},
                              "serviceSpec": {
                                  "services": [{"name": f"secret-{n}", "namespace": kcm_ns,
                                                "template": f"kof-propagation-{dashed(kof_version)}",
                                                "values": _copy_secret_values(n, ns)} for n in names],
                                  "templateResourceRefs": [{"identifier": f"secret-{n}", "resource": {
                                      "apiVersion": "v1", "kind": "Secret", "name": n, "namespace": ns}}
                                      for n in names]}}})
    # Grafana, optional since 1.7 (templates/grafana/secret.yaml): with grafana.enabled and security.create_secret the
    # admin Secret, random once and kept (lookup; helm.sh/resource-policy keep). The Grafana instance itself is the
    # user's (the docs' kof-grafana "Install Grafana manually"; the chart's grafana-vm only with installForTests)
    if _get(v, "grafana.enabled", False) and _get(v, "grafana.security.create_secret", True):
        gname = _get(v, "grafana.security.credentials_secret_name") or "grafana-admin-credentials"
        objs.append(_secret(gname, ns, _kept_credentials(v, lookup, ns, gname, "GF_SECURITY_ADMIN_USER",
                                                         "GF_SECURITY_ADMIN_PASSWORD"),
                            annotations={"helm.sh/resource-policy": "keep"}))
    # the MultiClusterService that copies each child's vmuser credentials (templates/kof-operator/)
    objs.append({"apiVersion": KCM_API, "kind": "MultiClusterService",
                 "metadata": {"name": "kof-storage-child-secret-propagation"},
                 "spec": {"clusterSelector": {"matchLabels": {"k0rdent.mirantis.com/kof-cluster-role": "child"}},
                          "serviceSpec": {
                              "services": [{"name": "kof-vmuser-creds", "namespace": ns,
                                            "template": f"kof-propagation-{dashed(kof_version)}",
                                            "values": PROPAGATION_VALUES}],
                              "templateResourceRefs": [{"identifier": "secret", "resource": {
                                  "apiVersion": "v1", "kind": "Secret",
                                  "name": "kof-vmuser-creds-{{ (printf \"kof-cluster-config-%s/%s\" "
                                          ".Cluster.metadata.name .Cluster.metadata.namespace) | adler32sum }}",
                                  "namespace": "{{ .Cluster.metadata.namespace }}"}}]}}})
    # promxy: Deployment, Service, the config Secret (kept as the operator wrote it: the chart looks it up)
    if _get(v, "promxy.enabled", True):
        pfull = _get(v, "promxy.fullnameOverride") or fullname(release, _get(v, "promxy.nameOverride") or
                                                               "kof-mothership")
        secret_name = _get(v, "promxy.secret") or f"{pfull}-promxy-config"
        cur = lookup("v1", "Secret", ns, secret_name) if lookup else None
        config = base64.b64decode((cur.get("data") or {}).get("config.yaml", "")).decode() if cur else ""
        objs.append(_secret(secret_name, ns, {"config.yaml": config}))
        objs.append(deployment(f"{pfull}-promxy", ns, {"app.kubernetes.io/name": "promxy",
                                                      "app.kubernetes.io/instance": release},
                               replicas=int(_get(v, "promxy.replicaCount", 1) or 1)))
        objs.append(service(f"{release}-promxy", ns, {"app.kubernetes.io/name": "promxy",
                                                      "app.kubernetes.io/instance": release},
                            [("promxy", 8082, 8082)]))
    if _get(v, "victoriametrics.enabled", True):
        if _get(v, "victoriametrics.vmcluster.enabled", True):
            spec = dict(_get(v, "victoriametrics.vmcluster.spec", {}) or {})
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMCluster",
                         "metadata": {"name": "cluster", "namespace": ns}, "spec": spec})
        if _get(v, "victoriametrics.vmalert.enabled", True):
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMAlertmanager",
                         "metadata": {"name": "cluster", "namespace": ns}, "spec": {}})
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMAlert",
                         "metadata": {"name": f"{release}-record-vmrules-executor", "namespace": ns},
                         "spec": {"datasource": {"url": "http://vmselect-cluster:8481/select/0/prometheus"}}})
    return ["kof"], objs


PROPAGATION_VALUES = (
    "propagation:\n  enabled: true\n  data: |\n"
    "    {{ $s := getResource \"secret\" }}{{ $s = chainRemoveField $s \"metadata.ownerReferences\" }}"
    "{{ $s = chainSetField $s \"metadata.namespace\" \"kof\" }}{{ toYaml $s | nindent 14 }}\n")


def _copy_secret_values(name, ns) -> str:
    return ("propagation:\n  enabled: true\n  data: |\n"
            '    {{ setField "secret-%s" "metadata.namespace" "%s" | nindent 14 }}\n' % (name, ns))


# ------------------------------------------------------------------ kof-regional / kof-child (MCS)
def _from_helm(var, obj) -> str:
    """`{{ $var := `<yaml>` | fromYaml }}`: values the chart embeds in the service's template (its helm values)."""
    text = yaml_dump(obj if obj is not None else {}, sort_keys=True).rstrip("\n")
    return "{{ $%s := `\n%s\n` | fromYaml }}" % (var, text)


def _annotation(var, key) -> str:
    return ('{{ $%s := .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/%s" "{}" | fromYaml }}'
            % (var, key))


def _merge_line(*names) -> str:
    return "{{ mergeOverwrite (dict) %s | toYaml | nindent 4 }}" % " ".join(f"${n}" for n in names)


def _values(*lines) -> str:
    return "\n".join(lines) + "\n"


def _global(v):
    return {"global": dict(v.get("global") or {})}


def _istio(v, lookup) -> bool:
    """istio.enabled counts only when the KOF namespace is labelled istio-injection=enabled (the real lookup)."""
    if not _get(v, "istio.enabled", False):
        return False
    ns = lookup("v1", "Namespace", "", (v.get("global") or {}).get("namespace") or "kof") if lookup else None
    return ((ns or {}).get("metadata", {}).get("labels") or {}).get("istio-injection") == "enabled"


def _selector(role, istio, mgmt=False):
    if mgmt:
        return {"matchLabels": {"k0rdent.mirantis.com/management-cluster": "true"}}
    if istio:
        return {"matchLabels": {"k0rdent.mirantis.com/kof-cluster-role": role,
                                "k0rdent.mirantis.com/istio-role": "member"}}
    return {"matchLabels": {"k0rdent.mirantis.com/kof-cluster-role": role},
            "matchExpressions": [{"key": "k0rdent.mirantis.com/istio-role", "operator": "DoesNotExist"}]}


def _cluster_refs(prefix, name='{{ .Cluster.metadata.name }}', namespace='{{ .Cluster.metadata.namespace }}'):
    return [{"identifier": f"{prefix}KCMCluster", "optional": True,
             "resource": {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "name": name,
                          "namespace": namespace}},
            {"identifier": f"{prefix}SveltosCluster", "optional": True,
             "resource": {"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "SveltosCluster", "name": name,
                          "namespace": namespace}}]


def _dep(name, ns):
    return {"name": name, "namespace": ns}


def _cert_manager_values(extra=None) -> str:
    out = {"crds": {"enabled": True}}
    out.update(extra or {})
    return yaml_dump(out, sort_keys=False)


def kof_regional(release, ns, v, lookup, version=KOF_VERSION):
    version = dashed(version)
    regionless = bool(_get(v, "regionless.enabled", False))
    istio = _istio(v, lookup)
    ingress = not istio and bool(_get(v, "ingress-nginx.enabled", False))
    envoy = not istio and bool(_get(v, "envoy-gateway.enabled", True))
    gateway = not istio and bool(_get(v, "gateway.enabled", True))
    cert = not istio and bool(_get(v, "cert-manager.enabled", True))
    g = _global(v)
    services = []
    if cert:
        svc = {"name": "cert-manager", "namespace": ns, "template": _get(v, "cert-manager.template"),
               "helmOptions": {"wait": True}}
        if envoy:
            svc["dependsOn"] = [_dep("envoy-gateway", ns)]
        svc["values"] = _cert_manager_values({"config": {"enableGatewayAPI": gateway}})
        services.append(svc)
    if ingress:
        services.append({"name": "ingress-nginx", "namespace": ns, "template": _get(v, "ingress-nginx.template"),
                         "helmOptions": {"wait": True}, "values": _values(
                             _annotation("ingressNginxValuesFromAnnotation", "kof-ingress-nginx-values"),
                             _from_helm("ingressNginxValuesFromHelm", _get(v, "ingress-nginx.values", {})),
                             _from_helm("globalValuesFromHelm", g),
                             _merge_line("globalValuesFromHelm", "ingressNginxValuesFromHelm",
                                         "ingressNginxValuesFromAnnotation"))})
    if envoy:
        services.append({"name": "envoy-gateway", "namespace": ns, "template": _get(v, "envoy-gateway.template"),
                         "helmOptions": {"wait": True}, "values": _values(
                             _annotation("envoyGatewayValuesFromAnnotation", "kof-envoy-gateway-values"),
                             "{{ $envoyGatewayValuesHere := `\nconfig:\n  envoyGateway:\n    envoyProxy:\n"
                             "      provider:\n        type: Kubernetes\n        kubernetes:\n"
                             "          envoyService:\n            name: gateway-{clusterName}\n"
                             "` | replace \"{clusterName}\" .Cluster.metadata.name | fromYaml }}",
                             _from_helm("envoyGatewayValuesFromHelm", _get(v, "envoy-gateway.values", {})),
                             _from_helm("globalValuesFromHelm", g),
                             _merge_line("globalValuesFromHelm", "envoyGatewayValuesFromHelm",
                                         "envoyGatewayValuesHere", "envoyGatewayValuesFromAnnotation"))})
    deps = ([_dep("cert-manager", ns)] if cert else []) + ([_dep("ingress-nginx", ns)] if ingress else [])
    if _get(v, "kof-operators.enabled", True):
        svc = {"name": "kof-operators", "namespace": ns, "template": f"kof-operators-{version}",
               "templateChain": f"kof-operators-{version}", "helmOptions": {"wait": True}}
        if deps:
            svc["dependsOn"] = deps
        svc["values"] = _values(_annotation("operatorsValuesFromAnnotation", "kof-operators-values"),
                                _from_helm("operatorsValuesFromHelm", _get(v, "kof-operators.values", {})),
                                _from_helm("globalValuesFromHelm", g),
                                _merge_line("globalValuesFromHelm", "operatorsValuesFromHelm",
                                            "operatorsValuesFromAnnotation"))
        services.append(svc)
    if _get(v, "victoria-metrics-operator.enabled", True):
        svc = {"name": "victoria-metrics-operator", "namespace": ns,
               "template": _get(v, "victoria-metrics-operator.template"), "helmOptions": {"wait": True}}
        if _get(v, "kof-operators.enabled", True):
            svc["dependsOn"] = [_dep("kof-operators", ns)]
        svc["values"] = _values(
            _annotation("vmoValuesFromAnnotation", "kof-victoria-metrics-operator-values"),
            _from_helm("vmoValuesFromHelm", _get(v, "victoria-metrics-operator.values", {})),
            "{{ $vmoValuesHere := `\nenv:\n  - name: VM_GATEWAY_API_ENABLED\n    value: \"%s\"\n` | fromYaml }}"
            % str(gateway).lower(),
            _from_helm("globalValuesFromHelm", g),
            _merge_line("globalValuesFromHelm", "vmoValuesHere", "vmoValuesFromHelm", "vmoValuesFromAnnotation"))
        services.append(svc)
    storage = {"name": "kof-storage", "namespace": ns, "template": f"kof-storage-{version}",
               "templateChain": f"kof-storage-{version}", "helmOptions": {"wait": True}}
    if _get(v, "victoria-metrics-operator.enabled", True):
        storage["dependsOn"] = [_dep("victoria-metrics-operator", ns)]
    elif _get(v, "kof-operators.enabled", True):
        storage["dependsOn"] = [_dep("kof-operators", ns)]
    cluster_name = f'"{_get(v, "regionless.clusterName")}"' if regionless else ".Cluster.metadata.name"
    domain = (f'"{_get(v, "regionless.domain")}"' if regionless else
              '.Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-regional-domain" ""')
    email = (f'"{_get(v, "regionless.certEmail")}"' if regionless else
             '.Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-cert-email" ""')
    storage_class = _get(v, "storage.global.storageClass", "") or ""
    # v1.10.0 (not with Istio): external-dns is on when a Secret whose name starts with "external-dns" exists in any
    # namespace of the management cluster, looked up when kof-regional renders (Flux's upgrade), not per cluster
    external_dns = "" if istio else (
        "external-dns:\n  enabled: %s\n  extraArgs:\n    source: gateway-httproute\n"
        "  sources:\n    - service\n    - ingress\n    - gateway-httproute\n"
        % str(any(name.startswith("external-dns")
                  for name in (lookup("__list__", "Secret", "", "") if lookup else None) or [])).lower())
    storage["values"] = _values(
        '{{ $gatewayName := .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-gateway-name" "%s" }}'
        % _get(v, "gateway.name", "gateway"),
        '{{ $gatewayNamespace := .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-gateway-namespace" '
        '"%s" }}' % _get(v, "gateway.namespace", "kof"),
        "{{ $regionalDomain := %s }}" % domain,
        "{{ $certEmail := %s }}" % email,
        '{{ $metricsEnabled := not (.Cluster.metadata | dig "annotations" '
        '"k0rdent.mirantis.com/kof-write-metrics-endpoint" "") }}',
        '{{ $metricsHost := $metricsEnabled | ternary (printf "vmauth.%s" $regionalDomain) "" }}',
        '{{ $vmuserSecretVersion := getField "StorageVMUserCredentials" "metadata.resourceVersion" }}',
        "{{ $clusterName := %s }}" % cluster_name,
        '{{ $storageClass := .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-storage-class" "%s" }}'
        % storage_class,
        _annotation("storageValuesFromAnnotation", "kof-storage-values"),
        _from_helm("storageValuesFromHelm", v.get("storage") or {}),
        # v1.10.0: the managed Gateway (class `eg`, envoy-gateway's) listens for vmauth.<regional domain>
        "{{ $storageValuesHere := `\nglobal:\n  clusterName: {clusterName}\n  storageClass: {storageClass}\n"
        # the log and trace storage claim templates take the cluster's storage class too (helm-managed
        # StatefulSets: changing it later is an update Kubernetes forbids)
        "victoria-logs-cluster:\n  vlstorage:\n    persistentVolume:\n      storageClassName: {storageClass}\n"
        "victoria-traces-cluster:\n  vtstorage:\n    persistentVolume:\n      storageClassName: {storageClass}\n"
        "gatewayClass:\n  enabled: %s\ngateway:\n  enabled: %s\n  spec:\n    listeners:\n"
        "      - name: http\n        protocol: HTTP\n        port: 80\n"
        "      - name: https\n        protocol: HTTPS\n        port: 443\n        hostname: vmauth.{regionalDomain}\n"
        "        tls:\n          mode: Terminate\n          certificateRefs:\n          - kind: Secret\n"
        "            name: eg-https\n%s"
        "victoriametrics:\n  vmauth:\n    spec:\n      ingress:\n        enabled: %s\n"
        "        tlsHosts:\n          - {metricsHost}\n      httpRoute:\n        enabled: %s\n"
        "        hostnames:\n          - {metricsHost}\ncert-manager:\n  email: {certEmail}\n"
        "` | replace \"{clusterName}\" $clusterName | replace \"{storageClass}\" $storageClass"
        " | replace \"{metricsHost}\" $metricsHost | replace \"{certEmail}\" $certEmail"
        " | replace \"{regionalDomain}\" $regionalDomain | fromYaml }}"
        % ((str(gateway and bool(_get(v, "gateway.managed", True))).lower(),) * 2
           + (external_dns, str(ingress).lower(), str(gateway).lower())),
        _from_helm("globalValuesFromHelm", g),
        _merge_line("globalValuesFromHelm", "storageValuesHere", "storageValuesFromHelm",
                    "storageValuesFromAnnotation"))
    storage["valuesFrom"] = [{"kind": "ConfigMap", "name": (
        f"kof-record-vmrules-{_get(v, 'regionless.clusterName')}" if regionless
        else "kof-record-vmrules-{{ .Cluster.metadata.name }}")}]
    services.append(storage)
    services.append({"name": "kof-collectors", "namespace": ns, "template": f"kof-collectors-{version}",
                     "templateChain": f"kof-collectors-{version}", "helmOptions": {"wait": True},
                     "dependsOn": [_dep("kof-storage", ns)], "values": _collectors_values(v, cluster_name)})
    spec = {"clusterSelector": _selector("regional", istio, mgmt=regionless)}
    if istio and _get(v, "istio.dependsOn"):
        spec["dependsOn"] = list(_get(v, "istio.dependsOn"))
    service_spec = {}
    if regionless:
        service_spec["provider"] = {"selfManagement": True}
    service_spec["services"] = services
    service_spec["templateResourceRefs"] = _cluster_refs("Regional") + [{
        "identifier": "StorageVMUserCredentials", "optional": True,
        "resource": {"apiVersion": "v1", "kind": "Secret",
                     "name": 'kof-vmuser-creds-admin-{{ (printf "kof-%s/%s" .Cluster.metadata.name '
                             '.Cluster.metadata.namespace) | adler32sum }}', "namespace": ns}}]
    spec["serviceSpec"] = service_spec
    name = "kof-istio-regional-cluster" if istio else "kof-regional-cluster"
    return [], [{"apiVersion": KCM_API, "kind": "MultiClusterService", "metadata": {"name": name}, "spec": spec}]


def _collectors_values(v, cluster_name, helm_values=None) -> str:
    return _values(
        "{{ $clusterName := %s }}" % cluster_name,
        '{{ $vmuserSecretVersion := getField "StorageVMUserCredentials" "metadata.resourceVersion" }}',
        _annotation("collectorsValuesFromAnnotation", "kof-collectors-values"),
        _from_helm("collectorsValuesFromHelm", v.get("collectors") if helm_values is None else helm_values),
        "{{ $collectorsValuesHere := `\nglobal:\n  clusterName: {clusterName}\n  clusterNamespace: {clusterNamespace}\n"
        "opencost:\n  opencost:\n    exporter:\n      defaultClusterId: {clusterName}\n"
        "` | replace \"{clusterName}\" $clusterName | replace \"{clusterNamespace}\" .Cluster.metadata.namespace"
        " | fromYaml }}",
        _from_helm("globalValuesFromHelm", _global(v)),
        _merge_line("globalValuesFromHelm", "collectorsValuesHere", "collectorsValuesFromHelm",
                    "collectorsValuesFromAnnotation"))


def kof_child(release, ns, v, lookup, version=KOF_VERSION):
    version = dashed(version)
    istio = _istio(v, lookup)
    m2m = bool(_get(v, "fromManagement.toManagementCluster.enabled", False))
    m2r = bool(_get(v, "fromManagement.toRegionalCluster.name", ""))
    if m2m and m2r:
        raise RenderError("execution error at (kof-child/templates/child-multi-cluster-service.yaml): "
                          "`fromManagement.toManagementCluster` and `fromManagement.toRegionalCluster` cannot be "
                          "enabled at the same time")
    out = []
    for mgmt in ((True, False) if (m2m or m2r) else (False,)):
        mm, mr = (m2m, m2r) if mgmt else (False, False)
        services = []
        cert = bool(_get(v, "cert-manager.enabled", True)) and not istio and not mgmt
        if cert:
            services.append({"name": "cert-manager", "namespace": ns, "template": _get(v, "cert-manager.template"),
                             "helmOptions": {"wait": True}, "values": _cert_manager_values()})
        if not mgmt:
            svc = {"name": "kof-operators", "namespace": ns, "template": f"kof-operators-{version}",
                   "templateChain": f"kof-operators-{version}", "helmOptions": {"wait": True}}
            if cert:
                svc["dependsOn"] = [_dep("cert-manager", ns)]
            svc["values"] = _values(_annotation("operatorsValuesFromAnnotation", "kof-operators-values"),
                                    _from_helm("operatorsValuesFromHelm", v.get("operators") or {}),
                                    _from_helm("globalValuesFromHelm", _global(v)),
                                    _merge_line("globalValuesFromHelm", "operatorsValuesFromHelm",
                                                "operatorsValuesFromAnnotation"))
            services.append(svc)
        if mm:
            services.append({"name": "kof-storage", "namespace": ns, "template": f"kof-storage-{version}",
                             "templateChain": f"kof-storage-{version}", "helmOptions": {"wait": True},
                             "values": _values(
                                 _from_helm("mgmtStorageValuesFromHelm", _get(v, "fromManagement.storage", {})),
                                 "{{ $storageValuesHere := `\npromxy:\n  enabled: true\n"
                                 "victoria-traces-multilevel-select:\n  enabled: true\n"
                                 "victoria-logs-multilevel-select:\n  enabled: true\nvictoriametrics:\n"
                                 "  enabled: false\n` | fromYaml }}",
                                 _from_helm("globalValuesFromHelm", _global(v)),
                                 _merge_line("globalValuesFromHelm", "storageValuesHere",
                                             "mgmtStorageValuesFromHelm"))})
        coll = {"name": "kof-collectors", "namespace": ns, "template": f"kof-collectors-{version}",
                "templateChain": f"kof-collectors-{version}", "helmOptions": {"wait": True}}
        if mm:
            coll["dependsOn"] = [_dep("kof-storage", ns)]
        elif not mgmt:
            coll["dependsOn"] = [_dep("kof-operators", ns)]
        coll["values"] = _collectors_values(
            v, ('"%s"' % _get(v, "fromManagement.cluster.name", "mothership")) if mgmt else ".Cluster.metadata.name",
            helm_values=_get(v, "fromManagement.collectors", {}) if mgmt else v.get("collectors"))
        services.append(coll)
        if mr:
            refs = _cluster_refs("Regional", _get(v, "fromManagement.toRegionalCluster.name"),
                                 _get(v, "fromManagement.toRegionalCluster.namespace", "kcm-system"))
        elif not mgmt:
            refs = [{"identifier": "ChildConfig",
                     "resource": {"apiVersion": "v1", "kind": "ConfigMap",
                                  "name": "kof-cluster-config-{{ .Cluster.metadata.name }}",
                                  "namespace": "{{ .Cluster.metadata.namespace }}"}}] + _cluster_refs("Child")
        else:
            refs = []
        service_spec = {}
        if mgmt:
            service_spec["provider"] = {"selfManagement": True}
        service_spec["services"] = services
        if refs:
            service_spec["templateResourceRefs"] = refs
        spec = {"clusterSelector": _selector("child", istio, mgmt=mgmt)}
        if istio and _get(v, "istio.dependsOn"):
            spec["dependsOn"] = list(_get(v, "istio.dependsOn"))
        spec["serviceSpec"] = service_spec
        name = f"kof-{'istio-' if istio else ''}{'mgmt' if mgmt else 'child'}-cluster"
        out.append({"apiVersion": KCM_API, "kind": "MultiClusterService", "metadata": {"name": name}, "spec": spec})
    return [], out


BUILDERS = {"kof-operators": kof_operators, "victoria-metrics-operator": victoria_metrics_operator,
            "kof-mothership": kof_mothership, "kof-regional": kof_regional, "kof-child": kof_child}
# charts that are not kofsim stand-in directories -> the one version kofsim serves (HelmChart spec.version must match
# it, or be empty / "*"); the kof-* charts are served at every version find_chart() finds
CHART_VERSIONS = {"victoria-metrics-operator": VMO_VERSION}
APP_VERSIONS = {"victoria-metrics-operator": "v0.66.1"}


def app_version(chart: str, version: str, chart_dir=None) -> str:
    if chart in APP_VERSIONS:
        return APP_VERSIONS[chart]
    meta = chart_meta(chart_dir) if chart_dir else {}
    return str(meta.get("appVersion") or version or KOF_VERSION)


def objects_for(chart: str, release: str, ns: str, user_values: dict, lookup=None, version: str = "",
                chart_dir=None):
    """(crd dirs, objects) of chart at `version` (default: charts-1.10's) for the release's values (merged with
    the stand-in's values.yaml and checked against its values.schema.json first, as helm does; `chart_dir`, the
    stand-in directory of that version, default charts-1.10/<chart>); RenderError with helm's message."""
    build = BUILDERS.get(chart)
    if build is None:
        raise RenderError(f"chart {chart} is not one kofsim can install on the management cluster "
                          f"({', '.join(sorted(BUILDERS))})")
    root = Path(chart_dir).parent if chart_dir else CHARTS_1X
    if not (root / chart / "values.yaml").exists():
        root = CHARTS_1X
    merged = catalog.merge(catalog.chart_defaults(chart, root), user_values or {})
    catalog.validate_values(chart, merged, root)
    if not version:
        version = VMO_VERSION if chart == "victoria-metrics-operator" else KOF_VERSION
    crds, objs = build(release, ns, merged, lookup, version)
    return crds, objs


RELABELLED = ("kof", "kof-operators", "kof-mothership", "kof-regional", "kof-child", "kof-storage", "kof-collectors",
              "kof-dashboards")


def relabel(dest, version: str, src=CHARTS_1X) -> Path:
    """A copy of the stand-in charts (charts-1.10) as another KOF version, for upgrade tests: `dest` gets every
    chart directory, each Chart.yaml's version and appVersion set to `version`, and kof/Chart.yaml's annotation
    kofsim/charts-dir set to dest's absolute path (the umbrella puts it on its HelmCharts, where kofsim's Flux looks
    up the component charts). Values and schemas are charts-1.10's: the differences between KOF versions are not
    modelled. `python -m kofsim.k0rdent.catalog_1x DEST VERSION` does the same."""
    import shutil
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    for chart in sorted(p.name for p in Path(src).iterdir() if (p / "Chart.yaml").exists()):
        shutil.copytree(Path(src) / chart, dest / chart, dirs_exist_ok=True)
        f = dest / chart / "Chart.yaml"
        meta = yaml.safe_load(f.read_text()) or {}
        if chart in RELABELLED:
            meta["version"] = meta["appVersion"] = version
        if chart == "kof":
            meta.setdefault("annotations", {})[CHARTS_DIR_ANNOTATION] = str(dest)
        f.write_text(yaml.safe_dump(meta, sort_keys=False))
    return dest


if __name__ == "__main__":  # pragma: no cover
    import sys
    print(relabel(sys.argv[1], sys.argv[2]))
