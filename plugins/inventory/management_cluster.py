# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
name: management_cluster
short_description: KOF fleet inventory from the ClusterDeployments of a k0rdent management cluster
version_added: 0.1.0
description:
  - Builds the groups this collection's playbooks use from an existing management cluster, so a fleet deployed
    by hand (the KOF guide) or by another tool is adopted without writing an inventory.
  - C(kof_management) holds one host (O(management_host)). Every ClusterDeployment labelled C(kof=storage) becomes a
    host of C(kof_regional), every one labelled C(kof=collector) a host of C(kof_child); the host name is the
    ClusterDeployment name.
  - Host variables are read from each ClusterDeployment, with the collection's names - C(kof_regional_region),
    C(kof_regional_domain) (from the kof-storage C(vmauth) ingress host), C(kof_regional_template),
    C(kof_regional_credential), instance types and counts, C(kof_regional_external_dns),
    C(kof_regional_storage_class), C(kof_admin_email); for a child C(kof_regional) (its
    C(k0rdent.mirantis.com/kof-regional-cluster-name) label, else the regional cluster whose domain its collectors
    write to, else the only regional cluster in the same cloud region), C(kof_child_template),
    C(kof_child_credential), C(kof_child_region) and sizes. C(kof_clusterdeployment) holds the namespace, labels,
    template and readiness of each, for O(compose), O(groups) and O(keyed_groups).
  - With O(child_region_groups), children are also in C(kof_child_<region>) groups (C(-) becomes C(_)).
  - The connection options are the collection's (kubernetes.core's names and C(K8S_AUTH_*) environment
    variables). A kubeconfig path written in the configuration file is also set as
    C(kof_kubeconfig) (and the context as C(kof_context)) for all hosts, so the playbooks reach the same cluster;
    one from the environment is not (in AWX the credential's file exists only for the job that injected it).
  - The configuration file name must end with C(management_cluster.yml) or C(management_cluster.yaml).
  - This plugin was called C(k0rdent.kof.clusterdeployments) before. The old name still works, with a
    deprecation warning, until 2.0.0; configuration files that name the old plugin or end with
    C(clusterdeployments.yml) or C(clusterdeployments.yaml) are still read.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - k0rdent.kof.kube_connection
options:
  plugin:
    description:
      - The name of this plugin; it marks the file as a source for it.
      - C(k0rdent.kof.clusterdeployments) is the deprecated old name.
    required: true
    choices: [k0rdent.kof.management_cluster, k0rdent.kof.clusterdeployments]
    type: str
  management_host:
    description: Name of the host of group C(kof_management).
    type: str
    default: mothership
  namespace:
    description: Namespace of the ClusterDeployments (kcm's).
    type: str
    default: kcm-system
  api_version:
    description: API version of ClusterDeployment (C(k0rdent.mirantis.com/v1alpha1) for kcm 0.x, C(v1beta1) for 1.x).
    type: str
    default: k0rdent.mirantis.com/v1alpha1
  child_region_groups:
    description: Also group children per regional cluster (C(kof_child_<region>)).
    type: bool
    default: true
notes:
  - Read-only - one list request per run (none when the cache is fresh). Secrets, including kubeconfigs, are not read.
"""

EXAMPLES = r"""
# fleet.management_cluster.yml - adopt the fleet of the management cluster in $K8S_AUTH_KUBECONFIG
plugin: k0rdent.kof.management_cluster

# With a kubeconfig, extra groups per cloud region and a cache
# plugin: k0rdent.kof.management_cluster
# kubeconfig: ~/.kube/k0rdent-management.yaml
# keyed_groups:
#   - key: kof_clusterdeployment.config_region
#     prefix: region
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/kof-inventory
# cache_timeout: 600
"""

import re

import yaml
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.path import unfrackpath

from ansible_collections.k0rdent.kof.plugins.module_utils.converge import is_ready
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import (
    AUTH_OPTIONS, Kube, KubeError, connection_settings, object_path)

CACHE_FORMAT = 1  # bump when the cached data changes shape


def _get(node, *path, default=None):
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _values(cd: dict, service: str) -> dict:
    for svc in _get(cd, "spec", "serviceSpec", "services", default=[]) or []:
        if svc.get("name") == service:
            text = svc.get("values")
            try:
                loaded = yaml.safe_load(text) if isinstance(text, str) else text
            except yaml.YAMLError:
                return {}
            return loaded if isinstance(loaded, dict) else {}
    return {}


def _host(url) -> str | None:
    m = re.match(r"^(?:https?://)?vmauth\.([^/:]+)", url or "")
    return m.group(1) if m else None


def describe(cds: list) -> dict:
    """Pure: ClusterDeployments -> {'regional': {name: vars}, 'child': {name: vars}} (collection variable names)."""
    out = {"regional": {}, "child": {}}
    for cd in sorted(cds, key=lambda c: c["metadata"]["name"]):
        meta = cd.get("metadata") or {}
        labels = meta.get("labels") or {}
        tier = {"storage": "regional", "collector": "child"}.get(labels.get("kof"))
        if tier is None:
            continue
        cfg = _get(cd, "spec", "config", default={}) or {}
        prefix = "kof_regional_" if tier == "regional" else "kof_child_"
        hv = {"kof_clusterdeployment": {"namespace": meta.get("namespace"), "labels": labels,
                                        "template": _get(cd, "spec", "template"), "ready": is_ready(cd),
                                        "config_region": cfg.get("region")}}
        pairs = {"template": _get(cd, "spec", "template"), "credential": _get(cd, "spec", "credential"),
                 "control_plane_instance_type": _get(cfg, "controlPlane", "instanceType"),
                 "control_plane_number": cfg.get("controlPlaneNumber"),
                 "worker_instance_type": _get(cfg, "worker", "instanceType"),
                 "workers_number": cfg.get("workersNumber"),
                 "region": cfg.get("region")}
        for key, value in pairs.items():
            if value is not None:
                hv[prefix + key] = value
        if tier == "regional":
            storage = _values(cd, "kof-storage")
            domain = _host(_get(storage, "victoriametrics", "vmauth", "ingress", "host"))
            extra = {"kof_regional_domain": domain,
                     "kof_regional_external_dns": _get(storage, "external-dns", "enabled"),
                     "kof_regional_storage_class": _get(storage, "global", "storageClass"),
                     "kof_admin_email": _get(storage, "cert-manager", "email")}
        else:
            collectors = _values(cd, "kof-collectors")
            extra = {"kof_regional": labels.get("k0rdent.mirantis.com/kof-regional-cluster-name"),
                     "_writes_to": _host(_get(collectors, "kof", "metrics", "endpoint"))}
        hv.update({k: v for k, v in extra.items() if v not in (None, "")})
        out[tier][meta["name"]] = hv
    domains = {hv.get("kof_regional_domain"): name for name, hv in out["regional"].items()}
    for name, hv in out["child"].items():
        writes_to = hv.pop("_writes_to", None)
        if "kof_regional" in hv:
            continue
        if writes_to in domains:
            hv["kof_regional"] = domains[writes_to]
            continue
        # KOF's own discovery: the regional cluster in the same cloud region, when there is exactly one
        same = [r for r, rv in out["regional"].items()
                if rv.get("kof_regional_region") and rv.get("kof_regional_region") == hv.get("kof_child_region")]
        if len(same) == 1:
            hv["kof_regional"] = same[0]
    return out


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "k0rdent.kof.management_cluster"
    SUFFIXES = ("management_cluster.yml", "management_cluster.yaml")
    OLD_SUFFIXES = ("clusterdeployments.yml", "clusterdeployments.yaml")

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(self.SUFFIXES + self.OLD_SUFFIXES)

    def _read_config_data(self, path):
        # the old plugin name in a file is accepted when the plugin is loaded through it (enable_plugins or auto:
        # meta/runtime.yml's redirect, which prints the deprecation); the old file name ending is warned here
        config = super()._read_config_data(path)
        if path.endswith(self.OLD_SUFFIXES):
            self.display.deprecated(f"{path}: the configuration file of the inventory plugin {self.NAME} should "
                                    f"end with {self.SUFFIXES[0]} (or .yaml); clusterdeployments.yml is the old "
                                    "ending", version="2.0.0", collection_name="k0rdent.kof")
        return config

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path) or {}
        # only a kubeconfig written in this file becomes kof_kubeconfig: one from the environment (an AWX
        # credential's temporary file) would be stale in the next job
        self._explicit = {k for k in ("kubeconfig", "context") if config.get(k)}
        self._kubeconfig = self.get_option("kubeconfig")
        if isinstance(self._kubeconfig, str):
            self._kubeconfig = unfrackpath(self._kubeconfig, follow=False)  # ~ and variables expanded, absolute
        key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        data = None
        if use_cache:
            try:
                data = self._cache[key]
                if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
                    data, update_cache = None, True
            except KeyError:
                update_cache = True
        if data is None:
            data = {"format": CACHE_FORMAT, "fleet": describe(self._fetch())}
        if update_cache:
            self._cache[key] = data
        self._populate(data["fleet"])

    def _fetch(self) -> list:
        options = {opt: self.get_option(opt) for opt in AUTH_OPTIONS}
        options["kubeconfig"] = self._kubeconfig
        try:
            kube = Kube(connection_settings(options), retries=3, timeout=30)
        except KubeError as err:
            raise AnsibleParserError(f"{self.NAME}: {err}")
        if kube.verify is False:  # validate_certs, K8S_AUTH_VERIFY_SSL or the kubeconfig's insecure-skip-tls-verify
            self.display.warning(f"{self.NAME}: TLS verification of the management cluster API is "
                                 "off: its certificate is not verified. Use this for test clusters only.")
        try:
            return kube.list_all(object_path(self.get_option("api_version"), "clusterdeployments",
                                             self.get_option("namespace")),
                                 label_selector="kof in (storage, collector)")[0]
        except KubeError as err:
            raise AnsibleParserError(f"{self.NAME}: cannot list the ClusterDeployments: {err}")
        finally:
            kube.close()

    def _populate(self, fleet: dict):
        inv = self.inventory
        strict = self.get_option("strict")
        for group in ("kof_management", "kof_regional", "kof_child"):
            inv.add_group(group)
        mgmt = self.get_option("management_host")
        inv.add_host(mgmt, group="kof_management")
        if "kubeconfig" in self._explicit and self.get_option("host") is None:
            inv.set_variable("all", "kof_kubeconfig", self._kubeconfig)
            if "context" in self._explicit:
                inv.set_variable("all", "kof_context", self.get_option("context"))
        for tier, group in (("regional", "kof_regional"), ("child", "kof_child")):
            for name, hostvars in fleet[tier].items():
                inv.add_host(name, group=group)
                for var, value in hostvars.items():
                    inv.set_variable(name, var, value)
                if tier == "child" and self.get_option("child_region_groups") and hostvars.get("kof_regional"):
                    sub = inv.add_group("kof_child_" + re.sub(r"[^A-Za-z0-9_]", "_", hostvars["kof_regional"]))
                    inv.add_child("kof_child", sub)
                    inv.add_host(name, group=sub)
                self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
                self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
