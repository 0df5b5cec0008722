"""What each service a ClusterDeployment lists creates on its cluster when Sveltos `helm install`s it.

kofsim does not run helm for the virtual clusters (a fleet of hundreds would be too slow). For the KOF charts
(kof-operators, kof-storage, kof-collectors) the objects built here are exactly those the stand-in charts in
../charts render with the same values: same kinds, names and namespaces, the chart's values.yaml as defaults,
and the same render-time dependencies (the credentials `lookup`, the CRDs the objects need). The test suite
compares both. Workloads that the real operators create from custom resources (vmselect-cluster,
grafana-vm-deployment, the OpenTelemetry collectors' pods) come from kofsim's simulated operators
(operators.py), on the virtual clusters as on the management cluster. cert-manager and ingress-nginx (kcm's
catalog charts) have no stand-in chart: their objects are the ones the guide's verification looks at.
Before anything is built, the merged values are checked against the chart's values.schema.json as helm does,
with helm 3's message (kofsim/CHARTS.md): a key the real KOF 0.1.1 chart lacks fails the install.
"""
from __future__ import annotations

import base64
import json
import random
import re
import string
from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft7Validator

from ..fastcopy import clone, yaml_load

CHARTS = Path(__file__).resolve().parent.parent / "charts"
PAUSE = "registry.k8s.io/pause:3.10"

# chart name (ServiceTemplate spec.helm.chartSpec.chart) -> kofsim can install it
KNOWN_CHARTS = {"ingress-nginx", "cert-manager", "kof-operators", "kof-storage", "kof-collectors",
                "victoria-metrics-operator", "gateway-helm"}  # gateway-helm: envoy-gateway (KOF 1.10, catalog_1x_workload)


class RenderError(Exception):
    """helm would fail to render the chart (the message is helm's)."""


# ------------------------------------------------------------------------------------- values
@lru_cache(maxsize=None)
def _chart_defaults(chart: str, charts: Path = CHARTS) -> dict:
    f = charts / chart / "values.yaml"
    return (yaml.safe_load(f.read_text()) or {}) if f.exists() else {}


def chart_defaults(chart: str, charts: Path = CHARTS) -> dict:
    """The chart's values.yaml; `charts` selects the stand-in generation (charts/, or charts-1.10/ for KOF 1.10)."""
    return clone(_chart_defaults(chart, charts))


def merge(base: dict, over: dict) -> dict:
    """helm's values coalescing: maps merge, anything else replaces, null deletes the key."""
    out = clone(base)
    for k, v in (over or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = clone(v)
    return out


@lru_cache(maxsize=4096)
def _parse(text: str):
    loaded = yaml_load(text)
    if loaded is not None and not isinstance(loaded, dict):
        raise ValueError("values must be a YAML mapping")
    return loaded or {}


def parse_values(text) -> dict:
    """A service's `values` string (a fleet repeats the same few: parsed once)."""
    if not text:
        return {}
    if isinstance(text, dict):
        return text
    return clone(_parse(text))


def _get(values, path, default=None):
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


# ------------------------------------------------------------------------- values.schema.json
SCHEMA_ERROR = "values don't meet the specifications of the schema(s) in the following chart(s):\n"


@lru_cache(maxsize=None)
def _validator(chart: str, charts: Path = CHARTS):
    f = charts / chart / "values.schema.json"
    return Draft7Validator(json.loads(f.read_text())) if f.exists() else None


def _json_type(v) -> str:
    """The type gojsonschema reports as "given"."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int) or isinstance(v, float) and v.is_integer():
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def _go_errors(err) -> list[tuple[tuple, str]]:
    """One jsonschema error as helm 3's lines (helm 3.17 validates with xeipuuv/gojsonschema): (path, text)."""
    path = tuple(str(p) for p in err.absolute_path)
    field = ".".join(path) if path else "(root)"
    kind = err.validator
    if kind == "additionalProperties" and err.validator_value is False:
        props = err.schema.get("properties") or {}
        patterns = list((err.schema.get("patternProperties") or {}))
        extra = [k for k in err.instance if k not in props and not any(re.search(p, k) for p in patterns)]
        # gojsonschema reports one line per property, in Go map order (random): sorted here
        return [(path, f"Additional property {k} is not allowed") for k in sorted(extra)]
    if kind == "type":
        want = err.validator_value
        want = want if isinstance(want, str) else "[" + ",".join(want) + "]"
        return [(path, f"Invalid type. Expected: {want}, given: {_json_type(err.instance)}")]
    if kind == "enum":
        return [(path, f"{field} must be one of the following: "
                       + ", ".join(json.dumps(v) for v in err.validator_value))]
    if kind == "oneOf":
        out = [(path, "Must validate one and only one schema (oneOf)")]
        if err.context:  # none matched: gojsonschema adds the errors of the closest subschema
            by_schema: dict = {}
            for sub in err.context:
                by_schema.setdefault(sub.relative_schema_path[0], []).append(sub)
            best = min(by_schema.items(), key=lambda kv: (len(kv[1]), kv[0]))[1]
            for sub in best:
                out += _go_errors(sub)
        return out
    return [(path, err.message)]


def schema_errors(chart: str, values: dict, charts: Path = CHARTS) -> list[str]:
    """What helm 3 lists when values (the chart's defaults merged with the release's) do not meet the chart's
    values.schema.json: `<field>: <description>` lines, a node's own errors before its children's."""
    validator = _validator(chart, charts)
    if validator is None:
        return []
    return list(_schema_errors(chart, json.dumps(values, sort_keys=True, default=str), charts))


@lru_cache(maxsize=4096)
def _schema_errors(chart: str, values_json: str, charts: Path = CHARTS) -> tuple[str, ...]:
    lines = []
    for n, err in enumerate(_validator(chart, charts).iter_errors(json.loads(values_json))):
        for m, (path, text) in enumerate(_go_errors(err)):
            lines.append(((path, n, m), f"{'.'.join(path) if path else '(root)'}: {text}"))
    return tuple(text for _, text in sorted(lines))


def validate_values(chart: str, values: dict, charts: Path = CHARTS) -> None:
    """helm's check of the merged values against values.schema.json, before anything is rendered."""
    errors = schema_errors(chart, values, charts)
    if errors:
        raise RenderError(SCHEMA_ERROR + f"{chart}:\n" + "".join(f"- {e}\n" for e in errors))


# ---------------------------------------------------------------------------------- builders
def _chart_labels(release, chart):
    return {"app.kubernetes.io/instance": release, "app.kubernetes.io/managed-by": "Helm",
            "helm.sh/chart": f"{chart}-0.1.1"}


def external_dns_provider(ed: dict):
    """The external-dns chart's provider name: `provider` is a string or {name: ...} (charts 1.15.1 and 1.20.0)."""
    provider = ed.get("provider")
    return provider.get("name") if isinstance(provider, dict) else provider


def workload(kind, name, ns, app, release, chart, *, image=PAUSE, container="main", env=None, mounts=None,
             volumes=None, claim=None, replicas=1, args=None):
    sel = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release}
    ctr = {"name": container, "image": image}
    if args:
        ctr["args"] = list(args)
    if env:
        ctr["env"] = clone(env)
    if mounts:
        ctr["volumeMounts"] = clone(mounts)
    pod = {"containers": [ctr]}
    if volumes:
        pod["volumes"] = clone(volumes)
    spec = {"selector": {"matchLabels": dict(sel)}, "template": {"metadata": {"labels": dict(sel)}, "spec": pod}}
    if kind != "DaemonSet":
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    if claim:
        cspec = {"resources": {"requests": {"storage": claim["size"]}}}
        if claim.get("accessModes"):
            cspec = dict({"accessModes": clone(claim["accessModes"])}, **cspec)
        if claim.get("storageClass"):
            cspec["storageClassName"] = claim["storageClass"]
        spec["volumeClaimTemplates"] = [{"metadata": {"name": claim["name"]}, "spec": cspec}]
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns, "labels": dict(_chart_labels(release, chart),
                                                                        **{"app.kubernetes.io/name": app})},
            "spec": spec}


def service(name, ns, selector, ports, labels=None, type_="ClusterIP"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns,
                                                               "labels": dict(labels or {})},
            "spec": {"type": type_, "selector": dict(selector),
                     "ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in ports]}}


def deployment(name, ns, labels=None, replicas=1, image=PAUSE):
    """A plain Deployment (kcm's own and the non-KOF catalog charts)."""
    labels = dict(labels or {"app.kubernetes.io/name": name})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns,
                                                                         "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def daemonset(name, ns, labels=None, image=PAUSE):
    labels = dict(labels or {"app.kubernetes.io/name": name})
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": ns,
                                                                        "labels": labels},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def _rand(n, alphabet):
    return "".join(random.choice(alphabet) for _ in range(int(n)))


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _index_of_untyped_nil(chart, template, what):
    return RenderError(f"template: {chart}/templates/{template}: executing \"{chart}/templates/{template}\" at "
                       f"<index $secret.data {what}>: error calling index: index of untyped nil")


# ----------------------------------------------------------------------------- the KOF charts
def kof_operators(release, ns, v, lookup):
    chart = "kof-operators"
    labels = _chart_labels(release, chart)
    objs, otel = [], v.get("opentelemetry-operator") or {}
    if not otel.get("enabled"):
        return objs
    name = f"{release}-opentelemetry-operator"
    wh = otel.get("admissionWebhooks") or {}
    sel = {"app.kubernetes.io/name": "opentelemetry-operator", "app.kubernetes.io/instance": release}
    objs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": name, "namespace": ns, "labels": dict(labels)}})
    ctr = {"name": "manager", "image": "ghcr.io/open-telemetry/opentelemetry-operator/opentelemetry-operator:0.116.0",
           "args": [f"--collector-image={_get(otel, 'manager.collectorImage.repository', '')}"]}
    pod = {"serviceAccountName": name, "containers": [ctr]}
    if wh.get("create"):
        ctr["volumeMounts"] = [{"name": "cert", "mountPath": "/tmp/k8s-webhook-server/serving-certs",
                                "readOnly": True}]
        pod["volumes"] = [{"name": "cert", "secret": {"secretName": f"{name}-controller-manager-service-cert",
                                                     "defaultMode": 420}}]
    objs.append({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": name, "namespace": ns,
                              "labels": dict(labels, **{"app.kubernetes.io/name": "opentelemetry-operator"})},
                 "spec": {"replicas": 1, "selector": {"matchLabels": dict(sel)},
                          "template": {"metadata": {"labels": dict(sel)}, "spec": pod}}})
    if wh.get("create"):
        objs.append(service(f"{name}-webhook", ns, sel, [("https", 443, 9443)], labels))
        if _get(wh, "certManager.enabled") and not _get(wh, "autoGenerateCert.enabled"):
            objs.append({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                         "metadata": {"name": f"{name}-selfsigned-issuer", "namespace": ns, "labels": dict(labels)},
                         "spec": {"selfSigned": {}}})
            objs.append({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                         "metadata": {"name": f"{name}-serving-cert", "namespace": ns, "labels": dict(labels)},
                         "spec": {"dnsNames": [f"{name}-webhook.{ns}.svc", f"{name}-webhook.{ns}.svc.cluster.local"],
                                  "issuerRef": {"kind": "Issuer", "name": f"{name}-selfsigned-issuer"},
                                  "secretName": f"{name}-controller-manager-service-cert",
                                  "subject": {"organizationalUnits": ["opentelemetry-operator"]}}})
        else:
            pem = _b64(f"kofsim generated certificate for {name}-webhook.{ns}.svc\n")
            objs.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                         "metadata": {"name": f"{name}-controller-manager-service-cert", "namespace": ns,
                                      "labels": dict(labels)},
                         "data": {"tls.crt": pem, "tls.key": pem, "ca.crt": pem}})
    return objs


def kof_storage(release, ns, v, lookup):
    chart = "kof-storage"
    labels = _chart_labels(release, chart)
    g = v.get("global") or {}
    sc = g.get("storageClass")
    objs = []
    cm = v.get("cert-manager") or {}
    if cm.get("enabled"):
        objs.append({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                     "metadata": {"name": "letsencrypt-prod", "labels": dict(labels)},
                     # the 0.1.0/0.1.1 chart reads the key "email " (trailing space): the email renders empty
                     "spec": {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory",
                                       "email": str(cm.get("email ") or ""),
                                       "privateKeySecretRef": {"name": "letsencrypt-prod"},
                                       "solvers": [{"http01": {"ingress": {"class": "nginx"}}}]}}})
    gr = v.get("grafana") or {}
    if gr.get("enabled"):
        sec = gr.get("security") or {}
        if sec.get("create_secret"):
            old = lookup("v1", "Secret", ns, sec.get("credentials_secret_name"))
            data = (old or {}).get("data") or {}
            if not data:
                data = {"GF_SECURITY_ADMIN_USER": _b64(_rand(g.get("random_username_length", 8), string.ascii_letters)),
                        "GF_SECURITY_ADMIN_PASSWORD": _b64(_rand(g.get("random_password_length", 12),
                                                                 string.ascii_letters + string.digits))}
            objs.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                         "metadata": {"name": sec.get("credentials_secret_name"), "namespace": ns,
                                      "labels": dict(labels)},
                         "data": {k: data.get(k, "")
                                  for k in ("GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD")}})
        objs.append(workload("Deployment", f"{release}-grafana-operator", ns, "grafana-operator", release, chart,
                             image="ghcr.io/grafana/grafana-operator:v5.15.1", container="manager"))
        # version and PVC size are fixed in the real 0.1.1 template (grafana.version / storage.size are
        # kof-mothership's keys); the PVC's class is global.storageClass
        pvc = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "200Mi"}}}
        if sc:
            pvc["storageClassName"] = sc
        gspec = {"version": "10.4.7", "persistentVolumeClaim": {"spec": pvc},
                 "deployment": {"spec": {"template": {"spec": {"containers": [
                     {"name": "grafana", "envFrom": [{"secretRef": {"name": sec.get("credentials_secret_name")}}]}]}}}}}
        if _get(gr, "ingress.enabled"):
            host = _get(gr, "ingress.host")
            gspec["ingress"] = {
                "metadata": {"annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}},
                "spec": {"ingressClassName": "nginx", "tls": [{"hosts": [host], "secretName": "grafana-ingress-tls"}],
                         "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                             "service": {"name": "grafana-vm-service", "port": {"number": 3000}}}}]}}]}}
        objs.append({"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "Grafana",
                     "metadata": {"name": "grafana-vm", "namespace": ns, "labels": dict(labels, dashboards="grafana")},
                     "spec": gspec})
        for ds in gr.get("datasources") or []:
            dspec = {"instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                     "datasource": {"name": ds.get("name"), "type": ds.get("type"), "access": "proxy",
                                    "url": ds.get("url"), "isDefault": False},
                     "resyncPeriod": "5m"}
            auth = ds.get("auth")
            if auth:
                dspec["valuesFrom"] = [
                    {"targetPath": "basicAuthUser", "valueFrom": {"secretKeyRef": {
                        "name": auth.get("credentials_secret_name"), "key": auth.get("username_key")}}},
                    {"targetPath": "secureJsonData.basicAuthPassword", "valueFrom": {"secretKeyRef": {
                        "name": auth.get("credentials_secret_name"), "key": auth.get("password_key")}}}]
                dspec["datasource"].update({"basicAuth": True, "basicAuthUser": f"${{{auth.get('username')}}}",
                                            "secureJsonData": {"basicAuthPassword": f"${{{auth.get('password')}}}"}})
            objs.append({"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDatasource",
                         "metadata": {"name": ds.get("name"), "namespace": ns, "labels": dict(labels)},
                         "spec": dspec})
    if (v.get("victoria-metrics-operator") or {}).get("enabled"):  # the dependency's condition
        objs.append(workload("Deployment", f"{release}-victoria-metrics-operator", ns, "victoria-metrics-operator",
                             release, chart, image="victoriametrics/operator:v0.51.3", container="manager"))
    vm = v.get("victoriametrics") or {}
    if vm.get("enabled"):
        meta = {"namespace": ns, "labels": dict(labels)}
        vmc = vm.get("vmcluster") or {}
        if vmc.get("enabled"):
            def storage(size):
                spec = {"resources": {"requests": {"storage": size}}}
                if sc:
                    spec["storageClassName"] = sc
                return {"volumeClaimTemplate": {"spec": spec}}
            # the real template's defaults (`| default 2`, `| default 3`): values.yaml sets neither
            replicas = vmc.get("replicaCount") or 3
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMCluster",
                         "metadata": dict(meta, name="cluster"),
                         "spec": {"retentionPeriod": str(vmc.get("retentionPeriod")),
                                  "replicationFactor": vmc.get("replicationFactor") or 2,
                                  "vmselect": {"replicaCount": replicas,
                                               "storage": storage(_get(vmc, "vmselect.storage.size"))},
                                  "vminsert": {"replicaCount": replicas},
                                  "vmstorage": {"replicaCount": replicas,
                                                "storage": storage(_get(vmc, "vmstorage.storage.size"))}}})
        auth = vm.get("vmauth") or {}
        if auth.get("enabled"):
            cred = auth.get("credentials") or {}
            host = _get(auth, "ingress.host")
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMAuth",
                         "metadata": dict(meta, name="cluster"),
                         "spec": {"selectAllByDefault": True,
                                  "ingress": {"class_name": "nginx", "host": host, "tlsHosts": [host],
                                              "tlsSecretName": "vmauth-tls",
                                              "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}}}})
            user = {"passwordRef": {"name": cred.get("credentials_secret_name"), "key": cred.get("password_key")},
                    "targetRefs": [
                        {"paths": ["/vls/.*"], "drop_src_path_prefix_parts": 1,
                         "static": {"url": f"http://{release}-victoria-logs-single-server.{ns}.svc:9428"}},
                        {"paths": ["/vm/select/.*"], "drop_src_path_prefix_parts": 1,
                         "static": {"url": f"http://vmselect-cluster.{ns}.svc:8481"}},
                        {"paths": ["/vm/insert/.*"], "drop_src_path_prefix_parts": 1,
                         "static": {"url": f"http://vminsert-cluster.{ns}.svc:8480"}}]}
            if not g.get("lint"):
                secret = lookup("v1", "Secret", ns, cred.get("credentials_secret_name"))
                if not secret:
                    raise _index_of_untyped_nil(chart, "victoriametrics.yaml", "$cred.username_key")
                raw = (secret.get("data") or {}).get(cred.get("username_key"), "")
                user["username"] = base64.b64decode(raw).decode()
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMUser",
                         "metadata": dict(meta, name="vmuser-select"), "spec": user})
        if _get(vm, "vmalert.enabled"):
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMAlertmanager",
                         "metadata": dict(meta, name="cluster"), "spec": {"replicaCount": 1}})
            objs.append({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMAlert",
                         "metadata": dict(meta, name="cluster"),
                         "spec": {"datasource": {"url": "http://vmselect-cluster:8481/select/0/prometheus"},
                                  "notifier": {"url": "http://vmalertmanager-cluster:9093"},
                                  "remoteWrite": {"url": "http://vminsert-cluster:8480/insert/0/prometheus"}}})
    # victoria-logs-single 0.8.16: server.persistentVolume (default off) with its own storageClassName ("-":
    # none), never global.storageClass; a StatefulSet, or a Deployment with a PVC of its own
    vls = v.get("victoria-logs-single") or {}
    srv = vls.get("server") or {}
    if vls.get("enabled") and srv.get("enabled"):
        name = f"{release}-victoria-logs-single-server"
        pv = srv.get("persistentVolume") or {}
        want_pvc = bool(pv.get("enabled")) and not pv.get("existingClaim")
        image = "victoriametrics/victoria-logs:v1.8.0-victorialogs"
        if _get(srv, "statefulSet.enabled"):
            claim = None
            if want_pvc:
                sclass = pv.get("storageClassName")
                claim = {"name": "server-volume", "size": pv.get("size"), "accessModes": pv.get("accessModes"),
                         "storageClass": "" if sclass == "-" else sclass}
            objs.append(workload("StatefulSet", name, ns, "victoria-logs-single", release, chart, image=image,
                                 container="vlogs", claim=claim))
        else:
            objs.append(workload("Deployment", name, ns, "victoria-logs-single", release, chart, image=image,
                                 container="vlogs"))
            if want_pvc:
                pspec = {"resources": {"requests": {"storage": pv.get("size")}}}
                if pv.get("accessModes"):
                    pspec = dict({"accessModes": clone(pv["accessModes"])}, **pspec)
                if pv.get("storageClassName"):
                    pspec["storageClassName"] = pv["storageClassName"]
                objs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "metadata": {"name": pv.get("name") or name, "namespace": ns, "labels": dict(labels)},
                             "spec": pspec})
        objs.append(service(name, ns, {"app.kubernetes.io/name": "victoria-logs-single",
                                       "app.kubernetes.io/instance": release}, [("http", 9428, 9428)], labels))
    ed = v.get("external-dns") or {}
    if ed.get("enabled"):
        env = list(ed.get("env") or []) + [{"name": "EXTERNAL_DNS_PROVIDER", "value": external_dns_provider(ed)}]
        objs.append(workload("Deployment", f"{release}-external-dns", ns, "external-dns", release, chart,
                             image="registry.k8s.io/external-dns/external-dns:v0.15.0", container="external-dns",
                             env=env, mounts=ed.get("extraVolumeMounts"), volumes=ed.get("extraVolumes")))
    if _get(v, "promxy.enabled"):
        objs.append({"apiVersion": "kof.k0rdent.mirantis.com/v1alpha1", "kind": "PromxyServerGroup",
                     "metadata": {"name": "mothership", "namespace": ns,
                                  "labels": dict(labels, **{"k0rdent.mirantis.com/promxy-secret-name":
                                                            "kof-mothership-promxy-config"})},
                     "spec": {"cluster_name": g.get("clusterName"), "targets": [f"vmselect-cluster.{ns}:8481"],
                              "path_prefix": "/select/0/prometheus", "scheme": "http"}})
    return objs


def kof_collectors(release, ns, v, lookup):
    chart = "kof-collectors"
    labels = _chart_labels(release, chart)
    g, kof = v.get("global") or {}, v.get("kof") or {}
    objs = [{"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": f"{release}-k8s-cluster-collector", "namespace": ns, "labels": dict(labels)}}]
    extensions = {}
    if not g.get("lint"):  # the real chart always authenticates; global.lint skips the lookup
        for kind in ("metrics", "logs"):
            c = kof.get(kind) or {}
            secret = lookup("v1", "Secret", ns, c.get("credentials_secret_name"))
            if not secret:
                raise _index_of_untyped_nil(chart, "collectors.yaml", "$c.username_key")
            data = secret.get("data") or {}
            extensions[f"basicauth/{kind}"] = {"client_auth": {
                "username": base64.b64decode(data.get(c.get("username_key"), "")).decode(),
                "password": base64.b64decode(data.get(c.get("password_key"), "")).decode()}}
    receivers = {"deployment": {"k8s_cluster": {"auth_type": "serviceAccount", "collection_interval": "10s"},
                                "k8s_events": {"auth_type": "serviceAccount"}},
                 "daemonset": {"kubeletstats": {"auth_type": "serviceAccount",
                                                "endpoint": "https://${env:K8S_NODE_NAME}:10250",
                                                "insecure_skip_verify": True},
                               "filelog": {"include": ["/var/log/pods/*/*/*.log"]}}}
    for name, mode in (("k8s-cluster", "deployment"), ("node-exporter", "daemonset")):
        if not _get(v, "collectors.enabled"):
            break
        config = {"receivers": receivers[mode], "processors": {"batch": {}},
                  "exporters": {"prometheusremotewrite": {
                      "endpoint": _get(kof, "metrics.endpoint"),
                      "external_labels": {g.get("clusterLabel"): g.get("clusterName")}},
                                "otlphttp": {"logs_endpoint": _get(kof, "logs.endpoint")}},
                  "service": {"pipelines": {
                      "metrics": {"receivers": sorted(receivers[mode]), "processors": ["batch"],
                                  "exporters": ["prometheusremotewrite"]},
                      "logs": {"receivers": ["filelog" if mode == "daemonset" else "k8s_events"],
                               "processors": ["batch"], "exporters": ["otlphttp"]}}}}
        config["extensions"] = clone(extensions)
        config["exporters"]["prometheusremotewrite"]["auth"] = {"authenticator": "basicauth/metrics"}
        config["exporters"]["otlphttp"]["auth"] = {"authenticator": "basicauth/logs"}
        config["service"]["extensions"] = ["basicauth/metrics", "basicauth/logs"]
        objs.append({"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
                     "metadata": {"name": f"{release}-{name}", "namespace": ns, "labels": dict(labels)},
                     "spec": {"mode": mode, "serviceAccount": f"{release}-k8s-cluster-collector", "config": config}})
    if _get(kof, "instrumentation.enabled"):
        objs.append({"apiVersion": "opentelemetry.io/v1alpha1", "kind": "Instrumentation",
                     "metadata": {"name": f"{release}-instrumentation", "namespace": ns, "labels": dict(labels)},
                     "spec": {"exporter": {"endpoint": f"http://{release}-node-exporter-collector:4317"},
                              "propagators": ["tracecontext", "baggage"],
                              "resource": {"resourceAttributes": {g.get("clusterLabel"): g.get("clusterName")}}}})
    for key, kind, app, image, port, container, env in (
            ("kube-state-metrics", "Deployment", "kube-state-metrics",
             "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0", 8080, "main", None),
            ("prometheus-node-exporter", "DaemonSet", "prometheus-node-exporter",
             "quay.io/prometheus/node-exporter:v1.8.2", 9100, "main", None),
            ("opencost", "Deployment", "opencost", "ghcr.io/opencost/opencost:1.111.0", 9003, "opencost", "opencost")):
        if not (v.get(key) or {}).get("enabled"):
            continue
        if env:
            p = _get(v, "opencost.opencost.prometheus") or {}
            ext = p.get("external") or {}
            env = [{"name": "CLUSTER_ID", "value": _get(v, "opencost.opencost.exporter.defaultClusterId")},
                   {"name": "PROMETHEUS_SERVER_ENDPOINT",
                    "value": ext.get("url") if ext.get("enabled") else "http://prometheus-server"},
                   {"name": "DB_BASIC_AUTH_USERNAME", "valueFrom": {"secretKeyRef": {
                       "name": p.get("existingSecretName"), "key": p.get("username_key")}}},
                   {"name": "DB_BASIC_AUTH_PW", "valueFrom": {"secretKeyRef": {
                       "name": p.get("existingSecretName"), "key": p.get("password_key")}}}]
        name = f"{release}-{key}"
        objs.append(workload(kind, name, ns, app, release, chart, image=image, container=container, env=env))
        objs.append(service(name, ns, {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release},
                            [("http", port, port)], labels))
    return objs


KOF_CHARTS = {"kof-operators": (kof_operators, ["prometheus", "opentelemetry"]),
              "kof-storage": (kof_storage, ["grafana", "victoriametrics"]),
              "kof-collectors": (kof_collectors, [])}


# ------------------------------------------------------------------------------------- entry
def objects_for(chart: str, release: str, ns: str, values: dict, lookup=None) -> tuple[list[str], list[dict]]:
    """(CRD groups to install from data/crds/<dir>, objects). `lookup(apiVersion, kind, ns, name)` reads the
    target cluster, as helm's lookup; RenderError when helm would fail to render."""
    lookup = lookup or (lambda *a: None)
    if chart in KOF_CHARTS:
        build, crds = KOF_CHARTS[chart]
        merged = merge(_chart_defaults(chart), values)
        validate_values(chart, merged)
        return list(crds), build(release, ns, merged, lookup)
    objs: list[dict] = []
    crds: list[str] = []
    if chart == "ingress-nginx":
        sel = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": release,
               "app.kubernetes.io/component": "controller"}
        objs += [deployment("ingress-nginx-controller", ns, sel),
                 service("ingress-nginx-controller", ns, sel, [("http", 80, 80), ("https", 443, 443)], sel,
                         "LoadBalancer"),
                 service("ingress-nginx-controller-admission", ns, sel, [("https-webhook", 443, 8443)], sel),
                 {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                  "metadata": {"name": "nginx", "labels": dict(sel)},
                  "spec": {"controller": "k8s.io/ingress-nginx"}}]
    elif chart == "cert-manager":
        for comp, app in (("cert-manager", "cert-manager"), ("cert-manager-cainjector", "cainjector"),
                          ("cert-manager-webhook", "webhook")):
            objs.append(deployment(comp, ns, {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release}))
        objs.append(service("cert-manager-webhook", ns, {"app.kubernetes.io/name": "webhook",
                                                         "app.kubernetes.io/instance": release},
                            [("https", 443, 10250)]))
        if _get(values, "cert-manager.crds.enabled", _get(values, "crds.enabled", False)):
            crds.append("certmanager")
    elif chart == "victoria-metrics-operator":
        crds.append("victoriametrics")
        objs.append(deployment(f"{release}-victoria-metrics-operator", ns,
                               {"app.kubernetes.io/name": "victoria-metrics-operator"}))
    else:  # the ServiceTemplate controller does not validate a template of another chart
        raise RenderError(f"chart {chart} is not one kofsim can install ({', '.join(sorted(KNOWN_CHARTS))})")
    return crds, objs
