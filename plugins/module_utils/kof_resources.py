# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Pure logic of the KOF custom resources: validation, the KOF-version mapping and the objects the install guide
composes (PromxyServerGroup and GrafanaDatasource), plus what the operators report back. No client and no
Ansible here, so unit tests and action plugins can use it directly."""
from __future__ import annotations

import copy
import json
import re
from urllib.parse import urlparse

from ansible_collections.k0rdent.kof.plugins.module_utils.converge import condition
from ansible_collections.k0rdent.kof.plugins.module_utils.helm_cli import merge as merge_values

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$")
IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
# Go's time.ParseDuration units (metav1.Duration); a bare "0" is valid too.
DURATION = re.compile(r"^(0|([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|ms|s|m|h))+)$")
VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
PLACEHOLDER = re.compile(r"^\$\{[^}]+\}$")

PSG_GROUP = "kof.k0rdent.mirantis.com"
GRAFANA_API = "grafana.integreatly.org/v1beta1"
DATASOURCE_TYPES = ("victoriametrics-logs-datasource", "prometheus", "victoriametrics-metrics-datasource", "loki",
                    "jaeger", "alertmanager")
DEFAULT_KOF_VERSION = "0.1.1"
DEFAULT_PROMXY_SECRET = "kof-mothership-promxy-config"
STORAGE_SECRET = "storage-vmuser-credentials"
PLURALS = {"PromxyServerGroup": "promxyservergroups", "GrafanaDatasource": "grafanadatasources",
           "ConfigMap": "configmaps"}
REDACTED = "********"


class ValidationError(ValueError):
    """Bad module input: the message names the option and what is wrong."""


# ------------------------------------------------------------------------------------------ versions
def kof_version_tuple(version) -> tuple:
    match = VERSION.match(str(version or ""))
    if not match:
        raise ValidationError(f"kof_version {version!r} is not a version like 0.1.1 or 1.8.0")
    return tuple(int(x) for x in match.groups())


def psg_api(kof_version) -> tuple:
    """(apiVersion, secret-name label key) of PromxyServerGroup for a KOF version (kof-facts section 0 and 1).

    0.1.x-0.3.x (the promxy-operator era and the first kof-operator; no 0.4-0.9 were released): v1alpha1;
    1.0-1.7: v1beta1, same label; 1.8 renamed the label the operator keys on."""
    ver = kof_version_tuple(kof_version)
    if ver < (1, 0, 0):
        return f"{PSG_GROUP}/v1alpha1", "k0rdent.mirantis.com/promxy-secret-name"
    if ver < (1, 8, 0):
        return f"{PSG_GROUP}/v1beta1", "k0rdent.mirantis.com/promxy-secret-name"
    return f"{PSG_GROUP}/v1beta1", "k0rdent.mirantis.com/secret-name"


# The KOF releases each install flow covers. 1.x starts at 1.8, the first release with the umbrella kof chart
# (Flux HelmReleases); it stops before 1.11, whose autoUpgrade default, kof-version gating and renamed gateway
# values the flow does not model yet.
FLOWS = {"0.1": ((0, 1, 0), (0, 2, 0)), "1.x": ((1, 8, 0), (1, 11, 0))}
FLOW_NAMES = {"0.1": "KOF 0.1.x (the install guide)", "1.x": "KOF 1.8-1.10 (the umbrella kof chart)"}


def install_flow(kof_version, supported=("0.1", "1.x"), what="this playbook") -> str:
    """The install flow for a KOF version ("0.1" or "1.x"), or ValidationError: the one place that says which
    versions the collection installs and which playbook handles which flow. KOF 0.1.x is the install guide's
    (kof-operators + kof-mothership charts, hand-written PromxyServerGroups and GrafanaDatasources,
    ServiceTemplates per ClusterDeployment). KOF 1.x is installed the 1.x docs' way (the umbrella kof chart with
    Flux HelmReleases, labelled v1beta1 ClusterDeployments that kof-operator and MultiClusterServices act on).
    `supported`: the flows the calling playbook implements; a playbook that would write 0.1.x objects into a 1.x
    fleet (or the reverse) is refused before any write."""
    ver = kof_version_tuple(kof_version)
    flow = next((name for name, (low, high) in FLOWS.items() if low <= ver < high), None)
    if flow is None:
        raise ValidationError(
            f"kof_version {kof_version!r}: this collection installs {' and '.join(FLOW_NAMES.values())}; "
            "0.2-1.7 (promxy/kof-operator generations without the umbrella chart) and 1.11+ (autoUpgrade and "
            "kof-version gating, renamed gateway values) are not supported. Reading any fleet works: "
            "cost_report.yml, and the resource modules with their kof_version option")
    if flow not in supported:
        raise ValidationError(
            f"kof_version {kof_version!r} is {FLOW_NAMES[flow]}: {what} is implemented for "
            f"{' and '.join(FLOW_NAMES[f] for f in supported) or 'no KOF version'} only so far, and running it "
            f"against a {flow} fleet would write objects that release ignores or fights. The {FLOW_NAMES['1.x']} "
            "flow covers site.yml (and its parts), render.yml, upgrade.yml, migrate.yml, verify.yml, dns.yml, "
            "dns_records.yml, cost_report.yml, backup.yml, restore.yml, prune.yml and uninstall.yml")
    return flow


# The KOF release a new install gets when kof_version is left at "auto": the newest of each flow, by the kcm
# generation the management cluster serves (KOF 0.1.x needs kcm 0.1.x, API v1alpha1; KOF 1.x kcm >= 1.0, v1beta1).
NEW_INSTALL_VERSIONS = {"v1alpha1": "0.1.1", "v1beta1": "1.10.0"}
# helm releases that mark an installed KOF on the management cluster: the umbrella chart (1.8+), kof-mothership
INSTALLED_RELEASES = ("kof", "kof-mothership")


# What kof_version auto reads a fleet as when there is nothing to ask: the install guide's release
UNKNOWN_FLEET_VERSION = "0.1.1"


def resolve_version(installed: dict | None, kcm_versions: list, reading: bool = False,
                    no_cluster: str = "") -> tuple[str, str]:
    """(kof_version, why) for kof_version "auto": the installed KOF's version (an upgrade never happens by
    omission), else the release matching kcm's API for a new install; ("", why not) when neither is known.
    installed: {"release", "version"} of the KOF helm release found on the management cluster, or None.
    no_cluster: why no cluster was asked (a playbook that works offline, no Kubernetes API configured), and
    reading: the run only reads a fleet (the cost report) - then the install guide's 0.1.1 is assumed and said."""
    assume = (f"KOF {UNKNOWN_FLEET_VERSION}, the install guide's release, is assumed (name kof_version for a KOF "
              "1.x fleet)")
    if no_cluster:
        return UNKNOWN_FLEET_VERSION, f"{no_cluster}: {assume}"
    if installed and installed.get("version"):
        return (str(installed["version"]).lstrip("v"),
                f"the installed release {installed['release']} (chart version {installed['version']})")
    for api in ("v1beta1", "v1alpha1"):
        if api in (kcm_versions or []):
            return (NEW_INSTALL_VERSIONS[api],
                    f"no KOF installed yet and kcm serves k0rdent.mirantis.com/{api}: the newest KOF for it")
    why = ("no KOF installed and k0rdent.mirantis.com is not served: not a k0rdent management cluster (or kcm is "
           "not installed yet)")
    return (UNKNOWN_FLEET_VERSION, f"{why}; {assume}") if reading else ("", why)


# The docs' "Upgrade to v1.10.0" step 2 patches the kof-regional HelmRelease with an emptyDir volume named "fix" on
# the collectors' target-allocator and cluster collectors (so kof-collectors stops reinstalling between the kcm and
# the KOF upgrade), and step 9 removes it once KOF 1.10 runs: left in place, the collectors crash. helm upgrade
# keeps it (helm patches only what its own manifests changed).
COLLECTORS_WORKAROUND_PATH = ("spec", "values", "collectors", "opentelemetry-kube-stack", "collectors")
COLLECTORS_WORKAROUND_NAME = "fix"


def collectors_workaround_patch(helmrelease) -> dict:
    """A JSON merge patch (RFC 7386) that takes the "Upgrade to v1.10.0" collectors workaround out of a kof-regional
    HelmRelease: the volume and volumeMount named "fix" of the target-allocator and cluster collectors go, other
    entries stay, a list (or collector section) left empty is removed (null). It carries the resourceVersion read, so the API server refuses
    it (409) when someone changed the HelmRelease since. {} when there is nothing to remove."""
    node = helmrelease or {}
    for key in COLLECTORS_WORKAROUND_PATH:
        node = node.get(key) if isinstance(node, dict) else None
    changes = {}
    for component in ("target-allocator", "cluster"):
        entries = node.get(component) if isinstance(node, dict) else None
        for key in ("volumes", "volumeMounts"):
            current = entries.get(key) if isinstance(entries, dict) else None
            if not isinstance(current, list):
                continue
            keep = [x for x in current if not (isinstance(x, dict) and x.get("name") == COLLECTORS_WORKAROUND_NAME)]
            if len(keep) != len(current):
                changes.setdefault(component, {})[key] = keep or None
        # the workaround created `cluster` with nothing else in it: the docs remove it whole
        if component in changes and all(changes[component].get(k, v) is None for k, v in entries.items()):
            changes[component] = None
    if not changes:
        return {}
    patch = {"collectors": changes}
    for key in reversed(COLLECTORS_WORKAROUND_PATH[1:-1]):
        patch = {key: patch}
    metadata = {"resourceVersion": ((helmrelease or {}).get("metadata") or {}).get("resourceVersion")}
    return {"metadata": {k: v for k, v in metadata.items() if v}, "spec": patch}


def generation(kof_version) -> str:
    """How a fleet of this KOF version is read (verification, reports): "1.x" from 1.0 on (kcm v1beta1,
    MultiClusterServices, kof-operator), else "0.1". Unlike install_flow it never refuses: any fleet can be read."""
    return "1.x" if kof_version and kof_version_tuple(kof_version) >= (1, 0, 0) else "0.1"


# ---------------------------------------------------------------------------------------- validators
def check_name(value, option, label=False):
    limit = 63 if label else 253
    rx = DNS1123_LABEL if label else DNS1123_SUBDOMAIN
    if not isinstance(value, str) or len(value) > limit or not rx.match(value):
        kind = "DNS-1123 label" if label else "DNS-1123 subdomain"
        raise ValidationError(f"{option} {value!r} is not a valid name: lowercase letters, digits, '-'"
                              f"{'' if label else ' and .'}, starting and ending alphanumeric ({kind}, at most "
                              f"{limit} characters)")
    return value


def check_host(host) -> bool:
    return bool(host) and (bool(HOSTNAME.match(host)) or bool(IPV6.match(host)))


def check_target(value, option="targets"):
    host, sep, port = str(value).rpartition(":")
    if not sep or not check_host(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError(f"{option} entry {value!r} is not host:port (for example vmauth.example.com:443)")
    return value


def check_url(value, option):
    text = str(value or "")
    try:
        parsed = urlparse(text)
        port = parsed.port  # raises ValueError for a bad port
    except ValueError:
        parsed, port = None, None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname or \
            not check_host(parsed.hostname if ":" not in parsed.hostname else f"[{parsed.hostname}]") or \
            (port is not None and not 0 < port < 65536) or any(c.isspace() for c in text):
        raise ValidationError(f"{option} {value!r} is not an http(s) URL (for example https://vmauth.example.com/vls)")
    if parsed.username or parsed.password:
        # a credential in the URL would land in the object, the diff and the logs
        raise ValidationError(f"{option} must not contain credentials: reference them with basic_auth")
    return value


def check_duration(value, option):
    if not isinstance(value, str) or not DURATION.match(value):
        raise ValidationError(f"{option} {value!r} is not a Go duration like 5s, 1m30s or 10m")
    return value


def check_secret_key(value, option):
    if not isinstance(value, str) or not SECRET_KEY.match(value) or len(value) > 253:
        raise ValidationError(f"{option} {value!r} is not a valid Secret key (letters, digits, '-', '_', '.')")
    return value


def as_bool(value, option):
    """A boolean option that may arrive as a string from a template ("true", "False", "yes", "0")."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", "", "none"):
        return False
    raise ValidationError(f"{option} {value!r} is not a boolean")


def check_metadata(items, option, values_are_labels):
    """Label / annotation keys ([prefix/]name) and, for labels, values; both must be strings."""
    if not isinstance(items, dict):
        raise ValidationError(f"{option} must be a dictionary")
    for key, val in items.items():
        prefix, _sep, name = str(key).rpartition("/")
        if not isinstance(key, str) or (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) \
                or len(name) > 63 or not LABEL_NAME.match(name):
            raise ValidationError(f"{option} key {key!r} is not a valid key ([prefix/]name, name at most 63 "
                                  "characters)")
        if not isinstance(val, str):
            raise ValidationError(f"{option} value of {key!r} must be a string (quote it): got {val!r}")
        if values_are_labels and val and (len(val) > 63 or not LABEL_NAME.match(val)):
            raise ValidationError(f"{option} value {val!r} of {key!r} is not a valid label value")
    return items


def _domain(params):
    domain = params.get("regional_domain")
    if domain is not None and (not isinstance(domain, str) or not HOSTNAME.match(domain)):
        raise ValidationError(f"regional_domain {domain!r} is not a DNS domain (for example region1.kof.example.com)")
    return domain


def _secret_ref(auth, option):
    """(secret, username_key, password_key) of a basic_auth option, or None when it is off."""
    auth = auth or {}
    secret = auth.get("secret_name")
    if secret in (None, ""):
        return None
    return (check_name(secret, f"{option}.secret_name"),
            check_secret_key(auth.get("username_key") or "username", f"{option}.username_key"),
            check_secret_key(auth.get("password_key") or "password", f"{option}.password_key"))


# ------------------------------------------------------------------------------------ PromxyServerGroup
def promxy_server_group_id(params: dict) -> dict:
    """What state=absent needs: apiVersion, kind, name and namespace (no target, no Secret)."""
    cluster = check_name(params.get("cluster_name"), "cluster_name", label=True)
    return {"apiVersion": psg_api(params.get("kof_version") or DEFAULT_KOF_VERSION)[0], "kind": "PromxyServerGroup",
            "metadata": {"name": check_name(params.get("name") or f"{cluster}-metrics", "name"),
                         "namespace": check_name(params.get("namespace") or "kof", "namespace", label=True)}}


def promxy_server_group(params: dict) -> dict:
    """The PromxyServerGroup for module params (the guide's object derived from cluster_name + regional_domain)."""
    cluster = check_name(params.get("cluster_name"), "cluster_name", label=True)
    domain = _domain(params)
    kof_version = params.get("kof_version") or DEFAULT_KOF_VERSION
    api_version, label_key = psg_api(kof_version)
    targets = params.get("targets") or ([f"vmauth.{domain}:443"] if domain else None)
    if not targets:
        raise ValidationError("targets is empty: give targets, or regional_domain to use vmauth.<regional_domain>:443")
    for target in targets:
        check_target(target)
    name = check_name(params.get("name") or f"{cluster}-metrics", "name")
    namespace = check_name(params.get("namespace") or "kof", "namespace", label=True)
    secret_label = check_name(params.get("promxy_secret") or DEFAULT_PROMXY_SECRET, "promxy_secret")
    scheme = params.get("scheme") or "https"
    if scheme not in ("http", "https"):
        raise ValidationError(f"scheme {scheme!r} must be http or https")
    path_prefix = params.get("path_prefix")
    path_prefix = "/vm/select/0/prometheus/" if path_prefix is None else path_prefix
    if not isinstance(path_prefix, str) or not path_prefix.startswith("/") or any(c.isspace() for c in path_prefix):
        raise ValidationError(f"path_prefix {path_prefix!r} must be a URL path starting with /")
    basic_auth = params.get("basic_auth")
    if basic_auth is None:
        basic_auth = {"secret_name": STORAGE_SECRET}
    ref = _secret_ref(basic_auth, "basic_auth")
    if ref is None and kof_version_tuple(kof_version) < (0, 2, 0):
        raise ValidationError("basic_auth.secret_name is empty: the KOF 0.1.x promxy-operator always reads the "
                              "credentials Secret (an empty name fails its whole reconcile)")
    dial_timeout = check_duration(params.get("dial_timeout") or "5s", "dial_timeout")
    http = {"dial_timeout": dial_timeout,
            "tls_config": {"insecure_skip_verify": as_bool(params.get("insecure_skip_verify", False),
                                                           "insecure_skip_verify")}}
    if ref:
        http["basic_auth"] = {"credentials_secret_name": ref[0], "username_key": ref[1], "password_key": ref[2]}
    labels = {"app.kubernetes.io/name": "promxy-operator"}
    labels.update(check_metadata(params.get("labels") or {}, "labels", True))
    # the operator keys on this label; an extra label must not override it
    labels[label_key] = secret_label
    obj = {"apiVersion": api_version, "kind": "PromxyServerGroup",
           "metadata": {"name": name, "namespace": namespace, "labels": labels},
           "spec": {"cluster_name": cluster, "targets": list(targets), "path_prefix": path_prefix, "scheme": scheme,
                    "http_client": http}}
    if params.get("annotations"):
        obj["metadata"]["annotations"] = dict(check_metadata(params["annotations"], "annotations", False))
    return obj


# kof-operator v1.10.0 (clusterdeployment_kof_cluster_role.go, defaultEndpoints): each endpoint of a regional
# cluster derived from its domain, under the keys of kof_regional_endpoints; the ConfigMap key is
# <read|write>_<kind>_endpoint (configmap_cluster_data.go, ConfigData.ToMap)
REGIONAL_ENDPOINTS = {
    "metrics_read": "https://vmauth.%s/vm/select/0/prometheus",
    "metrics_write": "https://vmauth.%s/vm/insert/0/prometheus/api/v1/write",
    "logs_read": "https://vmauth.%s/vls",
    "logs_write": "https://vmauth.%s/vli/insert/opentelemetry/v1/logs",
    "traces_read": "https://vmauth.%s/vts",
    "traces_write": "https://vmauth.%s/vti/insert/opentelemetry/v1/traces",
    "audit_logs_read": "https://vmauth.%s/vlas",
    "audit_logs_write": "https://vmauth.%s/vlai/insert/opentelemetry/v1/logs",
}
REGIONAL_ROLE_LABEL = "k0rdent.mirantis.com/kof-cluster-role"


def kof_config_map_name(role: str, cluster: str) -> str:
    """kof-operator v1.10.0's ConfigMap of a cluster: kof-<regional> (GetRegionalClusterConfigMapName),
    kof-cluster-config-<child> (GetConfigMapName)."""
    return f"kof-{cluster}" if role == "regional" else f"kof-cluster-config-{cluster}"


def regional_config_map(params: dict) -> dict:
    """A regional cluster that is only a ConfigMap (k0rdent docs admin/kof kof-install, "Regional ConfigMap"): the
    data kof-operator v1.10.0 reads from a regional ConfigMap (ConfigData), every endpoint given in `endpoints` or
    derived from `regional_domain`. Named kof-<cluster>, as kof-operator names the one it makes from a regional
    ClusterDeployment, because that is the name a child's kof-regional-cluster-name label is resolved to
    (DiscoverRegionalClusterCmByLabel) - the docs' example named after the cluster alone is found by location only."""
    cluster = check_name(params.get("cluster_name"), "cluster_name", label=True)
    namespace = check_name(params.get("namespace") or "kcm-system", "namespace", label=True)
    domain = _domain(params)
    endpoints = params.get("endpoints") or {}
    if not isinstance(endpoints, dict):
        raise ValidationError("endpoints must be a mapping of endpoint -> URL")
    unknown = sorted(set(endpoints) - set(REGIONAL_ENDPOINTS))
    if unknown:
        raise ValidationError(f"endpoints has unknown keys {', '.join(map(str, unknown))}; known: "
                              + ", ".join(REGIONAL_ENDPOINTS))
    missing = [k for k in REGIONAL_ENDPOINTS if not endpoints.get(k)]
    if missing and not domain:
        raise ValidationError(f"regional_domain is empty and endpoints lacks {', '.join(missing)}: kof-operator "
                              "needs every endpoint of a regional ConfigMap")
    region = params.get("aws_region") or ""
    if not isinstance(region, str):
        raise ValidationError(f"aws_region {region!r} must be a string")
    http = {"tls_config": {"insecure_skip_verify": True}} \
        if as_bool(params.get("insecure_skip_verify", False), "insecure_skip_verify") else None
    data = {"regional_cluster_name": cluster, "regional_cluster_namespace": namespace,
            # location data: what kof-operator matches children by when they carry no kof-regional-cluster-name
            # label (the collection's children always do); the collection's clusters are AWS ones
            "regional_cluster_cloud": "aws", "aws_region": region, "azure_location": "", "openstack_region": "",
            "vsphere_datacenter": "", "istio_role": "", "kof_http_config": json.dumps(http) if http else ""}
    for key, fmt in REGIONAL_ENDPOINTS.items():
        url = check_url(endpoints.get(key) or fmt % domain, f"endpoints.{key}")
        kind, _sep, way = key.rpartition("_")
        data[f"{way}_{kind}_endpoint"] = url
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": kof_config_map_name("regional", cluster), "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "k0rdent.kof", REGIONAL_ROLE_LABEL: "regional"}},
            "data": data}


def insecure_warning(obj: dict) -> str | None:
    """The warning for a PromxyServerGroup that turns off promxy's certificate check of its targets."""
    tls = ((obj.get("spec") or {}).get("http_client") or {}).get("tls_config") or {}
    if obj.get("kind") != "PromxyServerGroup" or not tls.get("insecure_skip_verify"):
        return None
    return (f"PromxyServerGroup {obj['metadata']['namespace']}/{obj['metadata']['name']}: insecure_skip_verify is "
            f"true: promxy will not verify the certificate of {', '.join(obj['spec'].get('targets') or [])}")


def promxy_rendered(obj: dict, config: dict) -> bool:
    """True when the operator's rendered promxy config (parsed config.yaml) has a server group for this
    PromxyServerGroup's current spec: same cluster label, targets, path prefix and scheme. Comparing the spec,
    not only the cluster, keeps a wait after an update from returning on the previous render."""
    spec = obj.get("spec") or {}
    tls = ((spec.get("http_client") or {}).get("tls_config") or {})
    for group in ((config or {}).get("promxy") or {}).get("server_groups") or []:
        if not isinstance(group, dict) or (group.get("labels") or {}).get("promxyCluster") != spec.get("cluster_name"):
            continue
        targets = [t for sc in group.get("static_configs") or [] for t in (sc.get("targets") or [])]
        rendered_tls = (group.get("http_client") or {}).get("tls_config")
        if targets == list(spec.get("targets") or []) and group.get("path_prefix") == spec.get("path_prefix") \
                and group.get("scheme") == spec.get("scheme") and (
                    rendered_tls is None  # the 1.x template omits tls_config without basic auth
                    or bool(rendered_tls.get("insecure_skip_verify")) == bool(tls.get("insecure_skip_verify"))):
            return True
    return False


# ------------------------------------------------------------------------------------ GrafanaDatasource
def grafana_datasource_id(params: dict) -> dict:
    """What state=absent needs: apiVersion, kind, name and namespace (no URL, no Secret)."""
    cluster = params.get("cluster_name")
    if cluster is not None:
        check_name(cluster, "cluster_name", label=True)
    name = params.get("name") or (f"{cluster}-logs" if cluster else None)
    if not name:
        raise ValidationError("name is required unless cluster_name is given (name defaults to <cluster_name>-logs)")
    return {"apiVersion": GRAFANA_API, "kind": "GrafanaDatasource",
            "metadata": {"name": check_name(name, "name"),
                         "namespace": check_name(params.get("namespace") or "kof", "namespace", label=True)}}


def grafana_datasource(params: dict) -> dict:
    """The GrafanaDatasource for module params; credentials only as Secret references (valuesFrom)."""
    cluster = params.get("cluster_name")
    if cluster is not None:
        check_name(cluster, "cluster_name", label=True)
    domain = _domain(params)
    name = params.get("name") or (f"{cluster}-logs" if cluster else None)
    if not name:
        raise ValidationError("name is required unless cluster_name is given (name defaults to <cluster_name>-logs)")
    check_name(name, "name")
    namespace = check_name(params.get("namespace") or "kof", "namespace", label=True)
    ds_name = params.get("datasource_name") or cluster or name
    if not isinstance(ds_name, str) or not ds_name.strip() or len(ds_name) > 190:
        raise ValidationError(f"datasource_name {ds_name!r} must be a non-empty string of at most 190 characters")
    ds_type = params.get("type") or "victoriametrics-logs-datasource"
    if ds_type not in DATASOURCE_TYPES:
        raise ValidationError(f"type {ds_type!r} must be one of {', '.join(DATASOURCE_TYPES)}")
    url = params.get("url") or (f"https://vmauth.{domain}/vls" if domain else None)
    if not url:
        raise ValidationError("url is empty: give url, or regional_domain to use https://vmauth.<regional_domain>/vls")
    check_url(url, "url")
    access = params.get("access") or "proxy"
    if access not in ("proxy", "direct"):
        raise ValidationError(f"access {access!r} must be proxy or direct")
    resync = check_duration(params.get("resync_period") or "5m", "resync_period")
    selector = params.get("instance_selector")
    selector = {"dashboards": "grafana"} if selector is None else selector
    if not selector:
        raise ValidationError("instance_selector is empty: it must match the Grafana instance's labels "
                              "(KOF's is dashboards: grafana)")
    check_metadata(selector, "instance_selector", True)
    json_data = params.get("json_data")
    if json_data is not None and not isinstance(json_data, dict):
        raise ValidationError("json_data must be a dictionary")
    datasource = {"name": ds_name, "type": ds_type, "url": url, "access": access,
                  "isDefault": bool(params.get("is_default", False))}
    if json_data:
        datasource["jsonData"] = copy.deepcopy(json_data)
    spec = {"datasource": datasource, "instanceSelector": {"matchLabels": dict(selector)}, "resyncPeriod": resync}
    basic_auth = params.get("basic_auth")
    if basic_auth is None and cluster:
        basic_auth = {"secret_name": STORAGE_SECRET}
    ref = _secret_ref(basic_auth, "basic_auth")
    if ref:
        secret, ukey, pkey = ref
        # grafana-operator substitutes ${<secret key>} with the valuesFrom values (kof-facts section 2)
        datasource.update({"basicAuth": True, "basicAuthUser": "${%s}" % ukey,
                           "secureJsonData": {"basicAuthPassword": "${%s}" % pkey}})
        spec["valuesFrom"] = [
            {"targetPath": "basicAuthUser", "valueFrom": {"secretKeyRef": {"name": secret, "key": ukey}}},
            {"targetPath": "secureJsonData.basicAuthPassword",
             "valueFrom": {"secretKeyRef": {"name": secret, "key": pkey}}}]
    if params.get("allow_cross_namespace_import"):
        spec["allowCrossNamespaceImport"] = True
    labels = {"app.kubernetes.io/managed-by": "k0rdent.kof"}
    labels.update(check_metadata(params.get("labels") or {}, "labels", True))
    obj = {"apiVersion": GRAFANA_API, "kind": "GrafanaDatasource",
           "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec}
    if params.get("annotations"):
        obj["metadata"]["annotations"] = dict(check_metadata(params["annotations"], "annotations", False))
    return obj


def datasource_synchronized(live: dict | None, before: dict | None = None, grafanas: list | None = None):
    """(done, observed, why): grafana-operator applied the object's current content to its Grafana instances.

    Two status generations exist. grafana-operator >= 5.16 (KOF 1.x) writes a DatasourceSynchronized condition
    with observedGeneration: done when it is True for the current generation. v5.13.0-5.15 (KOF 0.1.1's
    kof-mothership ships v5.13.0) writes only NoMatchingInstances, hash, lastMessage, lastResync and uid: done
    when an instance matches, lastMessage is empty, hash and uid are set and, when this run changed
    spec.datasource (before = the object before the write), the hash is no longer the previous content's. That
    version reports nothing for a missing valuesFrom Secret or a Grafana that is not ready (only its log does), so
    the reason given then names both. Its status has no generation either: a change outside spec.datasource (the
    instance selector) leaves it as it was, so with `grafanas` (the Grafana objects whose labels match the
    instance selector, from any namespace) the Grafanas the operator would import into are checked here: at
    least one in the datasource's namespace (or any, with allowCrossNamespaceImport) and ready."""
    if not live:
        return False, None, "the object does not exist"
    status = live.get("status") or {}
    if status.get("conditions"):
        generation = (live.get("metadata") or {}).get("generation") or 1
        cond = next((c for c in status["conditions"] if c.get("type") == "DatasourceSynchronized"), None)
        if cond is None:
            return False, None, "grafana-operator has not reported on it yet"
        if cond.get("observedGeneration") is not None and cond["observedGeneration"] < generation:
            return False, cond, f"the condition is for generation {cond['observedGeneration']}, not {generation}"
        if cond.get("status") != "True" or status.get("NoMatchingInstances"):
            return False, cond, cond.get("message") or cond.get("reason") or "not synchronized"
        return True, cond, ""
    observed = {k: status[k] for k in ("hash", "uid", "lastResync", "lastMessage", "NoMatchingInstances")
                if k in status}
    if status.get("NoMatchingInstances"):
        return False, observed, "no Grafana instance matches spec.instanceSelector (NoMatchingInstances)"
    if status.get("lastMessage"):
        return False, observed, status["lastMessage"]
    pending = ("grafana-operator has not synchronized it yet (grafana-operator 5.13-5.15 reports no error when a "
               "valuesFrom Secret or key is missing in the datasource's namespace or the Grafana instance is not "
               "ready: check both, and the operator's log)")
    if not status.get("hash") or not status.get("uid"):
        return False, observed, pending
    if before is not None:
        old_status = before.get("status") or {}
        # a new spec.datasource is new content, so a new hash (a valuesFrom change may not be: not awaited)
        content_changed = (before.get("spec") or {}).get("datasource") != (live.get("spec") or {}).get("datasource")
        if content_changed and old_status.get("hash") and status["hash"] == old_status["hash"]:
            return False, observed, "status.hash is still the previous content's: " + pending
    if grafanas is not None:
        spec = live.get("spec") or {}
        ns = (live.get("metadata") or {}).get("namespace")
        if not grafanas:
            return False, observed, "no Grafana instance matches spec.instanceSelector"
        eligible = [g for g in grafanas if spec.get("allowCrossNamespaceImport")
                    or (g.get("metadata") or {}).get("namespace") == ns]
        if not eligible:
            return False, observed, (f"the Grafana instances that match spec.instanceSelector are not in namespace {ns} "
                                     "and allowCrossNamespaceImport is false: none imports it")
        ready = [g for g in eligible if (g.get("status") or {}).get("stage") == "complete"
                 and (g.get("status") or {}).get("stageStatus") == "success"]
        if not ready:
            g = eligible[0]
            return False, observed, (f"Grafana {(g.get('metadata') or {}).get('namespace')}/"
                                     f"{(g.get('metadata') or {}).get('name')} is not ready (stage "
                                     f"{(g.get('status') or {}).get('stage', 'none')}, "
                                     f"{(g.get('status') or {}).get('stageStatus', 'no status')})")
    expected_uid = ((live.get("spec") or {}).get("datasource") or {}).get("uid") or \
        (live.get("metadata") or {}).get("uid")
    if expected_uid and status["uid"] != expected_uid:
        return False, observed, f"status.uid {status['uid']} is not the datasource's uid {expected_uid} yet"
    return True, observed, ""


# ----------------------------------------------------------------------------------------- shared
def instance_label_selector(obj: dict) -> str:
    """spec.instanceSelector of a GrafanaDatasource as a label selector string (matchLabels and
    matchExpressions), for listing the Grafana instances it selects."""
    sel = (obj.get("spec") or {}).get("instanceSelector") or {}
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def referenced_secret(obj: dict):
    """The credentials Secret an object references, or None."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "PromxyServerGroup":
        return ((spec.get("http_client") or {}).get("basic_auth") or {}).get("credentials_secret_name") or None
    for entry in spec.get("valuesFrom") or []:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref and ref.get("name"):
            return ref["name"]
    return None


def cluster_of(obj: dict):
    """The regional cluster a PromxyServerGroup or GrafanaDatasource belongs to."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "PromxyServerGroup":
        return spec.get("cluster_name")
    return (spec.get("datasource") or {}).get("name")


def redact(obj):
    """A copy safe to return or diff: literal credentials a GrafanaDatasource may carry (secureJsonData values,
    user and password fields that are not ${...} placeholders, a kubectl last-applied copy of them) are masked.
    Objects this collection writes never hold literals; objects written by others may."""
    if not isinstance(obj, dict) or obj.get("kind") != "GrafanaDatasource":
        return copy.deepcopy(obj)
    out = copy.deepcopy(obj)
    datasource = (out.get("spec") or {}).get("datasource")
    if isinstance(datasource, dict):
        secure = datasource.get("secureJsonData")
        if isinstance(secure, dict):
            for key, val in secure.items():
                if not (isinstance(val, str) and PLACEHOLDER.match(val)):
                    secure[key] = REDACTED
        # the user name is half of the credential (KOF generates it at random): masked as well
        for key in ("password", "basicAuthPassword", "user", "basicAuthUser"):
            val = datasource.get(key)
            if val and not (isinstance(val, str) and PLACEHOLDER.match(val)):
                datasource[key] = REDACTED
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = REDACTED
    return out


# ------------------------------------------------------------------------------------------ KOF 1.x status
# Flux helm-controller (v1.x, the one kcm 1.x ships) writes Ready for the current generation; Stalled=True means it
# gave up (retries exhausted, an invalid chart or values) and only a spec change makes it try again.
FLUX_RELEASE_API = "helm.toolkit.fluxcd.io/v2"


def flux_release_state(obj: dict | None, failure_threshold: int = 0) -> tuple[str, str]:
    """(state, message) of a Flux HelmRelease: "ready", "failed" (Stalled: Flux stopped retrying; or, with
    failure_threshold > 0, that many failed attempts at the current desired state - status.failures - which Flux
    would go on retrying), or "pending" (not there yet, not reconciled for its current generation, or still being
    installed / retried)."""
    if not obj:
        return "pending", "not created yet"
    gen = (obj.get("metadata") or {}).get("generation")
    status = obj.get("status") or {}
    ready, stalled = condition(obj, "Ready") or {}, condition(obj, "Stalled") or {}
    if stalled.get("status") == "True":
        return "failed", f"{stalled.get('reason', 'Stalled')}: {stalled.get('message', '')}".rstrip(": ")
    current = gen is None or status.get("observedGeneration") == gen and ready.get("observedGeneration", gen) == gen
    if ready.get("status") == "True" and current:
        return "ready", ready.get("message", "")
    if not ready:
        return "pending", "not reconciled by Flux yet"
    why = f"{ready.get('reason', 'Progressing')}: {ready.get('message', '')}".rstrip(": ")
    failures = status.get("failures") or 0
    if failure_threshold and ready.get("status") == "False" and failures >= failure_threshold:
        return "failed", f"{why} ({failures} failed attempts)"
    return "pending", why


def service_set_state(obj: dict | None, expected=None) -> tuple[str, str, dict]:
    """(state, message, {service: state}) of a kcm >= 1.x ServiceSet, the services a MultiClusterService deploys
    to one cluster: "ready" when kcm reports it deployed and every service Deployed, "failed" when a service
    Failed (with its failureMessage), else "pending". `expected`: the services of its MultiClusterService - kcm adds
    a service to the ServiceSet only once the services it depends on are deployed, so a ServiceSet whose first wave
    is deployed is not done yet."""
    if not obj:
        return "pending", "no ServiceSet yet (the MultiClusterService has not selected the cluster)", {}
    status = obj.get("status") or {}
    services = status.get("services") or []
    states = {s.get("name", "?"): s.get("state", "") for s in services}
    failed = [s for s in services if s.get("state") == "Failed"]
    if failed:
        return "failed", "; ".join(f"service {s.get('namespace', '')}/{s.get('name', '?')} failed: "
                                   f"{s.get('failureMessage') or 'no message'}" for s in failed), states
    wanted = [s.get("name") for s in (obj.get("spec") or {}).get("services") or []]
    wanted += [n for n in expected or () if n not in wanted]
    if status.get("deployed") is True and all(states.get(n) == "Deployed" for n in wanted) and \
            all(v == "Deployed" for v in states.values()):
        return "ready", f"{len(states)} services deployed", states
    waiting = [f"{n}: {states.get(n) or 'not started'}" for n in wanted if states.get(n) != "Deployed"]
    return "pending", "waiting for " + (", ".join(waiting) or "kcm to report the services deployed"), states


KOF_MCS = {"regional": "kof-regional-cluster", "child": "kof-child-cluster"}


def cluster_services_state(service_sets: list, tier: str, chart_version: str = "",
                           mcs_services: dict | None = None, mcs: str = "") -> tuple[str, str, dict, list]:
    """(state, message, {service: state}, namespaces) of what KOF's MultiClusterServices deploy to one cluster,
    from the kcm ServiceSets of that cluster: the tier's own (kof-regional-cluster, kof-child-cluster; it must
    exist) and every other KOF one that selects it (kof-mothership's secret propagation to children, ...).
    Failed when one failed, ready when all are, else pending. `namespaces`: where the services run pods (not
    kof-propagation's, which copies Secrets).
    chart_version: the KOF chart version the ServiceSets must name for KOF's own charts (kof-* ServiceTemplates,
    kcm's <chart>-<version dashed>): after an upgrade a ServiceSet still deployed at the old version is pending.
    mcs_services: {MultiClusterService: [service names]}, what each ServiceSet must end up with.
    mcs: a MultiClusterService named instead of the tier's own: only its ServiceSet counts, at any chart version
    (the user's MultiClusterService is not upgraded by KOF)."""
    if mcs and mcs != KOF_MCS[tier]:
        kof = [s for s in service_sets if (s.get("spec") or {}).get("multiClusterService") == mcs][:1]
        chart_version = ""
    else:
        mcs = KOF_MCS[tier]
        kof = [s for s in service_sets
               if str((s.get("spec") or {}).get("multiClusterService", "")).startswith("kof-")]
    kof.sort(key=lambda s: ((s.get("spec") or {}).get("multiClusterService") != mcs, s["metadata"]["name"]))
    if not any((s.get("spec") or {}).get("multiClusterService") == mcs for s in kof):
        return "pending", f"no ServiceSet of MultiClusterService {mcs} yet (it has not selected the cluster)", {}, []
    states, messages, services, namespaces = [], [], {}, set()
    suffix = "-" + str(chart_version).lstrip("v").replace(".", "-") if chart_version else ""
    for s in kof:
        state, msg, svc = service_set_state(s, (mcs_services or {}).get((s.get("spec") or {}).get("multiClusterService")))
        stale = [f"{x.get('name')} ({x.get('template')})" for x in (s.get("spec") or {}).get("services") or []
                 if suffix and str(x.get("template", "")).startswith("kof-")
                 and not str(x.get("template", "")).endswith(suffix)]
        if stale and state != "failed":
            state, msg = "pending", (f"waiting for KOF {chart_version}'s ServiceTemplates, the ServiceSet names "
                                     + ", ".join(stale))
        states.append(state)
        if state != "ready":
            messages.append(f"ServiceSet {s['metadata']['name']} (MultiClusterService "
                            f"{s['spec']['multiClusterService']}): {msg}")
        services.update(svc)
        # kof-propagation only copies objects (kof-mothership's kcm.kof.mcs installs it in kcm's namespace): no pods
        namespaces |= {x.get("namespace") for x in (s.get("spec") or {}).get("services") or []
                       if x.get("namespace") and not str(x.get("template", "")).startswith("kof-propagation-")}
    state = "failed" if "failed" in states else "pending" if "pending" in states else "ready"
    msg = "; ".join(messages) or f"{len(services)} services deployed by {len(kof)} MultiClusterService(s)"
    return state, msg, services, sorted(namespaces)


def multi_cluster_service_names(items: list) -> dict:
    """{MultiClusterService: [its services' names]} from a list of MultiClusterServices."""
    return {m["metadata"]["name"]: [x.get("name") for x in ((m.get("spec") or {}).get("serviceSpec") or {})
                                    .get("services") or []] for m in items or []}


# kof-storage's StatefulSets that its helm release manages itself (no operator in between) and whose volume claim
# templates come from values a regional ClusterDeployment carries. kube-apiserver forbids changing a StatefulSet's
# volumeClaimTemplates or podManagementPolicy (apps/validation ValidateStatefulSetUpdate), so a new storage class
# or volume size there makes Sveltos' helm upgrade of kof-storage fail until the StatefulSet is re-created.
# (name, path of its component in kof-storage's values); the facts come from victoria-logs-single 0.8.16 (0.1),
# victoria-logs-cluster 0.0.25 and victoria-traces-cluster 0.1.1 (1.x). The VMCluster and VLCluster claims are the
# VictoriaMetrics operator's to reconcile, not helm's: not listed.
STORAGE_RELEASE = "kof-storage"
STORAGE_CLASS_ANNOTATION = "k0rdent.mirantis.com/kof-storage-class"
STORAGE_VALUES_ANNOTATION = "k0rdent.mirantis.com/kof-storage-values"
CLAIM_TEMPLATE_STATEFULSETS = {
    "0.1": (("kof-storage-victoria-logs-single-server", ("victoria-logs-single", "server")),),
    "1.x": (("kof-storage-victoria-logs-cluster-vlstorage", ("victoria-logs-cluster", "vlstorage")),
            ("kof-storage-vt-cluster-vtstorage", ("victoria-traces-cluster", "vtstorage"))),
}
# persistentVolume keys that reach only the pod template (which may change), not the claim template
_POD_TEMPLATE_ONLY = ("mountPath", "subPath")


def _storage_values(cd: dict) -> tuple[str, dict, object] | None:
    """(flow, kof-storage values, storage class annotation or None) a ClusterDeployment gives kof-storage: the 0.1
    flow's kof-storage service values, or KOF 1.x's cluster annotations; None when it carries no kof-storage."""
    import yaml  # pylint: disable=import-outside-toplevel

    spec = (cd or {}).get("spec") or {}
    for svc in (spec.get("serviceSpec") or {}).get("services") or []:
        if svc.get("name") == STORAGE_RELEASE:
            return "0.1", yaml.safe_load(svc.get("values") or "") or {}, None
    ann = (spec.get("config") or {}).get("clusterAnnotations") or {}
    labels = ((cd or {}).get("metadata") or {}).get("labels") or {}
    if labels.get(REGIONAL_ROLE_LABEL) != "regional":
        return None
    return "1.x", yaml.safe_load(ann.get(STORAGE_VALUES_ANNOTATION) or "") or {}, ann.get(STORAGE_CLASS_ANNOTATION)


def _regional_storage_layers(storage_class, helm_storage) -> dict:
    """KOF 1.x: what kof-regional v1.10.0 puts under a regional cluster's kof-storage values before its own
    `storage` values (helm_storage) and the cluster's storage values annotation: the storage class - the cluster's
    kof-storage-class annotation, else storage.global.storageClass - as the log and trace storage claims' class."""
    if storage_class is None:
        storage_class = ((helm_storage or {}).get("global") or {}).get("storageClass") or ""
    here = {"global": {"storageClass": storage_class or None}}
    for _name, (chart, component) in CLAIM_TEMPLATE_STATEFULSETS["1.x"]:
        here[chart] = {component: {"persistentVolume": {"storageClassName": storage_class or None}}}
    return merge_values(here, helm_storage or {})


def storage_claim_inputs(cd: dict, helm_storage: dict | None = None) -> dict:
    """{StatefulSet: what of the ClusterDeployment feeds its immutable spec} for kof-storage's helm-managed
    StatefulSets (CLAIM_TEMPLATE_STATEFULSETS) that it enables; {} for a cluster without kof-storage. KOF 1.x:
    helm_storage is kof-regional's own `storage` values (kof_values), beneath the cluster's annotations."""
    found = _storage_values(cd)
    if found is None:
        return {}
    flow, values, storage_class = found
    if flow == "1.x":
        # sprig's mergeOverwrite as kof-regional layers them: helm's merge (maps recursively, the rest replaced)
        values = merge_values(_regional_storage_layers(storage_class, helm_storage), values)
    out = {}
    for name, (chart, component) in CLAIM_TEMPLATE_STATEFULSETS[flow]:
        sub = values.get(chart) if isinstance(values.get(chart), dict) else {}
        comp = sub.get(component) if isinstance(sub.get(component), dict) else {}
        if sub.get("enabled") is False or comp.get("enabled") is False:
            continue
        if flow == "0.1" and (comp.get("statefulSet") or {}).get("enabled") is False:
            continue  # a Deployment then: no claim template
        pv = {k: v for k, v in (comp.get("persistentVolume") or {}).items() if k not in _POD_TEMPLATE_ONLY}
        out[name] = {"persistentVolume": pv, "podManagementPolicy": comp.get("podManagementPolicy")}
    return out


def helmrelease_storage(helmrelease: dict | None) -> dict | None:
    """kof-regional's `storage` values as its live Flux HelmRelease carries them (None without one)."""
    return (((helmrelease or {}).get("spec") or {}).get("values") or {}).get("storage")


def storage_claim_values(storage: dict | None) -> dict:
    """The part of kof-regional's `storage` values that reaches the claim templates of kof-storage's StatefulSets
    (its storage class, the log and trace storage's enabled flags, persistentVolume and podManagementPolicy):
    what k0rdent.kof.kof_info returns of the installed chart's defaults, nothing else of the values."""
    storage = storage if isinstance(storage, dict) else {}
    out: dict = {}
    glob = storage.get("global") if isinstance(storage.get("global"), dict) else {}
    if "storageClass" in glob:
        out["global"] = {"storageClass": glob["storageClass"]}
    for _name, (chart, component) in CLAIM_TEMPLATE_STATEFULSETS["1.x"]:
        sub = storage.get(chart) if isinstance(storage.get(chart), dict) else {}
        comp = sub.get(component) if isinstance(sub.get(component), dict) else {}
        keep = {k: copy.deepcopy(comp[k]) for k in ("enabled", "persistentVolume", "podManagementPolicy")
                if k in comp}
        part = {k: sub[k] for k in ("enabled",) if k in sub}
        if keep:
            part[component] = keep
        if part:
            out[chart] = part
    return out


def storage_values_claim_changes(regionals: list, live_storage: dict | None, new_storage: dict | None,
                                 defaults: dict | None, management: bool = False) -> list[dict]:
    """KOF 1.x: the clusters whose kof-storage StatefulSets get other claim templates when kof-regional's `storage`
    values go from live_storage (the live kof-regional HelmRelease's) to new_storage (the kof_values the run
    installs, over the chart's `defaults`): [{cluster: namespace/name ("" the management cluster, regionless
    mode), statefulsets: [...]}]. Every regional ClusterDeployment is judged with its own annotations."""
    before = storage_claim_values(live_storage)
    after = storage_claim_values(merge_values(defaults or {}, new_storage or {}))
    if before == after:
        return []
    clusters = [((cd.get("metadata") or {}).get("namespace", ""), (cd.get("metadata") or {}).get("name", ""), cd)
                for cd in regionals or [] if not (cd.get("metadata") or {}).get("deletionTimestamp")]
    if management:  # regionless: the management cluster runs kof-storage, with no cluster annotations
        clusters.append(("", "", {"metadata": {"labels": {REGIONAL_ROLE_LABEL: "regional"}}}))
    out = []
    for ns, name, cd in sorted(clusters, key=lambda c: (c[0], c[1])):
        old, new = storage_claim_inputs(cd, before), storage_claim_inputs(cd, after)
        names = [sts for sts in sorted(old) if sts in new and old[sts] != new[sts]]
        if names:
            out.append({"cluster": f"{ns}/{name}" if name else "", "statefulsets": names})
    return out


# KOF 0.1.1's kof-storage also renders a Grafana (`grafana-vm`, grafana.enabled, default true) whose data claim
# `grafana-vm-pvc` gets the chart's global.storageClass (templates/grafana/grafana.yaml). grafana-operator (v5.15.1,
# PvcReconciler) merges the Grafana's claim spec into the live claim and updates it; a claim's class cannot change
# (core validation: spec is immutable after creation), so the operator stops at its pvc stage until the claim is
# replaced. Unset, the class leaves the live claim alone (the merge keeps it).
GRAFANA_DATA_CLAIM = {"grafana": "grafana-vm", "claim": "grafana-vm-pvc"}


def _grafana_storage_class(cd: dict) -> tuple[bool, str | None]:
    """KOF 0.1.1: (whether the regional Grafana keeps its data in a claim, the storage class kof-storage's values
    give it) of a ClusterDeployment; (False, None) on KOF 1.x or with Grafana disabled."""
    found = _storage_values(cd)
    if found is None or found[0] != "0.1":
        return False, None
    values = found[1]
    grafana = values.get("grafana") if isinstance(values.get("grafana"), dict) else {}
    if grafana.get("enabled") is False:
        return False, None
    glob = values.get("global") if isinstance(values.get("global"), dict) else {}
    return True, glob.get("storageClass") or None


def grafana_claim_target(desired: dict) -> dict | None:
    """KOF 0.1.1: {namespace, grafana, claim, to} - the regional Grafana's data claim and the storage class
    `desired` gives it; None when it gives none (the cluster's default) or has no such Grafana."""
    kept, storage_class = _grafana_storage_class(desired)
    if not kept or not storage_class:
        return None
    ns = next((s.get("namespace") for s in desired["spec"]["serviceSpec"]["services"]
               if s.get("name") == STORAGE_RELEASE), None) or "kof"
    return dict(GRAFANA_DATA_CLAIM, namespace=ns, to=storage_class)


def grafana_claim_change(live: dict | None, desired: dict) -> dict | None:
    """KOF 0.1.1: {namespace, grafana, claim, from, to} when `desired` gives the regional Grafana's data claim
    another storage class than `live` does (grafana-operator cannot update it); None otherwise."""
    if not live:
        return None
    kept, before = _grafana_storage_class(live)
    target = grafana_claim_target(desired) if kept else None
    if target is None or before == target["to"]:
        return None
    return dict(target, **{"from": before})


def storage_annotations_change(live: dict | None, desired: dict) -> bool:
    """KOF 1.x: whether a live regional ClusterDeployment's storage annotations (class, values) change - the only
    inputs of its kof-storage claim templates that are the cluster's own."""
    old, new = _storage_values(live) if live else None, _storage_values(desired)
    return bool(old and new and old[0] == new[0] == "1.x" and old != new)


def claim_template_changes(live: dict | None, desired: dict, helm_storage: dict | None = None) -> list[str]:
    """The StatefulSets of kof-storage whose claim templates (or other immutable fields) would change when `live`
    becomes `desired`: helm cannot upgrade them in place. Nothing for a new cluster. KOF 1.x: helm_storage is
    kof-regional's own `storage` values (the live HelmRelease's), the same on both sides."""
    if not live:
        return []
    before, after = storage_claim_inputs(live, helm_storage), storage_claim_inputs(desired, helm_storage)
    return [name for name in sorted(before) if name in after and before[name] != after[name]]
