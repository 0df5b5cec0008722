#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: grafana_datasource_info
short_description: List GrafanaDatasources, for reports and inventories
version_added: 0.1.0
description:
  - Lists the C(GrafanaDatasource) objects of a namespace (one request, no discovery), filtered by name, labels and
    cluster.
author:
  - k0rdent.kof maintainers
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: Namespace to list.
    type: str
    default: kof
  name:
    description: Only this object.
    type: str
  label_selectors:
    description: Label selectors (C(key=value), C(key!=value), C(key in (a,b))...), all must match.
    type: list
    elements: str
    default: []
  cluster_name:
    description: Only objects of this regional cluster.
    type: str
  api_version:
    description: API version to list.
    type: str
    default: grafana.integreatly.org/v1beta1
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: List the regional registrations
  k0rdent.kof.grafana_datasource_info:
    namespace: kof
  register: registrations
"""

RETURN = r"""
resources:
  description: The matching objects.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module


def main():
    spec = kof_module.auth_argument_spec()
    spec.update(namespace=dict(type="str", default="kof"), name=dict(type="str"),
                label_selectors=dict(type="list", elements="str", default=[]), cluster_name=dict(type="str"),
                api_version=dict(type="str", default="grafana.integreatly.org/v1beta1"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    items = kof_module.list_resources(module, p["api_version"], "GrafanaDatasource", p["namespace"],
                                      ",".join(p["label_selectors"]) or None)
    if p["name"]:
        items = [i for i in items if i["metadata"]["name"] == p["name"]]
    if p["cluster_name"]:
        items = [i for i in items if kof_module.cluster_of(i) == p["cluster_name"]]
    module.exit_json(changed=False, resources=items)


if __name__ == "__main__":
    main()
