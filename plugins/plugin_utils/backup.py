# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""KOF backup and restore ("Maintenance - Backup Requirements": Grafana configurations, alert definitions, custom
dashboards, retention policies), from the management cluster and each regional cluster (reached through its
kubeconfig Secret).

Archive `kof-backup-<UTC timestamp>.tar.gz`:
  manifest.yaml                                  format, digest, per cluster: objects, helm releases, retention
  <cluster>/objects/<Kind>/<namespace>/<name>.yaml   objects stripped of server fields
  <cluster>/helm/<namespace>/<release>.yaml      chart, version and the user-supplied values of a release
  secrets.vault                                  only on request: the referenced Secrets, ansible-vault encrypted
Secrets are otherwise referenced (cluster, namespace, name, key names), never exported.
"""
from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time

import yaml

from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path

FORMAT = "k0rdent.kof/backup/v1"
MANAGEMENT = "management"
PREFIX = "kof-backup-"
# Restore order follows this list: instances and folders before what refers to them.
DEFAULT_KINDS = [
    "grafana.integreatly.org/v1beta1/Grafana",
    "grafana.integreatly.org/v1beta1/GrafanaFolder",
    "grafana.integreatly.org/v1beta1/GrafanaDatasource",
    "grafana.integreatly.org/v1beta1/GrafanaDashboard",
    "grafana.integreatly.org/v1beta1/GrafanaContactPoint",
    "grafana.integreatly.org/v1beta1/GrafanaNotificationPolicy",
    "grafana.integreatly.org/v1beta1/GrafanaAlertRuleGroup",
    "operator.victoriametrics.com/v1beta1/VMRule",
    "operator.victoriametrics.com/v1beta1/VMAlertmanagerConfig",
    "operator.victoriametrics.com/v1beta1/VMAlertmanager",
    "operator.victoriametrics.com/v1beta1/VMAlert",
    "operator.victoriametrics.com/v1beta1/VMCluster",
    "operator.victoriametrics.com/v1beta1/VMSingle",
    "monitoring.coreos.com/v1/PrometheusRule",
]
SECRET_VALUE_KEY = re.compile(r"(password|passwd|token|secret_?key|private_?key|api_?key|credentials)$", re.I)
SECRET_NAME_KEY = re.compile(r"(secret_?name|secretname|existingsecret|existing_?secret_?name)$", re.I)
REDACTED = "<redacted: not exported>"


class BackupError(Exception):
    pass


def split_kind(spec: str) -> tuple[str, str]:
    api_version, _sep, kind = spec.rpartition("/")
    if not api_version or not kind or not kind[:1].isupper():
        raise BackupError(f"kind {spec!r} must be <group>/<version>/<Kind>, e.g. grafana.integreatly.org/v1beta1/"
                          "GrafanaDashboard")
    return api_version, kind


def list_everywhere(kube, api_version: str, plural: str) -> list[dict]:
    return kube.list_all(object_path(api_version, plural, None))[0]


# ------------------------------------------------------------------------------------------- helm
def decode_release(secret: dict, defaults: bool = False) -> dict | None:
    """A helm 3/4 release record (Secret type helm.sh/release.v1: base64 of gzip'ed JSON, base64 again as Secret
    data) reduced to what a backup needs: chart, version and the user-supplied values (defaults: the chart's own
    values too, as `defaults`)."""
    try:
        blob = base64.b64decode(base64.b64decode((secret.get("data") or {}).get("release", "")))
        if blob[:3] == b"\x1f\x8b\x08":
            blob = gzip.decompress(blob)
        rel = json.loads(blob)
    except (ValueError, OSError, EOFError):
        return None
    chart = ((rel.get("chart") or {}).get("metadata") or {})
    out = {"name": rel.get("name"), "namespace": rel.get("namespace"), "revision": rel.get("version"),
           "chart": chart.get("name"), "version": chart.get("version"), "values": rel.get("config") or {}}
    if defaults:
        out["defaults"] = (rel.get("chart") or {}).get("values") or {}
    return out


def helm_releases(kube, namespace: str) -> list[dict]:
    data = kube.list(object_path("v1", "secrets", namespace),
                     {"labelSelector": "owner=helm,status=deployed"})
    out = []
    for sec in data.get("items") or []:
        rel = decode_release(sec)
        if rel and rel["name"]:
            rel["values"] = redact(rel["values"])
            out.append(rel)
    return sorted(out, key=lambda r: r["name"])


def redact(node):
    """Values whose key names a credential are replaced: a backup references secrets, it does not carry them."""
    if isinstance(node, dict):
        return {k: (REDACTED if isinstance(k, str) and SECRET_VALUE_KEY.search(k) and isinstance(v, (str, int))
                    and v != "" else redact(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v) for v in node]
    return node


def find_key(node, key: str, path=()) -> list[tuple[str, object]]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and not isinstance(v, (dict, list)):
                out.append((".".join(path + (k,)), v))
            else:
                out += find_key(v, key, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += find_key(v, key, path + (str(i),))
    return out


# ------------------------------------------------------------------------------------ secret refs
def secret_refs(obj: dict) -> set[tuple[str, str]]:
    """(namespace, name) of the Secrets an object points at: secretKeyRef / secretRef / secretName and the
    *secret_name conventions of the KOF charts."""
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    out = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("secretKeyRef", "secretRef") and isinstance(v, dict) and v.get("name"):
                    out.add((v.get("namespace") or ns, v["name"]))
                elif isinstance(v, str) and v and SECRET_NAME_KEY.search(k):
                    out.add((ns, v))
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk({k: v for k, v in obj.items() if k not in ("metadata", "status")})
    return out


# ------------------------------------------------------------------------------------------ export
def collect(kube, kinds: list[str], helm_namespace: str) -> dict:
    """Everything of one cluster that a backup holds (objects cleaned; secret references, not values)."""
    resources = day2.Resources(kube)
    objects, not_served = [], []
    for spec in kinds:
        api_version, kind = split_kind(spec)
        found = resources.lookup(api_version, kind)
        if found is None:
            not_served.append(spec)
            continue
        items = list_everywhere(kube, api_version, found[0])
        for item in items:
            item["apiVersion"], item["kind"] = api_version, kind
            objects.append(day2.clean(item))
    objects.sort(key=lambda o: (kinds_index(kinds, o), o["metadata"].get("namespace") or "", o["metadata"]["name"]))
    try:
        releases = helm_releases(kube, helm_namespace)
    except KubeError as err:
        if err.status != 404:
            raise
        releases = []
    retention = []
    for o in objects:
        for path, value in find_key(o.get("spec") or {}, "retentionPeriod"):
            retention.append({"source": day2.ref(o), "path": "spec." + path, "value": value})
    for rel in releases:
        for path, value in find_key(rel["values"], "retentionPeriod"):
            retention.append({"source": f"helm release {rel['namespace']}/{rel['name']} values", "path": path,
                              "value": value})
    refs = {}
    for o in objects:
        for key in secret_refs(o):
            refs.setdefault(key, set()).add(day2.ref(o))
    for rel in releases:
        for key in secret_refs({"metadata": {"namespace": rel["namespace"]}, "values": rel["values"]}):
            refs.setdefault(key, set()).add(f"helm release {rel['namespace']}/{rel['name']}")
    return {"objects": objects, "not_served": not_served, "releases": releases, "retention": retention,
            "refs": refs}


def kinds_index(kinds: list[str], obj: dict) -> int:
    key = f"{obj['apiVersion']}/{obj['kind']}"
    return kinds.index(key) if key in kinds else len(kinds)


def resolve_secrets(kube, refs: dict, extra: list[tuple[str, str]], include: bool) -> tuple[list, list]:
    """References (with key names and existence) and, when `include`, the Secret objects themselves."""
    for key in extra:
        refs.setdefault(key, set()).add("collection settings")
    out_refs, secrets = [], []
    for (ns, name), users in sorted(refs.items()):
        sec = kube.get(object_path("v1", "secrets", ns, name)) if ns else None
        out_refs.append({"namespace": ns, "name": name, "exists": sec is not None,
                         "keys": sorted((sec or {}).get("data") or {}), "referenced_by": sorted(users)})
        if include and sec is not None:
            keep = day2.clean(sec)
            keep.setdefault("apiVersion", "v1")
            keep.setdefault("kind", "Secret")
            secrets.append(keep)
    return out_refs, secrets


def _obj_file(cluster: str, obj: dict) -> str:
    meta = obj["metadata"]
    return f"{cluster}/objects/{obj['kind']}/{meta.get('namespace') or '_cluster'}/{meta['name']}.yaml"


def plain(data):
    """Task arguments arrive as Ansible's tagged str/list/dict subclasses, which YAML cannot represent."""
    return json.loads(json.dumps(data))


def build(clusters: dict, secrets_plain: dict | None, meta: dict) -> tuple[dict, dict]:
    """(manifest, {archive path: text}) for collected clusters; the digest ignores the creation time."""
    clusters = {str(k): v for k, v in clusters.items()}
    meta = plain(meta)
    files, manifest_clusters, refs = {}, {}, []
    for cluster, data in clusters.items():
        entry = {"objects": [], "helm_releases": [], "retention": data["retention"],
                 "not_served": data["not_served"]}
        for obj in data["objects"]:
            path = _obj_file(cluster, obj)
            files[path] = yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)
            entry["objects"].append({"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                                     "namespace": obj["metadata"].get("namespace"), "name": obj["metadata"]["name"],
                                     "helm_owned": day2.helm_owned(obj), "file": path})
        for rel in data["releases"]:
            path = f"{cluster}/helm/{rel['namespace']}/{rel['name']}.yaml"
            files[path] = yaml.safe_dump(rel, sort_keys=True, default_flow_style=False)
            entry["helm_releases"].append({"name": rel["name"], "namespace": rel["namespace"], "chart": rel["chart"],
                                           "version": rel["version"], "file": path})
        for r in data.get("secret_refs", []):
            refs.append(dict(r, cluster=cluster))
        manifest_clusters[cluster] = entry
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    h.update(json.dumps(refs, sort_keys=True).encode())
    if secrets_plain is not None:
        # the digest must notice changed credentials without carrying them: a hash of a hash of the data
        h.update(hashlib.sha256(json.dumps(secrets_plain, sort_keys=True).encode()).hexdigest().encode())
    manifest = dict(meta, format=FORMAT, digest=h.hexdigest(), clusters=manifest_clusters,
                    secrets={"included": secrets_plain is not None, "references": refs,
                             "file": "secrets.vault" if secrets_plain is not None else None})
    return manifest, files


def newest_archive(directory: str) -> str | None:
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(PREFIX) and n.endswith(".tar.gz"))
    except FileNotFoundError:
        return None
    return os.path.join(directory, names[-1]) if names else None


def read_manifest(path: str) -> dict:
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("/manifest.yaml")
                           and m.name.count("/") == 1), None)
            if member is None:
                raise BackupError(f"{path} has no manifest.yaml: not a KOF backup archive")
            manifest = yaml.safe_load(tar.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BackupError(f"cannot read the backup archive {path}: {err}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format') if isinstance(manifest, dict) else '?'}"
                          f" (expected {FORMAT})")
    return manifest


def write_archive(path: str, manifest: dict, files: dict, vault_text: bytes | None) -> None:
    top = os.path.basename(path)[:-len(".tar.gz")]
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name, data: bytes):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(data), now, 0o600
            tar.addfile(info, io.BytesIO(data))
        add("manifest.yaml", yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False).encode())
        for name in sorted(files):
            add(name, files[name].encode())
        if vault_text is not None:
            add("secrets.vault", vault_text)
    day2.write_private(path, buf.getvalue())


def read_archive(path: str) -> tuple[dict, dict]:
    manifest = read_manifest(path)
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and "/" in member.name:
                files[member.name.split("/", 1)[1]] = tar.extractfile(member).read()
    return manifest, files


# ----------------------------------------------------------------------------------------- restore
def restore_plan(manifest: dict, files: dict, clusters: list | None, include_helm_owned: bool) -> dict:
    """{cluster: [(object, skip reason or None)]} in restore order."""
    plan = {}
    for cluster, entry in (manifest.get("clusters") or {}).items():
        if clusters and cluster not in clusters:
            continue
        items = []
        for rec in entry.get("objects") or []:
            obj = yaml.safe_load(files[rec["file"]])
            skip = None
            if rec.get("helm_owned") and not include_helm_owned:
                skip = "rendered by a helm release (restored by re-installing it with the backed-up values)"
            items.append((obj, skip))
        plan[cluster] = items
    return plan


def values_drift(backed_up: dict, live: dict) -> list[str]:
    """Top-level value keys whose content differs between a backed-up release and the deployed one."""
    keys = sorted(set(backed_up) | set(live))
    return [k for k in keys if redact(copy.deepcopy(live.get(k))) != backed_up.get(k)]
