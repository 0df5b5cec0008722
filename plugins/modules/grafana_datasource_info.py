#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: grafana_datasource_info
short_description: List grafana-operator GrafanaDatasources, for reports and inventories
version_added: 0.1.0
description:
  - Lists the C(GrafanaDatasource) objects of a namespace (or of all namespaces), filtered by name, label selectors
    and regional cluster (the datasource name), with one API request and no discovery.
  - Literal secrets an object may hold (C(secureJsonData) values other than C(${...}) placeholders) are masked.
  - Fails with one line when the CRD is not served (kof-mothership not installed yet).
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - k0rdent.kof.kube_connection
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  namespace:
    description: Namespace to list.
    type: str
    default: kof
  all_namespaces:
    description: List every namespace.
    type: bool
    default: false
  name:
    description: Only this object (one GET instead of a list).
    type: str
  label_selectors:
    description: Label selectors (C(key=value), C(key!=value), C(key in (a,b)), C(key)...); all must match.
    type: list
    elements: str
    default: []
  cluster_name:
    description: Only the datasources of this regional cluster (C(spec.datasource.name), as the guide names them).
    type: str
  api_version:
    description: API version to list.
    type: str
    default: grafana.integreatly.org/v1beta1
attributes:
  check_mode:
    support: full
    details: Read-only; runs in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership: [k0rdent.kof.kof]
seealso:
  - module: k0rdent.kof.grafana_datasource
  - module: k0rdent.kof.promxy_server_group_info
"""

EXAMPLES = r"""
- name: The datasources this collection manages
  k0rdent.kof.grafana_datasource_info:
    label_selectors:
      - app.kubernetes.io/managed-by=k0rdent.kof
  register: datasources

- name: Those Grafana has not picked up
  ansible.builtin.debug:
    msg: "{{ datasources.resources | selectattr('status.NoMatchingInstances', 'defined')
             | selectattr('status.NoMatchingInstances') | map(attribute='metadata.name') }}"
"""

RETURN = r"""
resources:
  description: The matching objects, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
clusters:
  description: The datasource names (regional clusters, in the guide's naming) of the matching objects.
  returned: always
  type: list
  elements: str
  sample: [cloud1-region1]
api_version:
  description: The API version listed.
  returned: always
  type: str
  sample: grafana.integreatly.org/v1beta1
api_requests:
  description: HTTP requests sent to the Kubernetes API.
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import ValidationError, check_name, cluster_of


def main():
    spec = kof_module.auth_argument_spec()
    spec.update(namespace=dict(type="str", default="kof"), all_namespaces=dict(type="bool", default=False),
                name=dict(type="str"), label_selectors=dict(type="list", elements="str", default=[]),
                cluster_name=dict(type="str"), api_version=dict(type="str", default="grafana.integreatly.org/v1beta1"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("all_namespaces", "name")])
    params = module.params
    try:
        check_name(params["namespace"], "namespace", label=True)
        if params["name"]:
            check_name(params["name"], "name")
    except ValidationError as err:
        module.fail_json(msg=str(err))
    items, requests = kof_module.list_resources(module, params["api_version"], "GrafanaDatasource")
    module.exit_json(changed=False, resources=items, api_version=params["api_version"], api_requests=requests,
                     clusters=sorted({cluster_of(i) for i in items if cluster_of(i)}))


if __name__ == "__main__":
    main()
