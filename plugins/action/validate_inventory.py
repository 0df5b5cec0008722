# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.validate_inventory: every inventory rule the KOF tiers depend on,
checked for every host before anything is changed. See the module file for docs."""
from __future__ import annotations

import difflib
import fnmatch
import re
from functools import lru_cache
from pathlib import Path

import yaml

from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import DNS1123_LABEL as LABEL
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import DNS1123_SUBDOMAIN as SUBDOMAIN
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import VERSION
from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources as kr
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction

EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
REGION = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DNS_MODES = ("manual", "static_credentials", "node_role", "none")
# kof_regional_endpoints' keys: kof-operator v1.10.0's endpoint annotations (kof-<read|write>-<kind>-endpoint)
ENDPOINT_KEYS = tuple(kr.REGIONAL_ENDPOINTS)
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")

# meta/variables.yml declares every kof_* variable once (its `runtime` list: names the collection sets itself
# while it runs); roles' vars/ files hold their internal names.
COLLECTION = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def declared_variables() -> frozenset:
    """Every kof_* name the collection declares: meta/variables.yml (settings and runtime names) and the roles'
    internal vars."""
    registry = yaml.safe_load((COLLECTION / "meta" / "variables.yml").read_text())
    names = set(registry.get("runtime") or ())
    for section in registry["sections"]:
        names |= set(section["variables"])
    for f in (COLLECTION / "roles").glob("*/vars/*.yml"):
        names |= set(yaml.safe_load(f.read_text()) or {})
    return frozenset(n for n in names if n.startswith("kof_"))


def check_unknown(names_per_host: dict, custom) -> list[str]:
    """One error per unknown kof_* variable, with the hosts that see it and the nearest declared name. The
    user's own kof_* variables are kept with kof_custom_variables (names or shell-style patterns)."""
    known = declared_variables()
    patterns = [str(p) for p in (custom or [])]
    seen: dict[str, list] = {}
    for host, names in names_per_host.items():
        for name in sorted(names):
            if name not in known and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                seen.setdefault(name, []).append(host)
    errs = []
    for name, hosts in sorted(seen.items()):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if len(hosts) == len(names_per_host) > 1:
            where = "every host"  # an extra var or a variable of group all
        else:
            where = ("host " if len(hosts) == 1 else "hosts ") + ", ".join(hosts[:3]) + \
                (f" (+{len(hosts) - 3} more)" if len(hosts) > 3 else "")
        errs.append(f"unknown variable {name} ({where}): "
                    + (f"did you mean {close[0]}? " if close else "")
                    + "the collection does not read it; list your own kof_* variables in kof_custom_variables")
    return errs


ARGS = {
    "management": {"type": "list", "elements": "str", "default": []},
    "regional": {"type": "list", "elements": "str", "default": []},
    "child": {"type": "list", "elements": "str", "default": []},
    "settings": {"type": "str", "required": True},
    "globals": {"type": "dict", "default": {}},
    "install": {"type": "bool", "default": True},
    # the install flows (kof_resources.FLOWS) the calling playbook implements, and what to call it in the refusal
    "flows": {"type": "list", "elements": "str", "default": ["0.1", "1.x"], "choices": ["0.1", "1.x"]},
    "play": {"type": "str", "default": "this playbook"},
    # after kof_version auto was resolved: check only the version-dependent settings, naming where it came from
    "version_source": {"type": "str", "default": ""},
    # with version_source: what the first check found that depends on the flow (flow_dependent())
    "flow_dependent": {"type": "dict", "default": {}},
}
AUTO = "auto"
VERSION_SETTINGS = ("kof_version", "kof_chart_version", "kof_kcm_api_version", "kof_dns_mode", "kof_mothership_values",
                    "kof_cross_namespace", "kof_values")
CROSS_NAMESPACE_VALUE = ("kof-mothership", "values", "kcm", "kof", "operator", "crossNamespace")
# the umbrella kof chart's regionless.* (k0rdent/kof v1.10.0 charts/kof/values.yaml); KOF 1.10 is the first with it
REGIONLESS_KEYS = ("enabled", "clusterName", "domain", "certEmail")
REGIONLESS_SINCE = "1.10.0"
# kof-operator v1.10.0 writes the regionless ConfigMap into k8s.DefaultSystemNamespace, whatever kcm's namespace
REGIONLESS_CONFIGMAP_NAMESPACE = "kcm-system"


def _dig(node, *keys):
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def regionless(g: dict) -> bool:
    """kof_values turns on the umbrella chart's regionless mode (the management cluster stores every child's data)."""
    return _bool(_dig(g.get("kof_values"), "regionless", "enabled")) is True


def check_regionless(g: dict, flow, found: dict) -> list[str]:
    """kof_values.regionless: its keys and values, the KOF version, and what it excludes (the umbrella chart's own
    fail for the other two management-cluster modes; children kof-operator would not connect)."""
    node = _dig(g.get("kof_values"), "regionless")
    if node is None:
        return []
    if not isinstance(node, dict):
        return ["kof_values.regionless must be a mapping (enabled, clusterName, domain, certEmail)"]
    errs = [f"kof_values.regionless has an unknown key {k!r}" + (f" (did you mean {close[0]}?)" if close else "")
            + f"; the kof chart reads {', '.join(REGIONLESS_KEYS)}"
            for k in node if k not in REGIONLESS_KEYS
            for close in [difflib.get_close_matches(str(k), REGIONLESS_KEYS, n=1)]]
    if "enabled" in node and _bool(node["enabled"]) is None:
        errs.append(f"kof_values.regionless.enabled {node['enabled']!r} must be a boolean")
    if not regionless(g):
        return errs
    version = str(g.get("kof_version", ""))
    if flow == "0.1" or (flow == "1.x" and VERSION.match(version) and kr.kof_version_tuple(version) <
                         kr.kof_version_tuple(REGIONLESS_SINCE)):
        errs.append(f"kof_values.regionless: KOF {version} has no regionless mode (the umbrella kof chart has it "
                    f"from {REGIONLESS_SINCE})")
    dom = str(node.get("domain") or "")
    if not dom or dom.startswith(".") or dom.endswith(".") or not SUBDOMAIN.match(dom):
        errs.append(f"kof_values.regionless.domain {node.get('domain')!r} is not a valid DNS domain: children send "
                    "their data to https://vmauth.<domain>, which must resolve to the management cluster (the "
                    "chart's default mothership.example.com is only an example)")
    name = node.get("clusterName")
    if name is not None and not (LABEL.match(str(name)) and len(str(name)) <= 63):
        errs.append(f"kof_values.regionless.clusterName {name!r} is not a valid cluster name (RFC 1123 label)")
    email = node.get("certEmail")
    if email is not None and not EMAIL.match(str(email)):
        errs.append(f"kof_values.regionless.certEmail {email!r} is not a valid e-mail address")
    elif email is None and "kof_admin_email" in g and not EMAIL.match(str(g["kof_admin_email"] or "")):
        errs.append(f"kof_admin_email {g['kof_admin_email']!r} is not a valid e-mail address: regionless mode gives it "
                    "to cert-manager for vmauth.<regionless domain> (or set kof_values.regionless.certEmail)")
    child = _dig(g.get("kof_values"), "kof-child", "values", "fromManagement")
    if _bool(_dig(child, "toManagementCluster", "enabled")) or _dig(child, "toRegionalCluster", "name"):
        errs.append("kof_values: only one of regionless.enabled, kof-child.values.fromManagement.toManagementCluster."
                    "enabled and kof-child.values.fromManagement.toRegionalCluster.name can be on (the kof chart "
                    "refuses the others)")
    outside = found.get("outside_kcm_system") or []
    if outside and _bool(g.get("kof_cross_namespace", False)) is False:
        errs.append(f"{len(outside)} child cluster{'s are' if len(outside) > 1 else ' is'} outside namespace "
                    f"{REGIONLESS_CONFIGMAP_NAMESPACE} ({', '.join(outside[:3])}"
                    f"{f' +{len(outside) - 3} more' if len(outside) > 3 else ''}): in regionless mode kof-operator "
                    f"finds the management cluster's ConfigMap in {REGIONLESS_CONFIGMAP_NAMESPACE}, and looks in a "
                    "child's own namespace only unless kof_cross_namespace is true")
    return errs


def _int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _bool(value):
    if isinstance(value, bool):
        return value
    return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
        str(value).strip().lower())


def check_globals(g: dict, install: bool = True, flows=("0.1", "1.x"), what: str = "this playbook",
                  source: str = "", found=None) -> list[str]:
    """source: how an "auto" kof_version was resolved (kof_info), named in the errors it causes. found: the host
    settings whose validity depends on the flow (flow_dependent())."""
    found = found or {}
    cross = found.get("cross_namespace") or []
    errs = []
    flow = None
    auto = "kof_version" in g and str(g["kof_version"]) in (AUTO, "")
    if auto and source:
        errs.append(f"kof_version auto: nothing to go by ({source}); name the KOF version to install in kof_version")
    elif auto:
        pass  # resolved from the management cluster next (k0rdent.kof.kof_info), then checked again
    elif "kof_version" in g and not VERSION.match(str(g["kof_version"])):
        errs.append(f"kof_version {g['kof_version']!r} is not a version like 0.1.1 (or auto)")
    elif "kof_version" in g and install:
        try:
            flow = kr.install_flow(g["kof_version"], flows, what)
        except kr.ValidationError as err:
            errs.append(str(err) + (f" (kof_version auto: {source})" if source else ""))
    # each flow talks to its own kcm generation: KOF 0.1.x to kcm 0.1 (v1alpha1), KOF 1.x to kcm >= 1.0 (v1beta1)
    want_api = {"0.1": "k0rdent.mirantis.com/v1alpha1", "1.x": "k0rdent.mirantis.com/v1beta1"}.get(flow)
    if want_api and g.get("kof_kcm_api_version", want_api) != want_api:
        errs.append(f"kof_kcm_api_version {g['kof_kcm_api_version']!r} does not match kof_version "
                    f"{g['kof_version']!r}, which runs on {want_api} (leave kof_kcm_api_version unset: its default "
                    "follows kof_version)")
    if flow == "1.x" and g.get("kof_dns_mode") == "node_role" and regionless(g):
        # the storage is the management cluster's: its external-dns values are kof-regional's (kof_values), not a
        # regional ClusterDeployment's annotation the collection writes
        errs.append("kof_dns_mode 'node_role' is for regional clusters: in regionless mode the management cluster "
                    "runs external-dns, so set kof_values['kof-regional'].values.storage['external-dns'] (enabled, "
                    "env without AWS_SHARED_CREDENTIALS_FILE, no extraVolumes) and use kof_dns_mode manual or none")
    if flow == "1.x" and g.get("kof_mothership_values"):
        errs.append("kof_mothership_values is for the KOF 0.1.x kof-mothership release; with KOF 1.x put "
                    "kof-mothership's values under kof_values['kof-mothership']['values'] (the umbrella kof chart)")
    if flow == "1.x" and cross and _bool(g.get("kof_cross_namespace", False)) is False:
        errs.append(f"{len(cross)} child cluster{'s are' if len(cross) > 1 else ' is'} in another namespace than "
                    f"{'their' if len(cross) > 1 else 'its'} regional cluster ({', '.join(cross[:3])}"
                    f"{f' +{len(cross) - 3} more' if len(cross) > 3 else ''}): KOF 1.x's kof-operator looks for a "
                    "child's regional cluster in the child's own namespace only; set kof_cross_namespace: true "
                    "(kof-mothership kcm.kof.operator.crossNamespace), or move them into one namespace with "
                    "kof_kcm_namespace")
    if flow == "0.1" and found.get("regional_endpoints"):
        hosts = found["regional_endpoints"]
        errs.append(f"kof_regional_endpoints (host{'s' if len(hosts) > 1 else ''} {', '.join(hosts[:3])}) is for "
                    "KOF 1.x, whose kof-operator reads the endpoint annotations; KOF 0.1.x derives every endpoint "
                    "from kof_regional_domain")
    if flow == "0.1" and found.get("regional_configmap_only"):
        hosts = found["regional_configmap_only"]
        errs.append(f"kof_regional_configmap_only (host{'s' if len(hosts) > 1 else ''} {', '.join(hosts[:3])}) is for "
                    "KOF 1.x, whose kof-operator registers a regional cluster from its ConfigMap; KOF 0.1.x needs "
                    "every regional cluster's ClusterDeployment")
    if flow == "0.1" and _bool(g.get("kof_cross_namespace", False)) is True:
        errs.append("kof_cross_namespace is for KOF 1.x, where it turns on kof-operator's crossNamespace; KOF 0.1.x "
                    "has no kof-operator, nothing would read it")
    if "kof_cross_namespace" in g and _bool(g["kof_cross_namespace"]) is None:
        errs.append(f"kof_cross_namespace {g['kof_cross_namespace']!r} must be a boolean")
    if _dig(g.get("kof_values"), *CROSS_NAMESPACE_VALUE) is not None:
        errs.append("kof_values sets kof-mothership.values.kcm.kof.operator.crossNamespace: set kof_cross_namespace "
                    "instead, which also puts the kof-regional-cluster-namespace label kof-operator then requires on "
                    "every child")
    errs += check_regionless(g, flow, found)
    if "kof_chart_version" in g and not (auto and str(g["kof_chart_version"]) in (AUTO, "")) \
            and not VERSION.match(str(g["kof_chart_version"])):
        errs.append(f"kof_chart_version {g['kof_chart_version']!r} is not a chart version like 0.1.1")
    for var in ("kof_namespace", "kof_kcm_namespace"):
        if var in g and not (LABEL.match(str(g[var])) and len(str(g[var])) <= 63):
            errs.append(f"{var} {g[var]!r} is not a valid namespace name (RFC 1123 label)")
    for var in ("kof_mothership_release", "kof_operators_release"):
        if var in g and not (LABEL.match(str(g[var])) and len(str(g[var])) <= 53):
            errs.append(f"{var} {g[var]!r} is not a valid helm release name")
    if g.get("kof_mothership_release") not in (None, "kof-mothership"):
        errs.append(f"kof_mothership_release is {g['kof_mothership_release']!r}: KOF 0.1.x needs 'kof-mothership', "
                    "because the promxy config Secret name (<release>-promxy-config) is fixed in every "
                    "PromxyServerGroup label")
    if "kof_kcm_api_version" in g and not re.match(r"^k0rdent\.mirantis\.com/v\d+(alpha|beta)?\d*$",
                                                   str(g["kof_kcm_api_version"])):
        errs.append(f"kof_kcm_api_version {g['kof_kcm_api_version']!r} must look like "
                    "k0rdent.mirantis.com/v1alpha1 or k0rdent.mirantis.com/v1beta1")
    if "kof_dns_mode" in g and g["kof_dns_mode"] not in DNS_MODES:
        errs.append(f"kof_dns_mode {g['kof_dns_mode']!r} must be one of {', '.join(DNS_MODES)}")
    if g.get("kof_storage_class") and not SUBDOMAIN.match(str(g["kof_storage_class"])):
        errs.append(f"kof_storage_class {g['kof_storage_class']!r} is not a valid StorageClass name")
    for var, low in (("kof_wait_timeout", 1), ("kof_concurrency", 1)):
        if var in g and (_int(g[var]) is None or _int(g[var]) < low):
            errs.append(f"{var} {g[var]!r} must be a whole number >= {low}")
    if "kof_validate_certs" in g and _bool(g["kof_validate_certs"]) is None:
        errs.append(f"kof_validate_certs {g['kof_validate_certs']!r} must be a boolean")
    st = g.get("kof_service_templates")
    if st is not None:
        if not isinstance(st, dict):
            errs.append("kof_service_templates must be a mapping of service -> ServiceTemplate name")
        else:
            for key in ("cert_manager", "ingress_nginx", "kof_storage", "kof_operators", "kof_collectors"):
                if not SUBDOMAIN.match(str(st.get(key, ""))):
                    errs.append(f"kof_service_templates.{key} {st.get(key)!r} is not a valid ServiceTemplate name")
    return errs


def flow_dependent(regional, child, settings) -> dict:
    """What check_globals judges once the flow is known: `cross_namespace`, the children whose kof_kcm_namespace
    differs from their regional cluster's, as `child (ns) -> regional (ns)` (KOF 1.x connects them only with
    kof_cross_namespace); `regional_endpoints`, the regional hosts with kof_regional_endpoints, and
    `regional_configmap_only`, those with kof_regional_configmap_only (both KOF 1.x only); `outside_kcm_system`,
    the children not in kcm-system (regionless mode connects them only with kof_cross_namespace)."""
    cross = []
    for h in child:
        s = settings.get(h)
        r = settings.get(s.get("regional")) if isinstance(s, dict) else None
        if isinstance(s, dict) and isinstance(r, dict) and s.get("kcm_namespace") != r.get("kcm_namespace"):
            cross.append(f"{h} ({s.get('kcm_namespace')}) -> {s['regional']} ({r.get('kcm_namespace')})")
    endpoints = [h for h in regional if isinstance(settings.get(h), dict) and settings[h].get("regional_endpoints")]
    outside = [f"{h} ({settings[h].get('kcm_namespace')})" for h in child if isinstance(settings.get(h), dict)
               and settings[h].get("kcm_namespace") != REGIONLESS_CONFIGMAP_NAMESPACE]
    return {"cross_namespace": cross, "regional_endpoints": endpoints,
            "regional_configmap_only": configmap_regionals(regional, settings), "outside_kcm_system": outside}


def configmap_regionals(regional, settings) -> list:
    """The regional hosts with kof_regional_configmap_only: true."""
    return [h for h in regional if isinstance(settings.get(h), dict)
            and _bool(settings[h].get("regional_configmap_only", False)) is True]


def check_hosts(mgmt, regional, child, settings, render=False, regionless=False) -> list[str]:
    """regionless: kof_values.regionless.enabled - no regional clusters, children name none."""
    errs = []
    if regionless and regional:
        errs.append(f"regionless mode (kof_values.regionless.enabled) has no regional clusters: the kof-regional "
                    f"MultiClusterService then selects only the management cluster, so {', '.join(regional[:3])}"
                    f"{f' +{len(regional) - 3} more' if len(regional) > 3 else ''} would get no storage; empty "
                    "group kof_regional, or turn regionless off")
    if len(mgmt) != 1:
        errs.append(f"group kof_management must have exactly one host (the k0rdent management cluster), has "
                    f"{len(mgmt)}: {', '.join(mgmt) or 'none'}")
    both = sorted(set(regional) & set(child))
    for h in both:
        errs.append(f"host {h}: is in both kof_regional and kof_child; a cluster name can only be used once")
    reg_set = set(regional)
    for h in regional + child:
        s = settings.get(h)
        if isinstance(s, Exception):
            errs.append(f"host {h}: {s}")
            continue
        tier = "regional" if h in reg_set else "child"
        if not (LABEL.match(h) and len(h) <= 63):
            errs.append(f"host {h}: the inventory host name is the cluster name and must be a lowercase RFC 1123 "
                        "label (a-z, 0-9, '-', at most 63 characters)")
        tpl = s.get(f"{tier}_template")
        if tpl and not SUBDOMAIN.match(str(tpl)):
            errs.append(f"host {h}: kof_{tier}_template {tpl!r} is not a valid ClusterTemplate name")
        elif not tpl and render:
            errs.append(f"host {h}: kof_{tier}_template is empty: render mode reads no cluster, so it cannot pick "
                        "the newest ClusterTemplate; set kof_cluster_template (or kof_{tier}_template per host)")
        cred = s.get(f"{tier}_credential")
        if not cred or not SUBDOMAIN.match(str(cred)):
            errs.append(f"host {h}: kof_{tier}_credential {cred!r} is not a valid Credential name")
        for key in ("control_plane_number", "workers_number"):
            val = _int(s.get(f"{tier}_{key}"))
            if val is None or val < 1 or (key == "control_plane_number" and val % 2 == 0):
                errs.append(f"host {h}: kof_{tier}_{key} {s.get(f'{tier}_{key}')!r} must be a positive whole number"
                            + (" and odd (etcd quorum)" if key == "control_plane_number" else ""))
        for key in ("control_plane_instance_type", "worker_instance_type"):
            val = s.get(f"{tier}_{key}")
            if not isinstance(val, str) or not re.match(r"^[a-z0-9][a-z0-9.-]*$", val):
                errs.append(f"host {h}: kof_{tier}_{key} {val!r} is not an instance type")
        for key in ("config",):
            if not isinstance(s.get(f"{tier}_{key}"), dict):
                errs.append(f"host {h}: kof_{tier}_{key} must be a mapping")
        if tier == "regional":
            dom = str(s.get("regional_domain") or "")
            if not dom or dom.endswith(".") or dom.startswith(".") or not SUBDOMAIN.match(dom) or len(dom) > 240:
                errs.append(f"host {h}: kof_regional_domain {dom!r} is not a valid DNS domain (set kof_base_domain, "
                            f"or kof_regional_domain for this host)")
            email = s.get("admin_email")
            if not email or not EMAIL.match(str(email)):
                errs.append(f"host {h}: kof_admin_email {email!r} is not a valid e-mail address (cert-manager uses "
                            "it for Let's Encrypt)")
            region = s.get("regional_region")
            if not region or not REGION.match(str(region)):
                errs.append(f"host {h}: kof_regional_region {region!r} is not a cloud region name")
            sc = s.get("regional_storage_class")
            if sc and not SUBDOMAIN.match(str(sc)):
                errs.append(f"host {h}: kof_regional_storage_class {sc!r} is not a valid StorageClass name")
            if _bool(s.get("regional_external_dns")) is None:
                errs.append(f"host {h}: kof_regional_external_dns {s.get('regional_external_dns')!r} must be a boolean")
            if not isinstance(s.get("regional_storage_values"), dict):
                errs.append(f"host {h}: kof_regional_storage_values must be a mapping of kof-storage chart values")
            configmap_only = _bool(s.get("regional_configmap_only", False))
            if configmap_only is None:
                errs.append(f"host {h}: kof_regional_configmap_only {s.get('regional_configmap_only')!r} must be a "
                            "boolean")
            elif configmap_only:
                # what only a ClusterDeployment would carry: set for this host, it would be silently ignored
                ignored = [f"kof_{k}" for k in ("regional_storage_values", "regional_storage_class", "regional_config")
                           if s.get(k)]
                if ignored:
                    errs.append(f"host {h}: {', '.join(ignored)} {'have' if len(ignored) > 1 else 'has'} no effect on "
                                "a regional cluster that is only a ConfigMap (kof_regional_configmap_only): its "
                                "storage is not made by KOF; unset for this host")
            eps = s.get("regional_endpoints")
            if not isinstance(eps, dict):
                errs.append(f"host {h}: kof_regional_endpoints must be a mapping of endpoint -> URL")
            else:
                for key, url in eps.items():
                    if key not in ENDPOINT_KEYS:
                        close = difflib.get_close_matches(str(key), ENDPOINT_KEYS, n=1)
                        errs.append(f"host {h}: kof_regional_endpoints has an unknown endpoint {key!r}"
                                    + (f" (did you mean {close[0]}?)" if close else "")
                                    + f"; known: {', '.join(ENDPOINT_KEYS)}")
                    elif not (isinstance(url, str) and URL.match(url)):
                        errs.append(f"host {h}: kof_regional_endpoints.{key} {url!r} is not an http(s) URL")
        else:
            reg = s.get("regional")
            if regionless:
                if reg:
                    errs.append(f"host {h}: kof_regional {reg!r} is set, but in regionless mode children write to the "
                                "management cluster: unset kof_regional (kof-operator would look for a regional "
                                f"ConfigMap kof-{reg} that does not exist)")
            elif not reg:
                errs.append(f"host {h}: kof_regional is not set: name the regional cluster (a host of group "
                            "kof_regional) this child writes its metrics and logs to")
            elif reg not in reg_set:
                errs.append(f"host {h}: kof_regional {reg!r} is not a host of group kof_regional "
                            f"(regional clusters: {', '.join(sorted(reg_set)) or 'none'})")
            region = s.get("child_region")
            if region and not REGION.match(str(region)):
                errs.append(f"host {h}: kof_child_region {region!r} is not a cloud region name")
            if not isinstance(s.get("child_collectors_values"), dict):
                errs.append(f"host {h}: kof_child_collectors_values must be a mapping of kof-collectors chart values")
    return errs


class ActionModule(KofAction):
    CONNECTION = False
    ARGS = ARGS

    def act(self, args, result):
        task_vars = self.task_vars
        hosts = list(dict.fromkeys(args["regional"] + args["child"]))
        names: dict = {}
        settings = self.per_host(hosts, args["settings"], names=names) if hosts else {}
        # the management host's own variables (this task runs on it): extra vars and its inventory vars
        names[task_vars.get("inventory_hostname", "management")] = {k for k in task_vars if k.startswith("kof_")}
        render = bool(args["globals"].get("kof_render_dir"))
        custom = args["globals"].get("kof_custom_variables") or []
        if args["version_source"]:
            g = {k: v for k, v in args["globals"].items() if k in VERSION_SETTINGS}
            errors = check_globals(g, install=args["install"], flows=args["flows"], what=args["play"],
                                   source=args["version_source"], found=args["flow_dependent"])
        else:
            found = flow_dependent(args["regional"], args["child"], settings)
            errors = check_globals(args["globals"], install=args["install"], flows=args["flows"], what=args["play"],
                                   found=found)
            errors += check_hosts(args["management"], args["regional"], args["child"], settings, render=render,
                                  regionless=regionless(args["globals"]))
            if not isinstance(custom, list):
                errors.append("kof_custom_variables must be a list of variable names (shell-style patterns allowed)")
                custom = []
            errors += check_unknown(names, custom)
        result["changed"] = False
        result["hosts"] = {"management": len(args["management"]), "regional": len(args["regional"]),
                           "child": len(args["child"])}
        if errors:
            result["failed"] = True
            result["errors"] = errors
            result["msg"] = (f"the KOF inventory has {len(errors)} error{'s' if len(errors) > 1 else ''}, nothing was "
                             "changed: " + "; ".join(errors))
        else:
            result["ansible_facts"] = {"kof_inventory_valid": True}
            if not args["version_source"]:
                # for the check after kof_version auto is resolved; the namespace of every regional cluster and of
                # each child outside the management's kof_kcm_namespace (hostvars lack the role defaults)
                result["ansible_facts"]["kof_inventory_flow_dependent"] = found
                result["ansible_facts"]["kof_inventory_configmap_regionals"] = found["regional_configmap_only"]
                result["ansible_facts"]["kof_inventory_namespaces"] = {
                    h: settings[h].get("kcm_namespace") for h in hosts if isinstance(settings.get(h), dict) and (
                        h in args["regional"] or settings[h].get("kcm_namespace") != args["globals"].get(
                            "kof_kcm_namespace"))}
            result["msg"] = (f"inventory valid: {len(args['management'])} management, {len(args['regional'])} "
                             f"regional, {len(args['child'])} child clusters")
