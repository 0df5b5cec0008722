#!/usr/bin/env python3
"""Dev tool: build kofsim's KOF 1.10.0 stand-in charts (kofsim/kofsim/charts-1.10) from the real charts.

Like chart_schemas.py (KOF 0.1.1), but for the KOF 1.x charts; see "KOF 1.10.0 stand-ins" in kofsim/CHARTS.md.
It reads the real k0rdent/kof repository at the tag from a bare git mirror (<mirror root>/k0rdent+kof/repo, or
KOFSIM_MIRROR_K0RDENT_KOF=<git dir>); nothing is downloaded.

    python kofsim/tools/chart_schemas_1x.py [--mirror /work/.mirror] [--check]

For each chart it writes Chart.yaml, values.yaml (the real values.yaml's keys and defaults, comments dropped),
values.schema.json and templates/values.yaml (one ConfigMap holding the values: a stand-in, no real objects yet).

What a schema holds (facts only: key names, structure; no template code is carried over):
- every key of the real values.yaml, objects closed with additionalProperties: false;
- every key the real templates (and the files they tpl) read that values.yaml lacks: `.Values.a.b`,
  `index .Values "a" "b"`, and `$v.b` after `$v := .Values.a` / `$v := index .Values "a"` in the same file;
  a read key below a scalar default, a list or a free-form object adds nothing;
- free-form objects: `global` where helm hands it to subcharts or the chart passes it on whole (FREE_GLOBAL);
  whole dependency subtrees (their values go to the dependency chart; kof-dashboards, a local dependency, is
  closed with its own generated schema); maps and Kubernetes objects (FREE_NAMES, objects whose default is {});
  maps keyed by name and subtrees handed whole to another chart (SPECS[chart]["free"]).
Scalars carry no type (the real charts have no values.schema.json); objects are {"type": "object"}, lists
{"type": "array"}.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

# the 0.1.1 tool beside this one: the same merge of value trees, the same place to find a mirror
from chart_schemas import mirror_dir, mirror_env, union

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "kofsim" / "charts-1.10"
REPO = "k0rdent/kof"
TAG = "v1.10.0"
VERSION = "1.10.0"

# object keys whose content the charts pass through (toYaml) as Kubernetes objects or label/annotation maps,
# or hand whole to another chart (`values`: the umbrella's and the MCS charts' per-component values)
FREE_NAMES = {"resources", "nodeSelector", "affinity", "annotations", "labels", "podAnnotations", "podLabels",
              "extraLabels", "additionalLabels", "commonLabels", "matchLabels", "securityContext",
              "podSecurityContext", "containerSecurityContext", "lifecycle", "emptyDir", "updateStrategy",
              "tlsConfig", "basicAuth", "dnsConfig", "deploymentStrategy", "tolerations", "spec", "values",
              "env", "extraArgs", "livenessProbe", "readinessProbe", "startupProbe", "extraVolumes",
              "extraVolumeMounts", "featureGatesMap"}

# charts whose `global` helm hands to subcharts, or that pass `.Values.global` on whole (kof-regional and
# kof-child: into every MultiClusterService service's values): open, with the keys the templates read listed
PASSED_ON = "free-form: the chart passes global on whole (into each MultiClusterService service's values)"
CHARTS = {
    "kof": {"free": [], "components": True,
            "why": "the umbrella: FluxCD HelmReleases of the KOF charts, in order"},
    "kof-operators": {"free": [], "why": "operators and CRDs the other KOF charts need"},
    "kof-mothership": {
        "free": [
            # ranged over, keyed by name
            "kcm.kof.mcs", "kcm.kof.secrets", "customRules", "clusterAlertRules", "clusterRecordRules",
            "defaultAlertRules", "defaultRecordRules", "windowsMonitoring"],
        "why": "the management cluster's KOF components"},
    "kof-regional": {"free": ["storage", "collectors"], "global": PASSED_ON,
                     "why": "MultiClusterService template for KOF regional clusters"},
    "kof-child": {"global": PASSED_ON, "free": ["operators", "collectors", "fromManagement.storage", "fromManagement.collectors"],
                  "why": "MultiClusterService template for KOF child clusters"},
    "kof-storage": {"free": ["vmrules"], "why": "the regional storage (VictoriaMetrics, logs, traces)"},
    "kof-collectors": {"free": [], "why": "OpenTelemetry collectors and OpenCost"},
    "kof-dashboards": {"free": [], "global": "free-form: as a subchart it receives its parent's global", "why": "Grafana dashboards (a dependency of kof-mothership and kof-storage)"},
}
CLOSED_GLOBAL = {"kof"}  # the umbrella has no subcharts and passes no `global` on


# -------------------------------------------------------------------------------------------- git
class Source:
    def __init__(self, root):
        self.git = mirror_dir(root, REPO)
        if not self.git.exists():
            sys.exit(f"no mirror of {REPO} at {self.git} (fetch it, or set {mirror_env(REPO)})")

    def run(self, *args):
        return subprocess.run(["git", "--git-dir", str(self.git), *args], check=True, capture_output=True,
                              text=True).stdout

    def commit(self):
        return self.run("rev-parse", f"{TAG}^{{commit}}").strip()

    def show(self, path):
        return self.run("show", f"{TAG}:{path}")

    def files(self, path):
        return [f for f in self.run("ls-tree", "-r", "--name-only", TAG, path).splitlines() if f]

    def yaml(self, path):
        return yaml.safe_load(self.show(path)) or {}


# ------------------------------------------------------------------------------- template-read keys
SEG = r"(?:\.[A-Za-z_][A-Za-z0-9_]*)"
DIRECT = re.compile(r"\.Values(" + SEG + r"+)")
INDEX = re.compile(r"index\s+\(?\$?\.Values\)?((?:\s+\"[^\"]+\")+)")
ALIAS_DIRECT = re.compile(r"\$([A-Za-z_]\w*)\s*:?=\s*(?:\(\.helm\)|\$)?\.Values(" + SEG + r"*)(?![\w.])")
ALIAS_INDEX = re.compile(r"\$([A-Za-z_]\w*)\s*:?=\s*index\s+\$?\.Values((?:\s+\"[^\"]+\")+)")


def quoted(s):
    return re.findall(r"\"([^\"]+)\"", s)


def template_keys(text):
    keys = set()
    for m in DIRECT.finditer(text):
        keys.add(tuple(m.group(1)[1:].split(".")))
    for m in INDEX.finditer(text):
        keys.add(tuple(quoted(m.group(1))))
    aliases = {}
    for m in ALIAS_DIRECT.finditer(text):
        aliases[m.group(1)] = tuple(p for p in m.group(2).split(".") if p)
    for m in ALIAS_INDEX.finditer(text):
        aliases[m.group(1)] = tuple(quoted(m.group(2)))
    for name, base in aliases.items():
        for m in re.finditer(r"\$" + name + r"(" + SEG + r"+)", text):
            keys.add(base + tuple(m.group(1)[1:].split(".")))
    return {k for k in keys if k}


# ------------------------------------------------------------------------------------------ build
def free_object(comment=None):
    return dict({"type": "object"}, **({"$comment": comment} if comment else {}))


def closed(props=None):
    return {"type": "object", "additionalProperties": False, "properties": props or {}}


def node(value, path, free):
    if path in free and value is None:  # a map whose default is null (its entries commented out)
        return {"type": ["object", "null"]}
    if path in free or (path and path[-1] in FREE_NAMES and isinstance(value, dict)):
        return free_object()
    if isinstance(value, dict):
        if not value:
            return free_object()
        return closed({str(k): node(v, path + (str(k),), free) for k, v in value.items()})
    if isinstance(value, list):
        return {"type": "array"}
    return {}


def add_key(schema, path):
    """A key the templates read: closed objects on the way; nothing below a scalar, list or free object."""
    cur = schema
    for i, part in enumerate(path):
        if cur.get("type") != "object" or cur.get("additionalProperties") is not False:
            return
        props = cur["properties"]
        if part not in props:
            props[part] = closed() if i < len(path) - 1 else {}
        elif i < len(path) - 1 and props[part] == {}:
            return  # a scalar default (or a key read as a whole): not descended into
        cur = props[part]


def dependencies(src, chart):
    deps = src.yaml(f"charts/{chart}/Chart.yaml").get("dependencies") or []
    return [dict(d, key=d.get("alias") or d["name"]) for d in deps]


def chart_schema(src, chart, parent_values=None, passed=None):
    """(schema, values) of one chart; parent_values: what a parent puts under it as a subchart (then no `global`);
    passed: what parent charts hand it as values of its own release (PASSED)."""
    spec = CHARTS[chart]
    vals = src.yaml(f"charts/{chart}/values.yaml")
    merged = union(union(vals, parent_values or {}), passed or {})
    deps = {d["key"]: d for d in dependencies(src, chart)}
    free = {tuple(p.split(".")) for p in spec["free"]}
    own = {k: v for k, v in merged.items() if k not in deps and k != "global"}
    schema = node(own, (), free)
    schema.setdefault("properties", {})
    read = set()
    for f in src.files(f"charts/{chart}/templates") + src.files(f"charts/{chart}/files"):
        if f.endswith((".yaml", ".yml", ".tpl", ".txt", ".json")):
            read |= template_keys(src.show(f))
    if spec.get("components"):  # the umbrella reads each component's entry by its name
        for comp in list(vals["global"]["components"]) + ["victoria-metrics-operator"]:
            for k in ("enabled", "dependsOn", "notes", "values"):
                read.add((comp, k))
            schema["properties"].setdefault(comp, closed())
            schema["properties"][comp]["properties"].setdefault("values", free_object())
    for d in deps.values():  # helm reads a dependency's condition keys from the parent's values
        for cond in filter(None, (c.strip() for c in (d.get("condition") or "").split(","))):
            read.add(tuple(cond.split(".")))
    global_keys = dict.fromkeys(str(k) for k in (vals.get("global") or {}))
    for path in sorted(read, key=lambda p: (-len(p), p)):
        if path[0] == "global":
            if len(path) > 1:
                global_keys.setdefault(path[1], None)
        elif path[0] not in deps:
            add_key(schema, path)
    props = schema["properties"]
    if parent_values is None:
        if chart in CLOSED_GLOBAL:
            g = node(vals.get("global") or {}, ("global",), free)
            for path in read:
                if path[0] == "global" and len(path) > 1:
                    add_key({"type": "object", "additionalProperties": False, "properties": {"global": g}},
                            path)
            props["global"] = g
        else:
            props["global"] = dict(free_object(spec.get("global") or "free-form: helm passes global to every "
                                                                    "subchart"),
                properties={k: {} for k in sorted(global_keys)})
    for key, d in deps.items():
        cond = d.get("condition") == f"{key}.enabled"
        if d["name"] == "kof-dashboards" and "repository" in d and d["repository"].startswith("file://"):
            sub, _ = chart_schema(src, "kof-dashboards", merged.get(key) or {})
            if cond:
                sub["properties"].setdefault("enabled", {})
            sub["$comment"] = (f"kof-dashboards {d['version']} (local dependency): its own values and keys, "
                               f"with what {chart} sets under it")
            props[key] = sub
        else:
            props[key] = free_object(f"free-form: passed whole to the dependency chart {d['name']} "
                                     f"{d['version']} ({d['repository']})")
    schema["properties"] = dict(sorted(props.items(), key=lambda kv: kv[0] != "global"))
    return schema, vals


# Values the real parent charts pass to a chart as they are: the kof-regional and kof-child MultiClusterServices
# hand their `storage` / `collectors` (and `operators`) values to kof-storage / kof-collectors / kof-operators, the
# umbrella its `<component>.values` to each component. The real charts have no schema, so helm accepts those keys
# even where no template reads them (kof-child's collectors.resources): the stand-in schemas accept them too.
PASSED = {"kof-storage": [("kof-regional", "storage")],
          "kof-collectors": [("kof-regional", "collectors"), ("kof-child", "collectors")],
          "kof-operators": [("kof-child", "operators"), ("kof", "kof-operators.values")],
          "kof-mothership": [("kof", "kof-mothership.values")],
          "kof-regional": [("kof", "kof-regional.values")],
          "kof-child": [("kof", "kof-child.values")]}


# Keys the umbrella's templates merge into a component's values (charts/kof/templates/helmreleases.yaml) that the
# component's values.yaml lacks. Regionless mode sets kof-mothership's `kof-dashboards.grafana.dashboard.datasource.
# filters.cluster`, while kof-dashboards reads `grafana.dashboard.filters` (an upstream slip: no effect, but helm
# accepts it, the real charts having no schema). Each path is checked against the template text at the tag.
UMBRELLA_SETS = {"kof-mothership": ["kof-dashboards.grafana.dashboard.datasource.filters.cluster"]}


def umbrella_set(src, chart):
    text = src.show("charts/kof/templates/helmreleases.yaml")
    out: dict = {}
    for path in UMBRELLA_SETS.get(chart, ()):
        parts = path.split(".")
        missing = [p for p in parts if not re.search(rf"(^|\s|\"){re.escape(p)}(:|\"|\s)", text)]
        if missing:
            raise SystemExit(f"UMBRELLA_SETS {chart}: {path}: {missing} not in charts/kof/templates/helmreleases.yaml")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = ""
    return out


def passed_values(src, chart):
    out = umbrella_set(src, chart)
    for parent, path in PASSED.get(chart, ()):
        node = src.yaml(f"charts/{parent}/values.yaml")
        for key in path.split("."):
            node = (node or {}).get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            out = union(out, _keys_only({k: v for k, v in node.items() if k != "global"}))
    return out


def _keys_only(tree):
    """Passed values without empty maps: `{}` adds no key, and would turn a chart's own null map (a free map whose
    entries are commented out, kcm.kof.mcs) into object-only."""
    if not isinstance(tree, dict):
        return tree
    return {k: _keys_only(v) for k, v in tree.items() if not (isinstance(v, dict) and not v)}


def build(src):
    commit = src.commit()
    out = {}
    for chart in CHARTS:
        schema, vals = chart_schema(src, chart, passed=passed_values(src, chart))
        real = src.yaml(f"charts/{chart}/Chart.yaml")
        deps = dependencies(src, chart)
        full = {"$schema": "http://json-schema.org/draft-07/schema#",
                "$comment": (f"Generated by kofsim/tools/chart_schemas_1x.py from {REPO}@{TAG} ({commit}): "
                             f"charts/{chart}/values.yaml, the keys its templates read; see kofsim/CHARTS.md"),
                "type": "object", "additionalProperties": False, "properties": schema["properties"]}
        chart_yaml = {
            "apiVersion": "v2", "name": chart, "version": VERSION, "appVersion": str(real.get("appVersion")),
            "type": "application",
            "description": (f"kofsim's stand-in for KOF {VERSION}'s {chart} chart ({CHARTS[chart]['why']}): "
                            f"the real values and their schema, one ConfigMap of values instead of the real "
                            f"objects"),
            "annotations": {"kofsim/source": f"{REPO}@{TAG} ({commit}) charts/{chart}",
                            "kofsim/real-dependencies": ", ".join(
                                f"{d['name']} {d['version']}" + (f" as {d['alias']}" if d.get("alias") else "")
                                for d in deps) or "none"}}
        out[f"{chart}/Chart.yaml"] = yaml.safe_dump(chart_yaml, sort_keys=False, width=1000)
        out[f"{chart}/values.yaml"] = (f"# KOF {VERSION} {chart}: the real values.yaml ({REPO}@{TAG}), comments "
                                       f"dropped\n" + yaml.safe_dump(vals, sort_keys=False, width=1000))
        out[f"{chart}/values.schema.json"] = json.dumps(full, indent=2, ensure_ascii=False) + "\n"
        if chart != "kof":  # the umbrella's templates render its Flux objects (hand-written, test_flux_1x.py)
            out[f"{chart}/templates/values.yaml"] = TEMPLATE
    return out


TEMPLATE = """\
# kofsim stand-in: the chart's values, not the real chart's objects
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-values
  namespace: {{ .Release.Namespace }}
data:
  values: |
{{ toYaml .Values | indent 4 }}
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", default=os.environ.get("KOFSIM_MIRROR", "/work/.mirror"))
    ap.add_argument("--check", action="store_true", help="fail if a committed file differs")
    args = ap.parse_args(argv)
    files = build(Source(args.mirror))
    changed = []
    for rel, text in files.items():
        target = OUT / rel
        if args.check:
            if not target.exists() or target.read_text() != text:
                changed.append(str(target))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if changed:
        sys.exit("out of date: " + ", ".join(changed))


if __name__ == "__main__":
    main()
