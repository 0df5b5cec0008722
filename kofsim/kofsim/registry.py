"""Resource types a cluster serves: the built-in kinds and those registered by CustomResourceDefinitions."""
from __future__ import annotations

from dataclasses import dataclass, field

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: list = field(default_factory=list)
    verbs: list = field(default_factory=lambda: list(VERBS))
    categories: list = field(default_factory=list)
    status: bool = False           # has a /status subresource
    scale: dict | None = None      # {specReplicasPath, statusReplicasPath, labelSelectorPath}
    generation: bool = False       # metadata.generation is tracked
    builtin: bool = True
    storage_version: str = ""      # CRDs: the version objects are stored at
    schema: dict | None = None     # CRDs: openAPIV3Schema of this version
    printer_columns: list = field(default_factory=list)
    extra_subresources: list = field(default_factory=list)  # e.g. ["log"], ["token"], ["finalize"]
    strategic: bool = True         # accepts strategic-merge-patch (built-ins only)

    def __post_init__(self):
        if not self.singular:
            self.singular = self.kind.lower()
        if not self.storage_version:
            self.storage_version = self.version

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple:
        """Storage identity: every served version of a group/resource shares one object set."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


def _b(group, version, kind, plural, namespaced, short=(), status=False, scale=None, generation=False,
       verbs=None, extra=(), categories=()):
    return ResourceType(group, version, kind, plural, namespaced, short_names=list(short), status=status,
                        scale=scale, generation=generation, verbs=list(verbs or VERBS), extra_subresources=list(extra),
                        categories=list(categories))


_REPLICAS = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
             "labelSelectorPath": ".status.selector"}

BUILTINS = [
    _b("", "v1", "Namespace", "namespaces", False, ["ns"], status=True,
       verbs=["create", "delete", "get", "list", "patch", "update", "watch"], extra=["finalize"]),
    _b("", "v1", "Pod", "pods", True, ["po"], status=True, generation=True, extra=["log"], categories=["all"]),
    _b("", "v1", "Service", "services", True, ["svc"], status=True,
       verbs=["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"], categories=["all"]),
    _b("", "v1", "ConfigMap", "configmaps", True, ["cm"]),
    _b("", "v1", "Secret", "secrets", True),
    _b("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"], extra=["token"]),
    _b("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"], status=True),
    _b("", "v1", "PersistentVolume", "persistentvolumes", False, ["pv"], status=True),
    _b("", "v1", "Event", "events", True, ["ev"]),
    _b("", "v1", "Endpoints", "endpoints", True, ["ep"]),
    _b("", "v1", "Node", "nodes", False, ["no"], status=True),
    _b("", "v1", "ResourceQuota", "resourcequotas", True, ["quota"], status=True),
    _b("", "v1", "LimitRange", "limitranges", True, ["limits"]),
    _b("apps", "v1", "Deployment", "deployments", True, ["deploy"], status=True, scale=_REPLICAS, generation=True,
       categories=["all"]),
    _b("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], status=True, scale=_REPLICAS, generation=True,
       categories=["all"]),
    _b("apps", "v1", "StatefulSet", "statefulsets", True, ["sts"], status=True, scale=_REPLICAS, generation=True,
       categories=["all"]),
    _b("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"], status=True, generation=True, categories=["all"]),
    _b("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    _b("batch", "v1", "Job", "jobs", True, status=True, generation=True, categories=["all"]),
    _b("batch", "v1", "CronJob", "cronjobs", True, ["cj"], status=True, generation=True, categories=["all"]),
    _b("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _b("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _b("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _b("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _b("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
       ["crd", "crds"], status=True, generation=True),
    _b("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ["sc"]),
    _b("networking.k8s.io", "v1", "Ingress", "ingresses", True, ["ing"], status=True, generation=True),
    _b("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _b("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ["netpol"], generation=True),
    _b("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"], status=True, generation=True),
    _b("coordination.k8s.io", "v1", "Lease", "leases", True),
    _b("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
       False, generation=True),
    _b("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
       False, generation=True),
    _b("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ["hpa"], status=True,
       generation=True),
    _b("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ["pc"]),
    _b("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    _b("events.k8s.io", "v1", "Event", "events", True, ["ev"]),
    _b("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
       verbs=["create"]),
    _b("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False, verbs=["create"]),
]
# Kinds without generation tracking, status or strategic patch are the common case; CRDs never take
# strategic merge patch (kube-apiserver answers 415).

# Preferred version per group (what /apis advertises first).
GROUP_ORDER = ["", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "autoscaling",
               "batch", "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
               "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
               "coordination.k8s.io", "discovery.k8s.io"]


class Registry:
    """The (group, version, resource) → ResourceType map of one cluster, built-ins plus CRDs."""

    def __init__(self):
        self.by_gvr: dict[tuple, ResourceType] = {}
        self.groups: dict[str, list[str]] = {}  # group -> versions in preference order
        self.generation = 0  # bumped on every change (caches of discovery/openapi documents key on it)
        # by_kind / versions_of answers of this generation: every read and write looks its type up, and a fleet's
        # management cluster serves a few hundred types
        self._lookups: tuple[int, dict] = (-1, {})
        for rt in BUILTINS:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self.generation += 1
        self.by_gvr[(rt.group, rt.version, rt.plural)] = rt
        versions = self.groups.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
            versions.sort(key=_version_priority, reverse=True)

    def remove(self, group: str, version: str, plural: str) -> None:
        self.generation += 1
        self.by_gvr.pop((group, version, plural), None)
        self._regroup(group)

    def remove_group_resource(self, group: str, plural: str) -> None:
        self.generation += 1
        for key in [k for k in self.by_gvr if k[0] == group and k[2] == plural]:
            del self.by_gvr[key]
        self._regroup(group)

    def _regroup(self, group: str) -> None:
        still = {k[1] for k in self.by_gvr if k[0] == group}
        if still:
            self.groups[group] = sorted(still, key=_version_priority, reverse=True)
        else:
            self.groups.pop(group, None)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self.by_gvr.get((group, version, plural))

    def _memo(self) -> dict:
        if self._lookups[0] != self.generation:
            self._lookups = (self.generation, {})
        return self._lookups[1]

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        memo = self._memo()
        key = ("kind", api_version, kind)
        if key not in memo:
            group, _, version = api_version.rpartition("/")
            memo[key] = next((rt for (g, v, _), rt in self.by_gvr.items()
                              if g == group and v == version and rt.kind == kind), None)
        return memo[key]

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return [rt for (g, v, _), rt in self.by_gvr.items() if g == group and v == version]

    def versions_of(self, group: str, plural: str) -> list[ResourceType]:
        memo = self._memo()
        key = ("versions", group, plural)
        if key not in memo:
            memo[key] = tuple(rt for (g, _, p), rt in self.by_gvr.items() if g == group and p == plural)
        return list(memo[key])

    def group_names(self) -> list[str]:
        known = [g for g in GROUP_ORDER if g in self.groups]
        return known + sorted(g for g in self.groups if g not in GROUP_ORDER)


def _version_priority(v: str):
    """Kubernetes version ordering: GA > beta > alpha, then by number (v1 > v1beta2 > v1beta1 > v1alpha1)."""
    import re
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (-1, 0, 0, v)
    major = int(m.group(1))
    stage = {"alpha": 0, "beta": 1, None: 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, major, minor, "")
