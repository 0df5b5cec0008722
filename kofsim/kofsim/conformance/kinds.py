"""The kinds the collection touches, with a sample object of each, for the per-kind request sequence.

Built-in kinds carry hand-written objects. Custom resources get a minimal object built from their CRD's schema
(required fields only), so the suite follows whatever kcm / kof CRD files kofsim carries; a few kinds carry a
spec of their own where a CEL rule needs one branch (chartSpec xor chartRef) or the minimal object says little.
"""
from __future__ import annotations

import copy
import re

from .suite import crd_documents

LABEL = "conformance.kofsim.io/case"

BUILTIN = [
    # (group, version, plural, kind, namespaced, body without apiVersion/kind/metadata.name)
    ("", "v1", "namespaces", "Namespace", False, {}),
    ("", "v1", "secrets", "Secret", True, {"type": "Opaque", "stringData": {"user": "admin"},
                                           "data": {"pass": "c2VjcmV0"}}),
    ("", "v1", "configmaps", "ConfigMap", True, {"data": {"a": "1", "b": "two"}}),
    ("", "v1", "serviceaccounts", "ServiceAccount", True, {"automountServiceAccountToken": False}),
    ("", "v1", "services", "Service", True, {"spec": {"selector": {"app": "web"},
                                                      "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
    ("apps", "v1", "deployments", "Deployment", True, {"spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "registry.example/web:1.0", "ports": [{"containerPort": 8080}],
             "env": [{"name": "MODE", "value": "test"}]}]}}}}),
    ("", "v1", "pods", "Pod", True, {"spec": {"containers": [{"name": "main", "image": "registry.example/app:2.1",
                                                               "command": ["sleep", "3600"]}]}}),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, {"rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"},
                     {"kind": "User", "name": "alice"}]}),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True, {"rules": [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]}),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "Group", "name": "devs"}]}),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, {"provisioner": "example.com/nfs",
                                                                        "parameters": {"tier": "gold"}}),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, None),
]

# Custom kinds named in the brief, upstream (grafana-operator v5.13.0, Sveltos v0.45.0) and kofsim's own files.
UPSTREAM_KINDS = [("grafana.integreatly.org", "GrafanaDatasource"), ("grafana.integreatly.org", "Grafana"),
                  ("config.projectsveltos.io", "ClusterProfile"), ("config.projectsveltos.io", "ClusterSummary"),
                  ("config.projectsveltos.io", "Profile"), ("lib.projectsveltos.io", "SveltosCluster")]

# specs that say more than the required fields alone (still valid for the real server)
SPECS = {
    "GrafanaDatasource": {"instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                          "datasource": {"name": "prom", "type": "prometheus", "access": "proxy",
                                         "url": "http://prom:9090", "isDefault": False}},
    "Grafana": {"config": {"log": {"mode": "console"}}},
    "ClusterProfile": {"clusterSelector": {"matchLabels": {"env": "prod"}},
                       "helmCharts": [{"repositoryURL": "https://charts.example", "repositoryName": "ex",
                                       "chartName": "ex/app", "chartVersion": "1.0.0", "releaseName": "app",
                                       "releaseNamespace": "app", "helmChartAction": "Install"}]},
    "Profile": {"clusterSelector": {"matchLabels": {"env": "dev"}}},
    "ClusterTemplate": {"helm": {"chartSpec": {"chart": "aws-standalone-cp", "version": "0.1.0", "interval": "10m",
                                               "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}}}},
    "ServiceTemplate": {"helm": {"chartSpec": {"chart": "kof-storage", "version": "0.1.1", "interval": "10m",
                                               "sourceRef": {"kind": "HelmRepository", "name": "kof"}}}},
    "ProviderTemplate": {"helm": {"chartSpec": {"chart": "cluster-api", "version": "0.1.0", "interval": "10m",
                                                "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}}}},
    "ClusterTemplateChain": {"supportedTemplates": [{"name": "aws-standalone-cp-0-1-0"}]},
    "ServiceTemplateChain": {"supportedTemplates": [{"name": "kof-storage-0-1-1"}]},
    "ClusterDeployment": {"template": "aws-standalone-cp-0-1-0", "credential": "aws-cred",
                          "config": {"region": "us-east-2"}},
    "Credential": {"identityRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
                                   "kind": "AWSClusterStaticIdentity", "name": "aws-identity"}},
    "PromxyServerGroup": {"cluster_name": "regional-1", "scheme": "https", "targets": ["vmauth.example:443"],
                          "path_prefix": "/vm/select/0/prometheus"},
}


def _pick_version(crd: dict, origin: str) -> dict:
    """kcm and kof: v1alpha1 (the 0.1 generation); upstream: the storage version (v1beta1 for Sveltos)."""
    versions = crd["spec"]["versions"]
    if origin == "upstream":
        return next(v for v in versions if v.get("storage"))
    for want in ("v1alpha1", "v1beta1"):
        for v in versions:
            if v["name"] == want and v.get("served", True):
                return v
    return next(v for v in versions if v.get("storage"))


def minimal(schema: dict):
    """A smallest valid value of an openAPIV3Schema node: required fields only."""
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return 1
    if t == "object" or "properties" in schema:
        out = {}
        for r in schema.get("required") or []:
            sub = (schema.get("properties") or {}).get(r, {})
            out[r] = minimal(sub)
        return out
    if t == "array":
        n = schema.get("minItems", 0)
        return [minimal(schema.get("items") or {}) for _ in range(n)]
    if t == "integer" or t == "number":
        return max(schema.get("minimum", 1), 1)
    if t == "boolean":
        return False
    s = "x" * max(1, schema.get("minLength", 1))
    if schema.get("pattern") and not re.search(schema["pattern"], s):
        s = "a1"
    return s


class Kind:
    def __init__(self, group, version, plural, kind, namespaced, body, *, crd=None, origin="builtin",
                 status=False):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.body, self.crd, self.origin, self.status = namespaced, body, crd, origin, status

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def custom(self):
        return self.crd is not None

    def collection(self, ns: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced:
            return f"{base}/namespaces/{ns}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, ns, name, sub=None):
        return f"{self.collection(ns)}/{name}" + (f"/{sub}" if sub else "")

    def obj(self, name: str, ns: str | None, labels: dict | None = None) -> dict:
        meta = {"name": name, "labels": dict(labels or {})}
        if self.namespaced:
            meta["namespace"] = ns
        out = {"apiVersion": self.api_version, "kind": self.kind, "metadata": meta}
        out.update(copy.deepcopy(self.body or {}))
        return out


def test_crd(name_plural="widgets", group="conformance.kofsim.io") -> dict:
    """The suite's own CRD (for the CustomResourceDefinition kind): defaults, enum, pattern, CEL, status,
    scale, printer columns, int-or-string, preserve-unknown-fields, list-map."""
    kind = name_plural[:-1].capitalize()
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{name_plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": name_plural, "singular": name_plural[:-1], "kind": kind,
                           "listKind": f"{kind}List", "shortNames": [name_plural[:3]], "categories": ["conf"]},
                 "versions": [{
                     "name": "v1", "served": True, "storage": True,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                              "statusReplicasPath": ".status.replicas"}},
                     "additionalPrinterColumns": [
                         {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                         {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                         {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                     "schema": {"openAPIV3Schema": {
                         "type": "object",
                         "properties": {
                             "spec": {"type": "object", "required": ["size"],
                                      "x-kubernetes-validations": [
                                          {"rule": "self.replicas <= 10", "message": "at most 10 replicas",
                                           "fieldPath": ".replicas", "reason": "FieldValueForbidden"},
                                          {"rule": "self.size == oldSelf.size", "message": "size is immutable"},
                                          {"rule": "self.mode != 'locked' || has(self.owner)",
                                           "messageExpression": "'mode ' + self.mode + ' needs an owner'"}],
                                      "properties": {
                                          "size": {"type": "string", "enum": ["small", "medium", "large"]},
                                          "replicas": {"type": "integer", "default": 1, "minimum": 0},
                                          "mode": {"type": "string", "default": "open"},
                                          "owner": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 12},
                                          "port": {"x-kubernetes-int-or-string": True},
                                          "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                          "tags": {"type": "array", "items": {"type": "string"},
                                                   "x-kubernetes-list-type": "set"},
                                          "ports": {"type": "array", "x-kubernetes-list-type": "map",
                                                    "x-kubernetes-list-map-keys": ["name"],
                                                    "items": {"type": "object", "required": ["name"],
                                                              "properties": {"name": {"type": "string"},
                                                                             "port": {"type": "integer"}}}}}},
                             "status": {"type": "object", "properties": {
                                 "replicas": {"type": "integer"}, "phase": {"type": "string"}}}}}}}]}}


def custom_kinds() -> list[Kind]:
    out = []
    want_upstream = set(UPSTREAM_KINDS)
    for origin, crd in crd_documents():
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["kind"])
        if origin == "upstream" and key not in want_upstream:
            continue
        if origin != "upstream" and spec["group"] not in ("k0rdent.mirantis.com", "kof.k0rdent.mirantis.com"):
            continue
        v = _pick_version(crd, origin)
        schema = (v.get("schema") or {}).get("openAPIV3Schema") or {}
        body = {}
        spec_schema = (schema.get("properties") or {}).get("spec")
        if spec_schema is not None:
            body["spec"] = copy.deepcopy(SPECS.get(spec["names"]["kind"])) or minimal(spec_schema)
        out.append(Kind(spec["group"], v["name"], spec["names"]["plural"], spec["names"]["kind"],
                        spec["scope"] == "Namespaced", body, crd=crd, origin=origin,
                        status="status" in (v.get("subresources") or {})))
    return out


def builtin_kinds() -> list[Kind]:
    out = []
    for g, v, p, k, nsd, body in BUILTIN:
        if k == "CustomResourceDefinition":
            body = {"spec": test_crd("gadgets")["spec"]}
        status = p in ("namespaces", "services", "deployments", "pods", "persistentvolumeclaims",
                       "customresourcedefinitions")
        out.append(Kind(g, v, p, k, nsd, body, status=status))
    return out
