"""kof-operator 1.10 stand-in (KOF 1.x mode, management cluster): what k0rdent/kof v1.10.0's
kof-operator/internal/controller creates from ClusterDeployment labels and annotations.

- every ClusterDeployment gets the label `k0rdent.mirantis.com/kof-cluster-name: <name>`;
- `kof-cluster-role: regional`: ConfigMap `kof-<cd>` in the CD's namespace (labels managed-by kof-operator,
  kof-generated, kof-cluster-role regional; data keys as ConfigData.ToMap; endpoints from the
  spec.config.clusterAnnotations or derived from `kof-regional-domain`), owned by the CD; a missing endpoint
  without a domain is the operator's error (`neither endpoint nor regional domain is set`, a Warning Event on the CD);
- from a regional ConfigMap: ConfigMap `kof-record-vmrules-<regional>`, the admin credentials Secret
  `kof-vmuser-creds-admin-<adler32("kof-<regional>/<ns>")>` (in the CD namespace and in `kof`), the
  PromxyServerGroup `promxy-server-group-<fnv32a("<configmap>/<ns>")>` in the CD namespace (owned by the
  ConfigMap, label `k0rdent.mirantis.com/secret-name: kof-mothership-promxy-config`), and the child ConfigMaps of
  its children updated - also for a regional that is only a ConfigMap (docs kof-install "Regional ConfigMap"; no
  ClusterDeployment, the ConfigMap owns what the operator makes from it);
- `kof-cluster-role: child`: ConfigMap `kof-cluster-config-<cd>` with the regional ConfigMap's data, the regional
  chosen by the `kof-regional-cluster-name` label or by same cloud and location (ClusterTemplate status.providers);
  in the child's namespace, or with env CROSS_NAMESPACE=true on the operator's Deployment
  (kof-mothership `kcm.kof.operator.crossNamespace`) in the namespace its `kof-regional-cluster-namespace` label
  names - required then (ChildClusterRole.DiscoverRegionalClusterCmByLabel) - and by location in any namespace;
  then (ChildClusterRole.CreateVMUserCredentials, vmuser.Manager) the credentials Secret
  `kof-vmuser-creds-<adler32("kof-cluster-config-<cd>/<ns>")>` (username = that checksum, a 16-character password
  kept once made; labels managed-by, kof-cluster-name, kof-tenant-id (the CD's or `PLATFORM`)) in the CD's namespace,
  owned by the CD, and its copy in `kof` (no owner: the operator leaves it when the child goes), and the VMUser
  `kof-vmuser-<checksum>` when the VMUser kind is served. kof-mothership's `kof-storage-child-secret-propagation`
  MCS copies that Secret into the child's `kof` namespace (mcs.py).
- regionless (env KOF_REGIONLESS_ENABLED=true on the operator, kof-mothership `regionless.enabled`): at start-up
  (regionless_configmap_bootstrap.go) the ConfigMap `kof-<management cluster name>` (the operator's
  `--management-cluster-name`, kof-mothership `global.clusterName`) in `kcm-system`, labels managed-by,
  kof-generated, kof-cluster-role regional, `k0rdent.mirantis.com/kof-regionless: "true"`, no owner, the endpoints
  `https://vmauth.<KOF_REGIONLESS_DOMAIN>/...`; a child without the regional label takes it (looked for in the
  child's namespace, in every namespace with CROSS_NAMESPACE), else `regionless is enabled but no regionless
  ConfigMap was found`; its PromxyServerGroup reads the storage inside the management cluster
  (`http://vmauth-cluster:8427/vm/select/0/prometheus`, GetReadEndpoint) and ignores kof-http-config's TLS setting.
Not modelled: the VMUsers' own propagation MultiClusterServices `kof-vmuser-propagation-<name>` (to the regional,
dependsOn the regional MCS), the regional's admin VMUser, VMStorageConnections (kofsim has no such CRD), KCM
regions, Istio.
It runs while a Deployment named `<release>-kof-operator` exists in any namespace (kof-mothership's; not kof-operators' Deployments).
"""
from __future__ import annotations

import base64
import json
import secrets as _secrets
from urllib.parse import urlparse

from .. import errors as E
from .api import mutable, now
from .kcm import GROUP

P = "k0rdent.mirantis.com/"
ROLE = P + "kof-cluster-role"
CLUSTER_NAME = P + "kof-cluster-name"
REGIONAL_NAME = P + "kof-regional-cluster-name"
REGIONAL_NS = P + "kof-regional-cluster-namespace"
TENANT = P + "kof-tenant-id"
DEFAULT_TENANT = "PLATFORM"
MANAGED = ("app.kubernetes.io/managed-by", "kof-operator")
PSG_GROUP = "kof.k0rdent.mirantis.com"
KOF_NS = "kof"
ENDPOINTS = {  # annotation -> (ConfigMap key, default format)
    "kof-read-metrics-endpoint": ("read_metrics_endpoint", "https://vmauth.%s/vm/select/0/prometheus"),
    "kof-read-logs-endpoint": ("read_logs_endpoint", "https://vmauth.%s/vls"),
    "kof-read-audit-logs-endpoint": ("read_audit_logs_endpoint", "https://vmauth.%s/vlas"),
    "kof-read-traces-endpoint": ("read_traces_endpoint", "https://vmauth.%s/vts"),
    "kof-write-metrics-endpoint": ("write_metrics_endpoint", "https://vmauth.%s/vm/insert/0/prometheus/api/v1/write"),
    "kof-write-logs-endpoint": ("write_logs_endpoint", "https://vmauth.%s/vli/insert/opentelemetry/v1/logs"),
    "kof-write-audit-logs-endpoint": ("write_audit_logs_endpoint",
                                      "https://vmauth.%s/vlai/insert/opentelemetry/v1/logs"),
    "kof-write-traces-endpoint": ("write_traces_endpoint", "https://vmauth.%s/vti/insert/opentelemetry/v1/traces"),
}
REGIONLESS = P + "kof-regionless"
REGIONLESS_READ_METRICS = "http://vmauth-cluster:8427/vm/select/0/prometheus"  # regionlessEndpoints, non-Istio
SYSTEM_NS = "kcm-system"
CLOUDS = ("aws", "azure", "docker", "gcp", "openstack", "vsphere", "k0sproject-k0smotron", "internal")


def fnv_name(prefix: str, name: str) -> str:
    """names.FNVName: `<prefix>-<FNV-1a 32-bit, hex>`."""
    h = 0x811c9dc5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & 0xffffffff
    return f"{prefix}-{h:x}"


def adler_name(prefix: str, name: str) -> str:
    import zlib
    return f"{prefix}-{zlib.adler32(name.encode()) & 0xffffffff}"


# vmuser/victoriametrics_user.go at v1.10.0: the VMUser's paths and static URLs (the tenant query arguments and
# drop-prefix setting of each target are not modelled)
VMUSER_TARGETS = [("/vlas/.*", "http://vlselect-audit-logs.kof.svc:9471"),
                  ("/vlai/.*", "http://vlinsert-audit-logs.kof.svc:9481"),
                  ("/vls/.*", "http://kof-storage-victoria-logs-cluster-vlselect.kof.svc:9471"),
                  ("/vli/.*", "http://kof-storage-victoria-logs-cluster-vlinsert.kof.svc:9481"),
                  ("/vm/select/.*", "http://vmselect-cluster.kof.svc:8481"),
                  ("/vm/insert/.*", "http://vminsert-cluster.kof.svc:8480"),
                  ("/vts/.*", "http://kof-storage-vt-cluster-vtselect.kof.svc:10471"),
                  ("/vti/.*", "http://kof-storage-vt-cluster-vtinsert.kof.svc:10481")]


def psg_name(config_map: str, ns: str) -> str:
    """GetPromxyServerGroupName: from the regional ConfigMap's name and namespace (kof-<cd> for a regional
    ClusterDeployment; a regional that is only a ConfigMap has the name its author gave it)."""
    return fnv_name("promxy-server-group", f"{config_map}/{ns}")


class OperatorError(Exception):
    pass


class KofOperator:
    def __init__(self, layer):
        self.layer = layer
        self.c = layer.mgmt
        self.sched = layer.runtime.scope("")
        self.c.watch(GROUP, "clusterdeployments", self.on_cd)
        self.c.watch("", "configmaps", self.on_cm)
        self.c.watch("apps", "deployments", self.on_deployment)

    def deployment(self) -> dict | None:
        """The live kof-operator Deployment (kof-mothership's `<release>-kof-operator`), or None."""
        return next((d for d in self.c.list(self.c.resource("apps", "deployments"))
                     if d["metadata"]["name"].endswith("-kof-operator") and not d["metadata"].get("deletionTimestamp")),
                    None)

    def running(self) -> bool:
        return self.deployment() is not None

    def rt(self, group, plural):
        return self.c.resource(group, plural)

    @classmethod
    def cross_namespace(cls, operator: dict) -> bool:
        """env.CrossNamespaceEnabled: CROSS_NAMESPACE == "true" on the operator Deployment's container."""
        return cls.env(operator, "CROSS_NAMESPACE") == "true"

    @staticmethod
    def _container(operator: dict) -> dict:
        containers = ((operator.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        return containers[0] if containers else {}

    @classmethod
    def env(cls, operator: dict, name: str, default: str = "") -> str:
        return next((e.get("value", "") for e in cls._container(operator).get("env") or [] if e.get("name") == name),
                    default)

    @classmethod
    def regionless(cls, operator: dict) -> bool:
        """env.RegionlessEnabled."""
        return cls.env(operator, "KOF_REGIONLESS_ENABLED") == "true"

    @classmethod
    def management_cluster_name(cls, operator: dict) -> str:
        """The operator's --management-cluster-name flag (default mothership)."""
        for arg in cls._container(operator).get("args") or []:
            if str(arg).startswith("--management-cluster-name="):
                return str(arg).split("=", 1)[1]
        return "mothership"

    def ensure_regionless_cm(self, operator: dict):
        """CreateOrUpdateRegionlessConfigMap (operator start-up): the management cluster as the regional."""
        if not self.regionless(operator):
            return
        mgmt = self.management_cluster_name(operator)
        domain = self.env(operator, "KOF_REGIONLESS_DOMAIN", "mothership.example.com")
        data = {"regional_cluster_name": mgmt, "regional_cluster_namespace": SYSTEM_NS, "regional_cluster_cloud": "",
                "istio_role": "", "kof_http_config": "", "aws_region": "", "azure_location": "",
                "openstack_region": "", "vsphere_datacenter": ""}
        for key, fmt in ENDPOINTS.values():
            data[key] = fmt % domain
        labels = {MANAGED[0]: MANAGED[1], P + "kof-generated": "true", ROLE: "regional", REGIONLESS: "true"}
        rt = self.rt("", "configmaps")
        cur = self.c.get(rt, SYSTEM_NS, f"kof-{mgmt}")
        if cur is None:
            self.c.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": f"kof-{mgmt}", "namespace": SYSTEM_NS, "labels": labels},
                           "data": data}, manager="kof-operator")
        elif cur.get("data") != data or any((cur["metadata"].get("labels") or {}).get(k) != v
                                            for k, v in labels.items()):
            body = mutable(cur)
            body["data"] = data
            body["metadata"].setdefault("labels", {}).update(labels)
            self.c.update(body, manager="kof-operator")

    def on_deployment(self, type_, obj):
        if type_ != "DELETED" and obj["metadata"]["name"].endswith("-kof-operator"):
            self.ensure_regionless_cm(obj)
            for cd in self.c.list(self.rt(GROUP, "clusterdeployments")):
                self.on_cd("MODIFIED", cd)

    def on_cd(self, type_, obj):
        if type_ == "DELETED":
            # what the operator made is owned by the CD (garbage collector: the ConfigMaps, the child's Secret in
            # the CD namespace and VMUser, and through the regional ConfigMap its record-vmrules ConfigMap and
            # PromxyServerGroup). kof-operator v1.10.0's ClusterDeploymentReconciler on NotFound also deletes the
            # child ConfigMap's propagation MCS, which kofsim does not make (not modelled, see the docstring)
            return
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        self.sched.schedule(("kof-cd", ns, name), self.reconcile_cd, ns, name)

    def on_cm(self, type_, obj):
        labels = obj["metadata"].get("labels") or {}
        if type_ != "DELETED" and labels.get(ROLE) == "regional":
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            self.sched.schedule(("kof-rcm", ns, name), self.reconcile_regional_cm, ns, name)
        if type_ == "DELETED" and labels.get(ROLE) == "regional" and self.running():
            # RegionalClusterConfigMapReconciler on NotFound: ResourceCleanup (only while the operator runs: a
            # regional ConfigMap deleted after kof-mothership is gone leaves its admin Secrets)
            self._cleanup_admin(obj)

    # ----------------------------------------------------------------------------- ClusterDeployment
    def reconcile_cd(self, ns, name):
        operator = self.deployment()
        if operator is None:
            return
        cd = self.c.get(self.rt(GROUP, "clusterdeployments"), ns, name)
        if cd is None or cd["metadata"].get("deletionTimestamp"):
            return
        if CLUSTER_NAME not in (cd["metadata"].get("labels") or {}):
            body = mutable(cd)
            body["metadata"].setdefault("labels", {})[CLUSTER_NAME] = name
            self.c.update(body, manager="kof-operator")
            return
        role = cd["metadata"]["labels"].get(ROLE)
        try:
            if role == "regional":
                self.ensure_cm(cd, f"kof-{name}", {ROLE: "regional", P + "kof-generated": "true"},
                               self.config_data(cd))
            elif role == "child":
                regional = self.find_regional(cd, cross=self.cross_namespace(operator),
                                              regionless=self.regionless(operator))
                self.ensure_cm(cd, f"kof-cluster-config-{name}", {ROLE: "child"}, dict(regional.get("data") or {}))
                self.child_vmuser(cd)
        except OperatorError as err:
            self.event(cd, str(err))

    def child_vmuser(self, cd):
        """vmuser.Manager.Create for a child: the credentials Secret (CD namespace, owned by the CD; a copy in kof)
        and the VMUser."""
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        vname = adler_name("x", f"kof-cluster-config-{name}/{ns}")[2:]
        secret = f"kof-vmuser-creds-{vname}"
        labels = {MANAGED[0]: MANAGED[1], CLUSTER_NAME: name,
                  TENANT: (cd["metadata"].get("labels") or {}).get(TENANT, DEFAULT_TENANT)}
        sec_rt = self.rt("", "secrets")
        cur = self.c.get(sec_rt, ns, secret)
        data = (cur or {}).get("data") or {}
        if not data.get("password"):
            data = {"username": base64.b64encode(vname.encode()).decode(),
                    "password": base64.b64encode(_secrets.token_urlsafe(12)[:16].encode()).decode()}
        self.c.ensure({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": secret, "namespace": ns, "labels": labels,
                                    "ownerReferences": [self.owner(cd)]},
                       "data": data}, manager="kof-operator")
        if self.c.get(self.rt("", "namespaces"), "", KOF_NS) is not None:
            self.c.ensure({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                           "metadata": {"name": secret, "namespace": KOF_NS, "labels": labels}, "data": data},
                          manager="kof-operator")
        vm_rt = self.c.kind("operator.victoriametrics.com/v1beta1", "VMUser")
        if vm_rt is not None:
            self.c.ensure({"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMUser",
                           "metadata": {"name": f"kof-vmuser-{vname}", "namespace": ns, "labels": labels,
                                        "ownerReferences": [self.owner(cd)]},
                           "spec": {"username": vname, "passwordRef": {"name": secret, "key": "password"},
                                    "targetRefs": [{"paths": [p], "static": {"url": u}} for p, u in VMUSER_TARGETS]}},
                          manager="kof-operator")

    def owner(self, obj):
        return {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "ConfigMap"),
                "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}

    def ensure_cm(self, cd, name, labels, data):
        ns = cd["metadata"]["namespace"]
        rt = self.rt("", "configmaps")
        cur = self.c.get(rt, ns, name)
        if cur is None:
            self.c.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": ns, "ownerReferences": [self.owner(cd)],
                                        "labels": dict({MANAGED[0]: MANAGED[1]}, **labels)},
                           "data": data}, manager="kof-operator")
        elif (cur.get("data") or {}) != data:
            body = mutable(cur)
            body["data"] = data
            self.c.update(body, manager="kof-operator")

    def cloud(self, cd):
        tpl = self.c.get(self.rt(GROUP, "clustertemplates"), cd["metadata"]["namespace"],
                         (cd.get("spec") or {}).get("template", "")) or {}
        for p in (tpl.get("status") or {}).get("providers") or []:
            prefix, _, cloud = p.partition("-")
            if prefix == "infrastructure" and cloud in CLOUDS:
                return cloud
        raise OperatorError(f'unknown infrastructure provider in ClusterTemplate "{(cd.get("spec") or {}).get("template")}"')

    def config_data(self, cd):
        cfg = (cd.get("spec") or {}).get("config") or {}
        ann = cfg.get("clusterAnnotations") or {}
        data = {"regional_cluster_name": cd["metadata"]["name"],
                "regional_cluster_namespace": cd["metadata"]["namespace"],
                "regional_cluster_cloud": self.cloud(cd), "istio_role": "",
                "kof_http_config": (cd["metadata"].get("annotations") or {}).get(P + "kof-http-config", ""),
                "aws_region": cfg.get("region", "") or "", "azure_location": cfg.get("location", "") or "",
                "openstack_region": (cfg.get("identityRef") or {}).get("region", "") or "",
                "vsphere_datacenter": (cfg.get("vsphere") or {}).get("datacenter", "") or ""}
        domain = ann.get(P + "kof-regional-domain")
        for annotation, (key, fmt) in ENDPOINTS.items():
            value = ann.get(P + annotation)
            if value is None:
                if domain is None:
                    raise OperatorError("neither endpoint nor regional domain is set")
                value = fmt % domain
            data[key] = value
        return data

    def find_regional(self, cd, cross: bool = False, regionless: bool = False):
        """The regional ConfigMap of a child; cross: the operator runs with CROSS_NAMESPACE=true; regionless: with
        KOF_REGIONLESS_ENABLED=true (an unlabelled child takes the regionless ConfigMap, never one by location)."""
        ns = cd["metadata"]["namespace"]
        rt = self.rt("", "configmaps")
        labels = cd["metadata"].get("labels") or {}
        label = labels.get(REGIONAL_NAME)
        if label:
            rns = ns
            if cross:
                rns = labels.get(REGIONAL_NS)
                if rns is None:
                    raise OperatorError(f'"{REGIONAL_NS}" label is required')
            cm = self.c.get(rt, rns, f"kof-{label}")
            if cm is None:
                raise OperatorError(f'configmaps "kof-{label}" not found')
            return cm
        if regionless:
            for cm in self.c.list(rt, None if cross else ns, {ROLE: "regional"}):
                if (cm["metadata"].get("labels") or {}).get(REGIONLESS) == "true":
                    return cm
            raise OperatorError("regionless is enabled but no regionless ConfigMap was found")
        cloud = self.cloud(cd)
        cfg = (cd.get("spec") or {}).get("config") or {}
        own = self.c.get(rt, ns, f"kof-cluster-config-{cd['metadata']['name']}")
        candidates = []
        for cm in self.c.list(rt, None if cross else ns, {ROLE: "regional"}):
            d = cm.get("data") or {}
            if d.get("regional_cluster_cloud") != cloud:
                continue
            same = {"aws": d.get("aws_region") == (cfg.get("region") or ""),
                    "azure": d.get("azure_location") == (cfg.get("location") or ""),
                    "docker": True,
                    "openstack": d.get("openstack_region") == ((cfg.get("identityRef") or {}).get("region") or ""),
                    "vsphere": d.get("vsphere_datacenter") == ((cfg.get("vsphere") or {}).get("datacenter") or "")
                    }.get(cloud, False)
            if same:
                if own is not None and (own.get("data") or {}).get("regional_cluster_name") == \
                        d.get("regional_cluster_name"):
                    return cm
                candidates.append(cm)
        if own is None and candidates:
            return candidates[0]
        raise OperatorError(f'regional cluster with matching cloud and location is not found, please set '
                            f'.metadata.labels["{REGIONAL_NAME}"] explicitly')

    def event(self, cd, message):
        rt = self.rt("", "events")
        ns, name = cd["metadata"]["namespace"], cd["metadata"]["name"]
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": f"{name}.kof-operator-error", "namespace": ns},
              "involvedObject": {"apiVersion": cd["apiVersion"], "kind": "ClusterDeployment", "name": name,
                                 "namespace": ns, "uid": cd["metadata"]["uid"]},
              "reason": "ReconcileFailed", "message": message, "type": "Warning",
              "source": {"component": "kof-operator"}, "firstTimestamp": now(), "lastTimestamp": now(), "count": 1}
        try:
            cur = self.c.get(rt, ns, ev["metadata"]["name"]) if rt is not None else None
            if rt is not None and cur is None:
                self.c.create(ev, manager="kof-operator")
            elif cur is not None and cur.get("message") != message:  # the newest error, as an event recorder would
                body = mutable(cur)
                body.update(message=message, lastTimestamp=now(), count=int(cur.get("count") or 1) + 1)
                self.c.update(body, manager="kof-operator")
        except E.ApiError as err:
            if err.code != 409:
                raise

    # ---------------------------------------------------------------------------- regional ConfigMap
    def reconcile_regional_cm(self, ns, name):
        if not self.running():
            return
        rt = self.rt("", "configmaps")
        cm = self.c.get(rt, ns, name)
        if cm is None:
            return
        d = cm.get("data") or {}
        regional, rns = d.get("regional_cluster_name", ""), d.get("regional_cluster_namespace", ns)
        owner = self.owner(dict(cm, apiVersion="v1", kind="ConfigMap"))
        base = {MANAGED[0]: MANAGED[1], P + "kof-generated": "true"}
        if self.c.get(rt, rns, f"kof-record-vmrules-{regional}") is None:
            self.c.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": f"kof-record-vmrules-{regional}", "namespace": rns,
                                        "ownerReferences": [owner],
                                        "labels": dict(base, **{P + "kof-record-vmrules-cluster-name": regional})}},
                          manager="kof-operator")
        # children already configured follow their regional's data
        for child in self.c.list(rt, None, {ROLE: "child"}):
            if (child.get("data") or {}).get("regional_cluster_name") == regional and child.get("data") != d:
                body = mutable(child)
                body["data"] = dict(d)
                self.c.update(body, manager="kof-operator")
        admin = adler_name("admin", f"{name}/{ns}")
        secret = f"kof-vmuser-creds-{admin}"
        sec_rt = self.rt("", "secrets")
        cur = self.c.get(sec_rt, rns, secret)
        creds = (cur or {}).get("data") or {
            "username": base64.b64encode(admin.encode()).decode(),
            "password": base64.b64encode(_secrets.token_urlsafe(12).encode()).decode()}
        for sns in (rns, KOF_NS):
            if self.c.resource("", "namespaces") and self.c.get(self.rt("", "namespaces"), "", sns) is None:
                continue
            self.c.ensure({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                           "metadata": {"name": secret, "namespace": sns,
                                        "labels": {MANAGED[0]: MANAGED[1], CLUSTER_NAME: regional}},
                           "data": creds}, manager="kof-operator")
        http = {}
        if d.get("kof_http_config"):
            try:
                http = json.loads(d["kof_http_config"])
            except ValueError:
                http = {}
        regionless = (cm["metadata"].get("labels") or {}).get(REGIONLESS) == "true"
        url = urlparse(REGIONLESS_READ_METRICS if regionless else d.get("read_metrics_endpoint", ""))
        port = url.port or {"http": 80, "https": 443}.get(url.scheme)
        psg_rt = self.rt(PSG_GROUP, "promxyservergroups")
        if psg_rt is None or port is None:
            return
        ba = http.get("basic_auth") or {}
        want = {"apiVersion": psg_rt.api_version, "kind": "PromxyServerGroup",
                "metadata": {"name": psg_name(name, ns), "namespace": rns, "ownerReferences": [owner],
                             "labels": {MANAGED[0]: MANAGED[1], P + "secret-name": "kof-mothership-promxy-config"}},
                "spec": {"cluster_name": regional, "scheme": url.scheme, "path_prefix": url.path,
                         "targets": [f"{url.hostname}:{port}"],
                         "http_client": {"dial_timeout": http.get("dial_timeout") or "5s",
                                         "tls_config": {"insecure_skip_verify": not regionless and bool(
                                             (http.get("tls_config") or {}).get("insecure_skip_verify", False))},
                                         "basic_auth": {"credentials_secret_name":
                                                        ba.get("credentials_secret_name") or secret,
                                                        "username_key": "username", "password_key": "password"}}}}
        self.c.ensure(want, manager="kof-operator")

    def _cleanup_admin(self, cm):
        """ResourceCleanup: the admin credentials Secrets go with the regional ConfigMap."""
        d = cm.get("data") or {}
        secret = "kof-vmuser-creds-" + adler_name("admin", f"{cm['metadata']['name']}/{cm['metadata']['namespace']}")
        sec_rt = self.rt("", "secrets")
        for sns in {d.get("regional_cluster_namespace") or cm["metadata"]["namespace"], KOF_NS}:
            self.c.delete(sec_rt, sns, secret)
