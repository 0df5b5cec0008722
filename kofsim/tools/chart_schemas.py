#!/usr/bin/env python3
"""Dev tool: build the stand-in charts' values.schema.json from the real KOF 0.1.1 charts (kofsim/CHARTS.md).

The committed schemas in kofsim/kofsim/charts/*/values.schema.json are what kofsim uses; this tool only
regenerates them. It needs the upstream repositories as bare git mirrors (what the session's `fetch` tool or a
`git clone --mirror` gives), one directory per repository: <mirror root>/<owner>+<name>/repo, or set
KOFSIM_MIRROR_<OWNER>_<NAME> to another git directory. Nothing is downloaded by this tool.

    python kofsim/tools/chart_schemas.py [--mirror /work/.mirror] [--check] [--report]

What a schema holds, for each chart:
- every key of the real chart's values.yaml (at the tag), closed with additionalProperties: false;
- every key the real templates read that values.yaml lacks (TEMPLATE_KEYS below, found by grepping the
  templates and the files they `tpl`, and by reading the helpers: see CHARTS.md);
- for each dependency the collection sets keys in, the dependency chart's own values.yaml at the locked version,
  merged with what the parent's values.yaml puts under it, its template-read keys, its condition key `enabled`,
  and the constraints of the dependency's own values.schema.json when it ships one;
- free-form objects only where the chart takes a free-form map (labels, annotations, resources, k8s objects
  passed through with toYaml, maps keyed by name) or passes a whole subtree to a dependency chart whose values
  the collection never sets (FREE_SUBTREES).
Types only tell objects from the rest: an object is {"type": "object"}, a list {"type": "array"}, a scalar has no
type (the real charts enforce none) unless a real schema says otherwise.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CHARTS = HERE.parent / "kofsim" / "charts"

# ------------------------------------------------------------------------------------------ sources
KOF = ("k0rdent/kof", "0.1.1")
VM = "VictoriaMetrics/helm-charts"
GRAFANA_OPERATOR = "grafana/grafana-operator"
OPENCOST = "opencost/opencost-helm-chart"
EXTERNAL_DNS = "kubernetes-sigs/external-dns"
OTEL = "open-telemetry/opentelemetry-helm-charts"
# every repository the generator reads (tests skip the check unless each has a mirror)
UPSTREAM = (KOF[0], VM, GRAFANA_OPERATOR, OPENCOST, EXTERNAL_DNS, OTEL)

# object keys whose content the charts pass through (toYaml) as Kubernetes objects or label/annotation maps
FREE_NAMES = {"resources", "nodeSelector", "affinity", "annotations", "labels", "podAnnotations", "podLabels",
              "extraLabels", "additionalLabels", "commonLabels", "matchLabels", "securityContext",
              "podSecurityContext", "lifecycle", "emptyDir", "updateStrategy", "tlsConfig", "basicAuth",
              "dnsConfig", "deploymentStrategy"}

# keys read by the victoria-metrics-common library helpers (vm.fullname, vm.namespace, vm.release, vm.image,
# vm.enterprise.*) of the locked library version: templates/_helpers.tpl, _image.tpl, _enterprise.tpl
VM_COMMON_0_0_16 = ["nameOverride", "fullnameOverride", "namespaceOverride", "argocdReleaseOverride",
                    "license.key", "license.secret.name", "license.secret.key"]
VM_COMMON_0_0_37 = VM_COMMON_0_0_16 + ["disableNameTruncation"]


def dep(name, version, repo, tag, path, *, extra=(), free=(), untyped=(), carry=None, condition=True, note=""):
    return {"name": name, "version": version, "repo": repo, "tag": tag, "path": path, "extra": list(extra),
            "free": list(free), "untyped": list(untyped), "carry": carry, "condition": condition, "note": note}


VLS_0_8_16 = dep(
    "victoria-logs-single", "0.8.16", VM, "victoria-logs-single-0.8.16", "charts/victoria-logs-single",
    # library victoria-metrics-common 0.0.39 (Chart.lock); appKey "server": server.{name, fullnameOverride, port,
    # service.port} are read by vm.plain.fullname / vm.app.name / vm.host
    extra=VM_COMMON_0_0_37 + [
        "imagePullSecrets", "podDisruptionBudget.minAvailable", "podDisruptionBudget.maxUnavailable",
        "podDisruptionBudget.labels{}", "server.annotations{}", "server.extraConfigmapMounts",
        "server.extraSecretMounts", "server.name", "server.fullnameOverride", "server.port", "server.schedulerName",
        "server.service.nodePort", "server.service.port", "server.serviceMonitor.interval",
        "server.serviceMonitor.namespace", "server.serviceMonitor.scheme", "server.serviceMonitor.scrapeTimeout",
        "server.serviceMonitor.tlsConfig{}", "server.vmServiceScrape.basicAuth{}",
        "server.vmServiceScrape.interval", "server.vmServiceScrape.namespace", "server.vmServiceScrape.scheme",
        "server.vmServiceScrape.scrapeTimeout", "server.vmServiceScrape.tlsConfig{}"],
    # extraArgs: command-line flags by name; probe: Kubernetes probes; vector: the vector subchart's values;
    # dashboards.grafanaOperator.spec: passed into the GrafanaDashboard spec
    free=["server.extraArgs", "server.probe", "vector", "dashboards.grafanaOperator.spec"],
    note="library victoria-metrics-common 0.0.39")

VMO_0_36_0 = dep(
    "victoria-metrics-operator", "0.36.0", VM, "victoria-metrics-operator-0.36.0",
    "charts/victoria-metrics-operator",
    extra=VM_COMMON_0_0_16 + ["podDisruptionBudget.minAvailable", "podDisruptionBudget.maxUnavailable",
                              "crds.cleanup.image.registry", "crds.cleanup.image.variant"],
    # enabledCRDValidation: ranged over (name -> bool); extraArgs: flags by name; probe: Kubernetes probes
    free=["extraArgs", "probe", "admissionWebhooks.enabledCRDValidation", "admissionWebhooks.certManager.issuer"],
    note="library victoria-metrics-common 0.0.16")

VMO_0_40_5 = dep(
    "victoria-metrics-operator", "0.40.5", VM, "victoria-metrics-operator-0.40.5",
    "charts/victoria-metrics-operator",
    extra=VM_COMMON_0_0_37 + ["podDisruptionBudget.minAvailable", "podDisruptionBudget.maxUnavailable",
                              "crds.cleanup.image.registry", "crds.cleanup.image.variant"],
    free=["extraArgs", "probe", "admissionWebhooks.enabledCRDValidation", "admissionWebhooks.certManager.issuer"],
    note="library victoria-metrics-common 0.0.37")

GO_5_13_0 = dep("grafana-operator", "v5.13.0", GRAFANA_OPERATOR, "v5.13.0", "deploy/helm/grafana-operator",
                condition=False, note="condition grafana.enabled")
GO_5_15_1 = dep("grafana-operator", "v5.15.1", GRAFANA_OPERATOR, "v5.15.1", "deploy/helm/grafana-operator",
                condition=False, note="condition grafana.enabled")

OPENCOST_1_42_3 = dep(
    "opencost", "1.42.3", OPENCOST, "1.42.3-helm", "charts/opencost",
    extra=["commonLabels{}", "opencost.debugPort", "opencost.exporter.debugPort", "opencost.sigV4Proxy.role_arn",
           "opencost.ui.apiServer", "plugins.version"],
    # costModel: ranged over (price name -> value) into the custom pricing ConfigMap
    free=["opencost.customPricing.costModel"])

EXTERNAL_DNS_1_15_1 = dep(
    "external-dns", "1.15.1", EXTERNAL_DNS, "external-dns-helm-chart-1.15.1", "charts/external-dns",
    # probes are Kubernetes probes; extraContainers defaults to {} but is rendered as a list of containers
    free=["livenessProbe", "readinessProbe", "provider.webhook.livenessProbe", "provider.webhook.readinessProbe"],
    untyped=["extraContainers"],
    carry="values.schema.json")

OTEL_0_75_1 = dep("opentelemetry-operator", "0.75.1", OTEL, "opentelemetry-operator-0.75.1",
                  "charts/opentelemetry-operator", carry="whole")

FREE_SUBTREE = {"type": "object"}

# ----------------------------------------------------------------------------------- the KOF charts
SPECS = {
    "kof-operators": {
        # templates read no values (ClusterRole/ClusterRoleBinding only)
        "extra": [],
        "deps": {"opentelemetry-operator": OTEL_0_75_1},
        "free_subtrees": {"prometheus-operator-crds": "prometheus-operator-crds 15.0.0 (no values.schema.json; "
                                                      "the collection sets no keys in it)"},
        "global": [],
        "overrides": {},
    },
    "kof-mothership": {
        "extra": [
            # files/dashboards/*.yaml (tpl'd by templates/grafana/dashboards/dashboard.yaml)
            "defaultDashboards.defaultTimezone",
            # templates/promxy/*.yaml, _helpers.tpl
            "promxy.affinity{}", "promxy.annotations{}", "promxy.deployment.strategy{}", "promxy.env",
            "promxy.extraLabels{}", "promxy.fullnameOverride", "promxy.nameOverride", "promxy.imagePullSecrets",
            "promxy.nodeSelector{}", "promxy.podAnnotations{}", "promxy.secret", "promxy.tolerations",
            "promxy.operator.affinity{}", "promxy.operator.annotations{}", "promxy.operator.deployment.strategy{}",
            "promxy.operator.extraLabels{}", "promxy.operator.imagePullSecrets", "promxy.operator.nodeSelector{}",
            "promxy.operator.replicaCount", "promxy.operator.tolerations"],
        "deps": {"grafana-operator": GO_5_13_0, "victoria-metrics-operator": VMO_0_36_0},
        "free_subtrees": {
            "cluster-api-visualizer": "cluster-api-visualizer 1.4.0 (the collection sets only `enabled`)",
            "sveltos-dashboard": "sveltos-dashboard 0.44.0 (the collection sets only `enabled`)"},
        "global": ["clusterName", "clusterLabel", "storageClass", "random_username_length",
                   "random_password_length"],
        # promxy.extraArgs: ranged over, flag name -> value
        "free": ["promxy.extraArgs"],
        "overrides": {
            "defaultRules": "DEFAULT_RULES",
            "grafana.logSources": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "properties": {"name": {}, "type": {}, "url": {}, "auth": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"username_key": {}, "password_key": {}, "credentials_secret_name": {}}}}}},
            # ranged over: chart short name -> {version}
            "kcm.kof.charts": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "properties": {"version": {}}}},
            # ranged over: ClusterProfile name -> its spec
            "kcm.kof.clusterProfiles": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "properties": {"matchLabels": {"type": "object"}, "create_secrets": {}, "secrets": {"type": "array"}}}},
        },
    },
    "kof-storage": {
        "extra": [
            # templates/cert-manager/clusterissuer.yaml reads the key "email " (with a trailing space)
            ("cert-manager", "email "),
            # templates/victoria/vmcluster.yaml (| default 2, | default 3), vmalert.yaml
            "victoriametrics.vmcluster.replicationFactor", "victoriametrics.vmcluster.replicaCount",
            "victoriametrics.vmalert.remoteRead",
            "defaultDashboards.defaultTimezone"],
        "deps": {"grafana-operator": GO_5_15_1, "victoria-metrics-operator": VMO_0_40_5,
                 "victoria-logs-single": VLS_0_8_16, "external-dns": EXTERNAL_DNS_1_15_1},
        "free_subtrees": {},
        "global": ["clusterName", "clusterLabel", "storageClass", "random_username_length",
                   "random_password_length", "lint"],
        "overrides": {
            "defaultRules": "DEFAULT_RULES",
            "grafana.datasources": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "properties": {"name": {}, "url": {}, "type": {}, "auth": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"username_key": {}, "password_key": {}, "credentials_secret_name": {},
                                   "username": {}, "password": {}}}}}},
        },
    },
    "kof-collectors": {
        "extra": [],
        "deps": {"opencost": OPENCOST_1_42_3},
        "free_subtrees": {
            "prometheus-node-exporter": "prometheus-node-exporter 4.39.0 (no values.schema.json; the collection "
                                        "sets only `enabled`)",
            "kube-state-metrics": "kube-state-metrics 5.25.1 (no values.schema.json; the collection sets only "
                                  "`enabled`)"},
        "global": ["clusterName", "clusterLabel", "lint"],
        "overrides": {},
    },
}

# templates/grafana/rules/rules.yaml: dig "group" / "groups" <name> / "rule" / "rules" <alert>; a group is merged
# into the context the rule files are tpl'd with (so any key, e.g. targetNamespace, may be read): free-form
DEFAULT_RULES = {"type": "object", "additionalProperties": False, "properties": {
    "group": {"type": "object"},
    "groups": {"type": "object", "additionalProperties": {"type": "object"}},
    "rule": {"type": "object", "additionalProperties": False, "properties": {"create": {}, "spec": {"type": "object"}}},
    "rules": {"type": "object", "additionalProperties": {
        "type": "object", "additionalProperties": False, "properties": {"create": {}, "spec": {"type": "object"}}}}}}


# -------------------------------------------------------------------------------------------- git
def mirror_env(repo) -> str:
    return "KOFSIM_MIRROR_" + repo.replace("/", "_").replace("-", "_").upper()


def mirror_dir(root, repo) -> Path:
    """Where the mirror of `repo` is: $KOFSIM_MIRROR_<OWNER>_<NAME>, else <root>/<owner>+<name>/repo."""
    env = mirror_env(repo)
    return Path(os.environ[env]) if env in os.environ else Path(root) / repo.replace("/", "+") / "repo"


class Sources:
    def __init__(self, root):
        self.root = Path(root)
        self.used = []

    def gitdir(self, repo):
        d = mirror_dir(self.root, repo)
        if not d.exists():
            sys.exit(f"no mirror of {repo} at {d} (fetch it, or set {mirror_env(repo)})")
        return d

    def show(self, repo, tag, path):
        self.used.append(f"{repo}@{tag}:{path}")
        return subprocess.run(["git", "-C", str(self.gitdir(repo)), "show", f"{tag}:{path}"], check=True,
                              capture_output=True, text=True).stdout

    def values(self, repo, tag, path):
        return yaml.safe_load(self.show(repo, tag, path)) or {}


# ------------------------------------------------------------------------------------------ build
def split(path):
    return tuple(path) if isinstance(path, tuple) else tuple(path.split("."))


def free_object(comment=None):
    return dict({"type": "object"}, **({"$comment": comment} if comment else {}))


def node(value, path, free, untyped):
    if path in untyped:
        return {}
    if path in free or (path and path[-1] in FREE_NAMES and isinstance(value, dict)):
        return free_object()
    if isinstance(value, dict):
        if not value:
            return free_object()
        return {"type": "object", "additionalProperties": False,
                "properties": {str(k): node(v, path + (str(k),), free, untyped) for k, v in value.items()}}
    if isinstance(value, list):
        return {"type": "array"}
    return {}


CLOSED = {"type": "object", "additionalProperties": False}


def is_free(s):
    return s.get("type") == "object" and s.get("additionalProperties") is not False


def at(schema, path):
    """The (object) sub-schema at path, creating closed objects on the way; None inside a free-form object."""
    cur = schema
    for part in path:
        if is_free(cur):
            return None
        if not cur:
            cur.update(CLOSED)
        cur = cur.setdefault("properties", {}).setdefault(part, {})
    if is_free(cur):
        return None
    if not cur:
        cur.update(CLOSED)
    return cur


def add_key(schema, key):
    """A template-read key: 'a.b' (scalar), 'a.b{}' (free-form object), or a tuple."""
    free = isinstance(key, str) and key.endswith("{}")
    path = split(key[:-2] if free else key)
    parent = at(schema, path[:-1])
    if parent is None:
        return
    props = parent.setdefault("properties", {})
    if path[-1] not in props:
        props[path[-1]] = free_object() if free else {}


def union(a, b):
    """Keys of both value trees (b's scalars win; only the structure matters here)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = union(a.get(k), v) if k in a else v
        return out
    return b if b is not None else a


def strip_annotations(s):
    """A real dependency schema, as constraints only: no required (helm checks it after merging the
    dependency's own defaults, which the stand-ins do not ship), no defaults/titles/examples."""
    if isinstance(s, dict):
        return {k: strip_annotations(v) for k, v in s.items()
                if k not in ("required", "default", "title", "examples", "description", "$schema", "$id")}
    if isinstance(s, list):
        return [strip_annotations(x) for x in s]
    return s


def overlay(gen, real):
    """Carry the constraints of a real dependency schema onto the generated one (same structure)."""
    for k, v in real.items():
        if k == "properties":
            for name, sub in v.items():
                props = gen.setdefault("properties", {})
                props[name] = overlay(props.get(name, {}), sub)
        elif k == "type" and gen.get("type") == "object" and v != "object":
            gen["type"] = v  # e.g. external-dns' provider: a string or an object
        elif k == "anyOf" and all(isinstance(x, dict) and set(x) <= {"type", "properties"} for x in v):
            # anyOf [{type: string}, {type: object, properties}] == {type: [string, object], properties}
            types, props = [], {}
            for x in v:
                types.append(x["type"])
                props.update(x.get("properties", {}))
            gen["type"] = types
            gen.setdefault("properties", {})
            for name, sub in props.items():
                gen["properties"][name] = overlay(gen["properties"].get(name, {}), sub)
        else:
            gen[k] = copy.deepcopy(v)
    return gen


def dependency_schema(src, spec, parent_values):
    d = spec
    vals = src.values(d["repo"], d["tag"], f"{d['path']}/values.yaml")
    if d["carry"] == "whole":  # the dependency's own (closed) schema, as is
        real = json.loads(src.show(d["repo"], d["tag"], f"{d['path']}/values.schema.json"))
        out = strip_annotations(real)
        out["$comment"] = (f"{d['name']} {d['version']}: {d['repo']}@{d['tag']}:{d['path']}/values.schema.json "
                           f"(the dependency's own schema, without required/defaults)")
        return out, sorted(_only_in(parent_values or {}, vals))
    merged = union(vals, parent_values or {})
    out = node(merged, (), {split(p) for p in d["free"]}, {split(p) for p in d["untyped"]})
    # helm copies the parent's `global` into every subchart; the parent's schema holds it (free-form)
    out["properties"].pop("global", None)
    for key in d["extra"]:
        add_key(out, key)
    if d["condition"]:
        out["properties"].setdefault("enabled", {})
    if d["carry"]:
        real = strip_annotations(json.loads(src.show(d["repo"], d["tag"], f"{d['path']}/{d['carry']}")))
        real.get("properties", {}).pop("global", None)
        overlay(out, {k: v for k, v in real.items() if k == "properties"})
    out["$comment"] = (f"{d['name']} {d['version']}: {d['repo']}@{d['tag']}:{d['path']}/values.yaml"
                       + (f" and {d['carry']}" if d["carry"] else "") + (f"; {d['note']}" if d["note"] else ""))
    return out, sorted(_only_in(parent_values or {}, vals))


def _only_in(a, b, prefix=()):
    """Paths set in a (the parent's values) that b (the dependency's values.yaml) lacks."""
    out = []
    if isinstance(a, dict):
        for k, v in a.items():
            p = prefix + (str(k),)
            if not isinstance(b, dict) or k not in b:
                out.append(".".join(p))
            else:
                out += _only_in(v, b[k], p)
    return out


def chart_schema(src, chart):
    spec = SPECS[chart]
    path = f"charts/{chart}"
    vals = src.values(KOF[0], KOF[1], f"{path}/values.yaml")
    deps = spec["deps"]
    free_sub = spec["free_subtrees"]
    own = {k: v for k, v in vals.items() if k not in deps and k not in free_sub and k != "global"}
    schema = node(own, (), {split(p) for p in spec.get("free", ())}, set())
    schema.setdefault("properties", {})
    notes = {}
    for key in spec["extra"]:
        add_key(schema, key)
    for key, fragment in spec["overrides"].items():
        target_path = split(key)
        parent = at(schema, target_path[:-1])
        parent.setdefault("properties", {})[target_path[-1]] = copy.deepcopy(
            DEFAULT_RULES if fragment == "DEFAULT_RULES" else fragment)
    # global: shared with every subchart (each reads its own global.* keys), so it stays open
    schema["properties"]["global"] = {
        "type": "object", "$comment": "free-form: helm passes global to every subchart, which read their own "
                                      "global.* keys; these are the ones this chart's templates read",
        "properties": {k: {} for k in spec["global"]}}
    for name, dspec in deps.items():
        sub, extra_keys = dependency_schema(src, dspec, vals.get(name))
        schema["properties"][name] = sub
        notes[name] = extra_keys
    for name, why in free_sub.items():
        schema["properties"][name] = free_object(f"free-form: passed whole to the dependency chart {why}")
    schema["properties"] = dict(sorted(schema["properties"].items(), key=lambda kv: kv[0] != "global"))
    lock = src.values(KOF[0], KOF[1], f"{path}/Chart.lock")
    out = {"$schema": "http://json-schema.org/draft-07/schema#",
           "$comment": (f"Generated by kofsim/tools/chart_schemas.py from {KOF[0]}@{KOF[1]}:{path}/values.yaml, the "
                        f"keys its templates read, and its locked dependencies "
                        f"({', '.join(d['name'] + ' ' + str(d['version']) for d in lock.get('dependencies', []))}); "
                        f"see kofsim/CHARTS.md"),
           "type": "object", "additionalProperties": False, "properties": schema["properties"]}
    return out, notes


def dump(schema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", default=os.environ.get("KOFSIM_MIRROR", "/work/.mirror"))
    ap.add_argument("--check", action="store_true", help="fail if a committed schema differs")
    ap.add_argument("--report", action="store_true",
                    help="print the keys the KOF charts set under a dependency that its values.yaml lacks")
    args = ap.parse_args(argv)
    src = Sources(args.mirror)
    changed = []
    for chart in SPECS:
        schema, notes = chart_schema(src, chart)
        target = CHARTS / chart / "values.schema.json"
        text = dump(schema)
        if args.report:
            for dep_name, keys in notes.items():
                if keys:
                    print(f"{chart}: {dep_name}: keys the dependency's values.yaml lacks: {', '.join(keys)}")
        if args.check:
            if not target.exists() or target.read_text() != text:
                changed.append(str(target))
        else:
            target.write_text(text)
    if args.report:
        print("sources:\n  " + "\n  ".join(dict.fromkeys(src.used)))
    if changed:
        sys.exit("out of date: " + ", ".join(changed))


if __name__ == "__main__":
    main()
