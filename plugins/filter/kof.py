# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters for k0rdent naming conventions, and the KOF objects as the modules would apply them (render mode)."""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources

# Each filter is documented in plugins/filter/<filter name>.yml (ansible-doc -t filter k0rdent.kof.<name>).
_VERSION = re.compile(r"^(?P<base>.*?)-(?P<ver>\d+(?:-\d+)*)$")


def _key(name: str):
    m = _VERSION.match(name)
    if not m:
        return (name, ())
    return (m.group("base"), tuple(int(p) for p in m.group("ver").split("-")))


def newest_template(names):
    names = [n for n in (names or []) if isinstance(n, str) and n]
    if not names:
        return ""
    return max(names, key=lambda n: _key(n)[1])


def template_name(chart: str, version: str) -> str:
    """kof-storage + 0.1.1 -> kof-storage-0-1-1 (how kcm names ServiceTemplates)."""
    return f"{chart}-{str(version).lstrip('v').replace('.', '-')}"


def default_storage_classes(resources):
    """Names of the StorageClasses annotated as the cluster default."""
    out = []
    for sc in resources or []:
        ann = ((sc or {}).get("metadata") or {}).get("annotations") or {}
        if ann.get("storageclass.kubernetes.io/is-default-class") == "true":
            out.append(sc["metadata"]["name"])
    return out


def install_flow(kof_version):
    """0.1.1 -> "0.1", 1.10.0 -> "1.x": the install flow of a KOF version (kof_resources.install_flow)."""
    try:
        return kof_resources.install_flow(kof_version)
    except kof_resources.ValidationError as err:
        raise AnsibleFilterError(str(err)) from err


def _manifest(builder, params):
    if not isinstance(params, dict):
        raise AnsibleFilterError(f"expected the module's options as a mapping, got {type(params).__name__}")
    try:
        return builder(dict(params))
    except kof_resources.ValidationError as err:
        raise AnsibleFilterError(str(err)) from err


def promxy_server_group_manifest(params):
    """The PromxyServerGroup k0rdent.kof.promxy_server_group would apply for these options."""
    return _manifest(kof_resources.promxy_server_group, params)


def grafana_datasource_manifest(params):
    """The GrafanaDatasource k0rdent.kof.grafana_datasource would apply for these options."""
    return _manifest(kof_resources.grafana_datasource, params)


def regional_config_map_manifest(params):
    """The regional ConfigMap k0rdent.kof.regional_registrations would apply for these options (KOF 1.x)."""
    return _manifest(kof_resources.regional_config_map, params)


def collectors_workaround_patch(helmrelease):
    """Merge patch removing the "Upgrade to v1.10.0" collectors workaround from a kof-regional HelmRelease."""
    if helmrelease is not None and not isinstance(helmrelease, dict):
        raise AnsibleFilterError(f"expected a HelmRelease object, got {type(helmrelease).__name__}")
    return kof_resources.collectors_workaround_patch(helmrelease)


def storage_values_claim_changes(regionals, live_helmrelease, new_storage, defaults, management=False):
    """KOF 1.x: the clusters whose kof-storage StatefulSets would get other claim templates from a change of
    kof-regional's `storage` values (kof_values), judged against the live kof-regional HelmRelease."""
    if live_helmrelease is not None and not isinstance(live_helmrelease, dict):
        raise AnsibleFilterError(f"expected a HelmRelease object, got {type(live_helmrelease).__name__}")
    for what, value in (("the new storage values", new_storage), ("the chart's defaults", defaults)):
        if value is not None and not isinstance(value, dict):
            raise AnsibleFilterError(f"{what} must be a mapping, got {type(value).__name__}")
    if not live_helmrelease:  # kof-regional not installed yet: no kof-storage runs from it
        return []
    return kof_resources.storage_values_claim_changes(list(regionals or []),
                                                      kof_resources.helmrelease_storage(live_helmrelease),
                                                      new_storage, defaults,
                                                      management=bool(management))


def _names(items, what):
    if items is None:
        return []
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise AnsibleFilterError(f"{what} must be a list, got {type(items).__name__}")
    return list(items)


def only_in(items, allowed):
    """The items that are also in allowed, in the order of items. select('in', allowed) does the same, but on
    ansible-core 2.19 every membership test walks the lazy list again: quadratic, seconds at 1000 hosts."""
    keep = set(_names(allowed, "the list to keep"))
    return [i for i in _names(items, "the input") if i in keep]


def not_in(items, excluded):
    """The items that are not in excluded, in the order of items (reject('in', excluded) without its cost)."""
    drop = set(_names(excluded, "the list to leave out"))
    return [i for i in _names(items, "the input") if i not in drop]


def _plain(value):
    """A plain copy of a filter argument. ansible-core 2.19 hands filters lazy containers, and a deepcopy of one
    (as the manifests' and storage helpers make) copies its templar with every variable of the run: a fifth of a
    no-op KOF 1.x site.yml run's CPU (py-spy). Walking them renders each value once instead."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _on_plain_data(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*map(_plain, args), **{k: _plain(v) for k, v in kwargs.items()})
    return wrapper


class FilterModule:
    def filters(self):
        return {name: _on_plain_data(func) for name, func in self._filters().items()}

    @staticmethod
    def _filters():
        return {"newest_template": newest_template, "template_name": template_name,
                "default_storage_classes": default_storage_classes,
                "promxy_server_group_manifest": promxy_server_group_manifest,
                "grafana_datasource_manifest": grafana_datasource_manifest, "install_flow": install_flow,
                "regional_config_map_manifest": regional_config_map_manifest,
                "collectors_workaround_patch": collectors_workaround_patch, "only_in": only_in, "not_in": not_in,
                "storage_values_claim_changes": storage_values_claim_changes}
