"""What each service that a ClusterDeployment lists creates on its cluster, as Sveltos would see after a
successful `helm install`: namespaces, workloads (made Running by kofsim's built-in controllers), Services,
CRDs the chart ships, and the helm release record. Names follow the real charts (KOF 0.1.1 era).

kofsim does not render the real charts on virtual clusters (a fleet of hundreds would be too slow); it
creates the objects the collection and the guide's verification steps look at. The values that matter for
names (vmauth host, cluster name, external-dns on/off, opencost) are read from the service's values.
"""
from __future__ import annotations

import yaml

# chart name (ServiceTemplate spec.helm.chartSpec.chart) -> builder
KNOWN_CHARTS = {"ingress-nginx", "cert-manager", "kof-operators", "kof-storage", "kof-collectors",
                "kof-mothership", "victoria-metrics-operator", "projectsveltos"}

# charts whose templates `lookup` the shared credentials Secret at render time (kof-facts §3.3/§3.4)
NEEDS_STORAGE_SECRET = {"kof-storage", "kof-collectors"}
STORAGE_SECRET = "storage-vmuser-credentials"


def deployment(name, ns, labels=None, replicas=1, image="registry.k8s.io/pause:3.10", sa=None):
    labels = dict(labels or {"app.kubernetes.io/name": name})
    spec = {"containers": [{"name": name.split("-")[-1] or "main", "image": image}]}
    if sa:
        spec["serviceAccountName"] = sa
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns,
                                                                         "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


def daemonset(name, ns, labels=None, image="registry.k8s.io/pause:3.10"):
    labels = dict(labels or {"app.kubernetes.io/name": name})
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": ns,
                                                                        "labels": labels},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def statefulset(name, ns, labels=None, size="10Gi", storage_class=None, claim="data"):
    labels = dict(labels or {"app.kubernetes.io/name": name})
    vct = {"metadata": {"name": claim}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": size}}}}
    if storage_class:
        vct["spec"]["storageClassName"] = storage_class
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": ns,
                                                                          "labels": labels},
            "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]}},
                     "volumeClaimTemplates": [vct]}}


def service(name, ns, ports, type_="ClusterIP", selector=None):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": type_, "selector": selector or {"app.kubernetes.io/name": name},
                     "ports": [{"name": f"p{p}", "port": p} for p in ports]}}


def _get(values, path, default=None):
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def parse_values(text) -> dict:
    if not text:
        return {}
    if isinstance(text, dict):
        return text
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, dict) else {}


def objects_for(chart: str, release: str, ns: str, values: dict) -> tuple[list[str], list[dict]]:
    """Returns (CRD groups to install from data/crds/<dir>, objects)."""
    objs: list[dict] = []
    crds: list[str] = []
    if chart == "ingress-nginx":
        sel = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
        objs += [deployment("ingress-nginx-controller", ns, sel),
                 service("ingress-nginx-controller", ns, [80, 443], "LoadBalancer", sel),
                 service("ingress-nginx-controller-admission", ns, [443], "ClusterIP", sel)]
    elif chart == "cert-manager":
        for comp in ("cert-manager", "cert-manager-cainjector", "cert-manager-webhook"):
            objs.append(deployment(comp, ns, {"app.kubernetes.io/name": comp.replace("cert-manager-", "") or comp,
                                              "app.kubernetes.io/instance": release}))
        objs.append(service("cert-manager-webhook", ns, [443], selector={"app.kubernetes.io/name": "webhook"}))
        if _get(values, "cert-manager.crds.enabled", _get(values, "crds.enabled", False)):
            crds.append("certmanager")
    elif chart == "kof-operators":
        crds += ["prometheus", "opentelemetry"]
        objs.append(deployment(f"{release}-opentelemetry-operator", ns,
                               {"app.kubernetes.io/name": "opentelemetry-operator",
                                "app.kubernetes.io/instance": release}))
    elif chart == "kof-storage":
        crds += ["grafana", "victoriametrics"]
        sc = _get(values, "global.storageClass")
        objs += [deployment(f"{release}-grafana-operator", ns, {"app.kubernetes.io/name": "grafana-operator"}),
                 deployment(f"{release}-victoria-metrics-operator", ns,
                            {"app.kubernetes.io/name": "victoria-metrics-operator"}),
                 deployment("vmauth-cluster", ns, {"app.kubernetes.io/name": "vmauth"}),
                 deployment("vminsert-cluster", ns, {"app.kubernetes.io/name": "vminsert"}),
                 statefulset("vmselect-cluster", ns, {"app.kubernetes.io/name": "vmselect"}, "2Gi", sc, "cachedir"),
                 statefulset("vmstorage-cluster", ns, {"app.kubernetes.io/name": "vmstorage"}, "10Gi", sc, "vmstorage-db"),
                 statefulset(f"{release}-victoria-logs-single-server", ns, {"app.kubernetes.io/name": "victoria-logs"},
                             "10Gi", _get(values, "victoria-logs-single.server.storage.storageClassName", sc), "server-volume"),
                 deployment("grafana-vm-deployment", ns, {"app": "grafana-vm"}),
                 service("vmauth-cluster", ns, [8427], selector={"app.kubernetes.io/name": "vmauth"}),
                 service("grafana-vm-service", ns, [3000], selector={"app": "grafana-vm"})]
        host = _get(values, "victoriametrics.vmauth.ingress.host")
        ghost = _get(values, "grafana.ingress.host")
        for name, h, svc, port in (("vmauth-cluster", host, "vmauth-cluster", 8427),
                                   ("grafana-vm-ingress", ghost, "grafana-vm-service", 3000)):
            if h:
                objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                             "metadata": {"name": name, "namespace": ns,
                                          "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}},
                             "spec": {"ingressClassName": "nginx", "tls": [{"hosts": [h], "secretName": f"{name}-tls"}],
                                      "rules": [{"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                 "backend": {"service": {"name": svc, "port": {"number": port}}}}]}}]}})
        if _get(values, "external-dns.enabled", False):
            ed = deployment(f"{release}-external-dns", ns, {"app.kubernetes.io/name": "external-dns"})
            # mounts the AWS credentials that the kof-aws-dns-secrets ClusterProfile distributes
            ed["spec"]["template"]["spec"]["volumes"] = [{"name": "aws-credentials", "secret": {
                "secretName": "external-dns-aws-credentials"}}]
            objs.append(ed)
    elif chart == "kof-collectors":
        cluster_name = _get(values, "global.clusterName", "")
        objs += [deployment(f"{release}-kube-state-metrics", ns, {"app.kubernetes.io/name": "kube-state-metrics"}),
                 daemonset(f"{release}-prometheus-node-exporter", ns,
                           {"app.kubernetes.io/name": "prometheus-node-exporter"}),
                 daemonset(f"{release}-daemon-collector", ns, {"app.kubernetes.io/name": f"{release}-daemon-collector"}),
                 deployment(f"{release}-cluster-stats-collector", ns,
                            {"app.kubernetes.io/name": f"{release}-cluster-stats-collector"})]
        if _get(values, "opencost.enabled", True):
            objs.append(deployment(f"{release}-opencost", ns, {"app.kubernetes.io/name": "opencost"}))
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"{release}-cluster-identity", "namespace": ns},
                     "data": {"clusterName": str(cluster_name),
                              "logsEndpoint": str(_get(values, "kof.logs.endpoint", "")),
                              "metricsEndpoint": str(_get(values, "kof.metrics.endpoint", "")),
                              "opencostDefaultClusterId": str(_get(values, "opencost.opencost.exporter.defaultClusterId",
                                                                   ""))}})
    elif chart == "victoria-metrics-operator":
        crds.append("victoriametrics")
        objs.append(deployment(f"{release}-victoria-metrics-operator", ns,
                               {"app.kubernetes.io/name": "victoria-metrics-operator"}))
    else:
        objs.append(deployment(release, ns, {"app.kubernetes.io/name": release}))
    return crds, objs
