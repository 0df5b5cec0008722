# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Fleet health, as the guide's "Verification" section checks it, for every regional and child cluster:
the ClusterDeployment Ready (current generation), its Sveltos ClusterSummaries Provisioned, and, through the
cluster's `<name>-kubeconfig` Secret, Running pods in the expected namespaces. Regional clusters also need their
PromxyServerGroup and GrafanaDatasource on the management cluster. Credentials read on the way (kubeconfigs,
the promxy config) stay in this process: results hold names and states only.
"""
from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources
from ansible_collections.k0rdent.kof.plugins.module_utils.converge import condition, is_ready
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import Kube, KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils.day2 import cluster_namespace, kube_from_secret
from ansible_collections.k0rdent.kof.plugins.plugin_utils.fleet import live_by_name
from ansible_collections.k0rdent.kof.plugins.plugin_utils.report import ordered

REGIONAL_NAMESPACES = ["cert-manager", "ingress-nginx", "kof", "kube-system", "projectsveltos"]
CHILD_NAMESPACES = ["kof", "kube-system", "projectsveltos"]
REGION_LABEL = "k0rdent.mirantis.com/kof-regional-cluster-name"


def pod_problem(pod: dict) -> str | None:
    st = pod.get("status") or {}
    name = pod["metadata"]["name"]
    if st.get("phase") == "Succeeded":
        return None
    for cs in st.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"pod {name} {waiting.get('reason', 'Waiting')}"
    if st.get("phase") != "Running":
        return f"pod {name} {st.get('phase', 'Unknown')}"
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    if not ready or ready.get("status") != "True":
        return f"pod {name} not Ready"
    return None


def check_workload_cluster(kube: Kube, namespaces: list, grafana_namespace: str | None = None) -> tuple[dict, list]:
    """Pods per expected namespace of one cluster (its client, closed here): ({ns: 'ready/total'}, problems).
    grafana_namespace: also the Grafanas there (KOF 0.1.1's kof-storage), whose operator may be stuck at a stage
    while the old pods still run."""
    grafanas = []
    try:
        pods = kube.list("/api/v1/pods").get("items") or []
        if grafana_namespace:
            try:
                grafanas = kube.list(object_path("grafana.integreatly.org/v1beta1", "grafanas",
                                                 grafana_namespace)).get("items") or []
            except KubeError as err:
                if err.status != 404:  # 404: no grafana-operator there
                    raise
    finally:
        kube.close()
    per_ns, problems = pod_health(pods, namespaces)
    return per_ns, problems + grafana_problems(grafanas)


def grafana_problems(grafanas: list) -> list:
    """grafana-operator (v5.13/v5.15) stops at the first stage that fails and says why in status.lastMessage."""
    out = []
    for g in grafanas:
        st = g.get("status") or {}
        if st.get("stageStatus") == "failed":
            out.append(f"Grafana {g['metadata'].get('namespace')}/{g['metadata']['name']}: stage {st.get('stage')} "
                       f"failed: {str(st.get('lastMessage') or '')[:240]}")
    return out


def pod_health(pods: list, namespaces: list) -> tuple[dict, list]:
    """({ns: 'ready/total'}, problems) of the pods of the expected namespaces; an empty namespace is a problem."""
    per_ns, problems = {}, []
    for ns in namespaces:
        mine = [p for p in pods if p["metadata"].get("namespace") == ns]
        bad = [pod_problem(p) for p in mine]
        bad = [b for b in bad if b]
        per_ns[ns] = f"{len(mine) - len(bad)}/{len(mine)}"
        if not mine:
            problems.append(f"no pods in namespace {ns}")
        problems += [f"{ns}: {b}" for b in bad[:3]]
        if len(bad) > 3:
            problems.append(f"{ns}: {len(bad) - 3} more pods not Running")
    return per_ns, problems


class FleetHealth:
    def __init__(self, kube: Kube, *, api_version: str, kcm_namespace: str, kof_namespace: str,
                 validate_certs=True, concurrency: int = 8, flow: str = "0.1", namespaces: dict | None = None,
                 config_map_only=(), management_storage: str = "", system_namespace: str = "kcm-system"):
        # flow "1.x": services come from kcm's ServiceSets (MultiClusterServices), kof-operator registers regional
        # clusters with a PromxyServerGroup in the ClusterDeployment's namespace, and no GrafanaDatasource is made
        self.flow = flow
        self.mcs_services: dict = {}  # 1.x: {MultiClusterService: [its services]}
        self.kube = kube
        self.api_version = api_version
        self.kcm_ns = kcm_namespace
        # {cluster: its ClusterDeployment's namespace} for the clusters outside kcm_namespace (KOF 1.x tenants)
        self.namespaces = dict(namespaces or {})
        self.all_namespaces = sorted({kcm_namespace, *self.namespaces.values()})  # one list per namespace in use
        self.kof_ns = kof_namespace
        self.validate_certs = validate_certs
        self.concurrency = concurrency
        # KOF 1.x regional clusters announced only by a ConfigMap: no ClusterDeployment to read, no workload
        # cluster to reach; healthy when kof-operator has registered them with promxy
        self.config_map_only = set(config_map_only or ())
        # KOF 1.10 regionless mode: the management cluster holds the storage, known to kof-operator by this name;
        # kof-regional's ServiceSet for it is kcm's self-management one (no cluster) in the system namespace
        self.management_storage = management_storage if flow == "1.x" else ""
        self.system_ns = system_namespace

    def ns_of(self, name: str) -> str:
        return cluster_namespace(name, self.namespaces, self.kcm_ns)

    def _management_objects(self):
        """The ClusterDeployments, their Sveltos summaries (1.x: ServiceSets) and kubeconfig Secrets, keyed by
        (namespace, cluster name): one list per namespace the fleet uses."""
        cds, summaries, kubeconfigs = {}, {}, {}
        for ns in self.all_namespaces:
            cds.update({(ns, n): cd for n, cd in live_by_name(
                self.kube, object_path(self.api_version, "clusterdeployments", ns)).items()})
            if self.flow != "1.x":
                try:
                    items = live_by_name(self.kube, object_path("config.projectsveltos.io/v1beta1",
                                                                "clustersummaries", ns))
                    for s in items.values():
                        cluster = (s.get("spec") or {}).get("clusterName") or \
                                  (s["metadata"].get("labels") or {}).get("projectsveltos.io/cluster-name")
                        summaries.setdefault((ns, cluster), []).append(s)
                except KubeError as err:
                    if err.status != 404:
                        raise
            secrets = self.kube.list(object_path("v1", "secrets", ns),
                                     {"fieldSelector": "type=cluster.x-k8s.io/secret"}).get("items") or []
            kubeconfigs.update({(ns, s["metadata"]["name"][:-len("-kubeconfig")]): s for s in secrets
                                if s["metadata"]["name"].endswith("-kubeconfig")})
        if self.flow == "1.x":  # the ServiceSets stand in for the summaries: one per cluster and MultiClusterService
            try:
                set_namespaces = sorted(set(self.all_namespaces) | ({self.system_ns} if self.management_storage
                                                                    else set()))
                for ns in set_namespaces:
                    for s in live_by_name(self.kube, object_path(self.api_version, "servicesets", ns)).values():
                        summaries.setdefault((ns, (s.get("spec") or {}).get("cluster")), []).append(s)
                self.mcs_services = kof_resources.multi_cluster_service_names(
                    self.kube.list(object_path(self.api_version, "multiclusterservices", None)).get("items"))
            except KubeError as err:
                if err.status != 404:
                    raise
        return cds, summaries, kubeconfigs

    def _registrations(self, psg_api_version: str):
        out = {"psg": set(), "gds": {}, "promxy": set(), "grafanas": []}
        try:
            # 1.x: kof-operator puts each regional's PromxyServerGroup in the regional's namespace
            psg_nss = self.all_namespaces if self.flow == "1.x" else [self.kof_ns]
            for psg_ns in psg_nss:
                for p in (self.kube.list(object_path(psg_api_version, "promxyservergroups", psg_ns))
                          .get("items") or []):
                    out["psg"].add((p.get("spec") or {}).get("cluster_name"))
        except KubeError as err:
            if err.status != 404:
                raise
        if self.flow == "1.x":
            return out
        try:
            for d in (self.kube.list(object_path("grafana.integreatly.org/v1beta1", "grafanadatasources",
                                                 self.kof_ns)).get("items") or []):
                out["gds"][((d.get("spec") or {}).get("datasource") or {}).get("name")] = d
            if out["gds"]:
                out["grafanas"] = self.kube.list(object_path("grafana.integreatly.org/v1beta1", "grafanas",
                                                             None)).get("items") or []
        except KubeError as err:
            if err.status != 404:
                raise
        return out

    def check(self, regional: list, child: list, *, psg_api_version: str, promxy_secret: str | None,
              child_regions: dict | None = None) -> list[dict]:
        cds, summaries, kubeconfigs = self._management_objects()
        storage = bool(regional) or bool(self.management_storage)
        regs = self._registrations(psg_api_version) if storage else {"psg": set(), "gds": {}}
        rendered = self._promxy_clusters(promxy_secret) if storage and promxy_secret else None
        clusters = [(n, "regional") for n in regional] + [(n, "child") for n in child]
        if self.management_storage:
            clusters.insert(0, (self.management_storage, "management"))
        results = {}

        def one(item):
            name, tier = item
            if tier == "management":
                return name, self._check_management(name, summaries.get((self.system_ns, ""), []), regs, rendered)
            key = (self.ns_of(name), name)
            return name, self._check_one(name, tier, cds.get(key), summaries.get(key, []),
                                         kubeconfigs.get(key), regs, rendered, (child_regions or {}).get(name, ""))
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(clusters) or 1))) as pool:
            for name, res in pool.map(one, clusters):
                results[name] = res
        return ordered([results[n] for n, _tier in clusters])

    def _promxy_clusters(self, secret_name):
        sec = self.kube.get(object_path("v1", "secrets", self.kof_ns, secret_name))
        if not sec:
            return set()
        try:
            cfg = yaml.safe_load(base64.b64decode((sec.get("data") or {}).get("config.yaml", "")) or b"") or {}
        except (ValueError, yaml.YAMLError):
            return set()
        groups = ((cfg.get("promxy") or {}).get("server_groups") or [])
        return {(g.get("labels") or {}).get("promxyCluster") for g in groups}

    def _check_one(self, name, tier, cd, summaries, kc_secret, regs, rendered, inventory_region=""):
        res = {"name": name, "tier": tier, "problems": [], "pods": {}}
        if tier == "regional" and name in self.config_map_only:
            res.update(region=name, services="none (regional ConfigMap)")
            if cd is not None:
                res["problems"].append("a ClusterDeployment of this name exists, but the inventory says the "
                                       "regional cluster is only a ConfigMap (kof_regional_configmap_only)")
            self._registration(res, name, regs, rendered)
            # ready: registered (nothing else of it is the collection's to wait for)
            res["ready"] = not res["problems"]
            res["state"] = "healthy" if res["ready"] else "unhealthy"
            return res
        if cd is None:
            # the inventory says where a child belongs, so the report still draws it in its region
            res.update(state="missing", ready=False, region=name if tier == "regional" else inventory_region)
            res["problems"].append("ClusterDeployment not found")
            return res
        labels = cd["metadata"].get("labels") or {}
        res["region"] = name if tier == "regional" else (labels.get(REGION_LABEL) or inventory_region)
        res["ready"] = is_ready(cd)
        if not res["ready"]:
            cond = condition(cd, "Ready") or {}
            res["problems"].append(f"ClusterDeployment not Ready: {cond.get('reason', 'no Ready condition')}"
                                   + (f": {cond['message']}" if cond.get("message") else ""))
        res["services"] = "none"
        namespaces = REGIONAL_NAMESPACES if tier == "regional" else CHILD_NAMESPACES
        if self.flow == "1.x":
            namespaces = self._service_sets(res, tier, summaries)
        for s in summaries if self.flow != "1.x" else ():
            st = s.get("status") or {}
            for f in st.get("featureSummaries") or []:
                if f.get("status") != "Provisioned":
                    res["problems"].append(f"Sveltos {s['metadata']['name']}: {f.get('featureID')} {f.get('status')}"
                                           + (f": {f['failureMessage']}" if f.get("failureMessage") else ""))
            for h in st.get("helmReleaseSummaries") or []:
                if h.get("status") != "Managing":
                    res["problems"].append(f"helm release {h.get('releaseName')}: {h.get('status')}")
        if summaries and self.flow != "1.x":
            res["services"] = "Provisioned" if not any("Sveltos" in p for p in res["problems"]) else "Failed"
        if tier == "regional":
            self._registration(res, name, regs, rendered)
            if self.flow == "1.x":
                pass  # KOF 1.10's kof-operator makes no GrafanaDatasource (Grafana is off by default since 1.7)
            elif name not in regs["gds"]:
                res["problems"].append("no GrafanaDatasource for this cluster's logs on the management cluster")
            else:
                gds = regs["gds"][name]
                selected = None
                if not (gds.get("status") or {}).get("conditions"):
                    selected = [g for g in regs["grafanas"] if match_selector(
                        (gds.get("spec") or {}).get("instanceSelector") or {}, g["metadata"].get("labels") or {})]
                synced, _observed, why = kof_resources.datasource_synchronized(gds, None, selected)
                if not synced:
                    res["problems"].append(f"GrafanaDatasource {gds['metadata'].get('namespace')}/"
                                           f"{gds['metadata']['name']} not synchronized with Grafana: {why}")
        if res["ready"]:
            if kc_secret is None:
                res["problems"].append(f"kubeconfig Secret {name}-kubeconfig not found")
            else:
                try:
                    per_ns, problems = check_workload_cluster(
                        kube_from_secret(kc_secret, name, self.ns_of(name), verify=self.validate_certs is not False,
                                         timeout=20),
                        namespaces, grafana_namespace=self.kof_ns if tier == "regional" and self.flow == "0.1"
                        else None)
                    res["pods"] = per_ns
                    res["problems"] += problems
                except KubeError as err:
                    res["problems"].append(f"cannot read the cluster through its kubeconfig: {str(err)[:160]}")
        res["state"] = "healthy" if not res["problems"] else "unhealthy"
        return res

    def _check_management(self, name, service_sets, regs, rendered):
        """Regionless mode: the management cluster's storage as a row of its own (tier management) - kof-regional's
        ServiceSet of the management cluster, kof-operator's PromxyServerGroup for it (promxy serves it), and the
        pods of its services' namespaces, read with the management cluster's own client."""
        res = {"name": name, "tier": "management", "region": name, "problems": [], "pods": {}}
        namespaces = [ns for ns in self._service_sets(res, "regional", service_sets) if ns != "kube-system"]
        res["ready"] = res["services"] == "Deployed"
        self._registration(res, name, regs, rendered)
        if res["ready"]:
            pods = [p for ns in namespaces for p in self.kube.list(object_path("v1", "pods", ns)).get("items") or []]
            res["pods"], problems = pod_health(pods, namespaces)
            res["problems"] += problems
        res["state"] = "healthy" if not res["problems"] else "unhealthy"
        return res

    @staticmethod
    def _registration(res, name, regs, rendered):
        """A regional cluster's PromxyServerGroup, and promxy's rendering of it, into res."""
        if name not in regs["psg"]:
            res["problems"].append("no PromxyServerGroup for this cluster on the management cluster")
        elif rendered is not None and name not in rendered:
            res["problems"].append("promxy has not rendered this cluster's PromxyServerGroup yet")

    def _service_sets(self, res, tier, service_sets):
        """KOF 1.x: what KOF's MultiClusterServices deployed to the cluster (its ServiceSets), into res; returns
        the namespaces whose pods to check (the services' own, and kube-system)."""
        state, msg, _services, namespaces = kof_resources.cluster_services_state(service_sets, tier,
                                                                                 mcs_services=self.mcs_services)
        res["services"] = {"ready": "Deployed", "failed": "Failed"}.get(state, "Pending" if namespaces else "none")
        if state != "ready":
            res["problems"].append(msg)
        return sorted(set(namespaces) | {"kube-system"})


def match_selector(selector: dict, labels: dict) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) or \
                (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def wait_healthy(health: FleetHealth, regional, child, *, timeout: float, interval: float = 5.0, **kw):
    """Re-check until every cluster is healthy or the timeout passes; returns the last results."""
    deadline = time.monotonic() + timeout
    while True:
        results = health.check(regional, child, **kw)
        if all(r["state"] == "healthy" for r in results) or time.monotonic() + interval > deadline:
            return results
        time.sleep(interval)
