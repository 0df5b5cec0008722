#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: promxy_server_group_info
short_description: List KOF PromxyServerGroups, for reports and inventories
version_added: 0.1.0
description:
  - Lists the C(PromxyServerGroup) objects of a namespace (or of all namespaces), filtered by name, label selectors
    and regional cluster, with one API request and no discovery.
  - Fails with one line when the CRD is not served (kof-mothership not installed yet, or a wrong O(kof_version)).
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
    description: List every namespace (KOF 1.5 and later put the groups in the regional ClusterDeployments' namespaces).
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
    description: Only the groups of this regional cluster (C(spec.cluster_name)).
    type: str
  kof_version:
    description: KOF version installed; selects the API version to list (as in M(k0rdent.kof.promxy_server_group)).
    type: str
    default: 0.1.1
  api_version:
    description: API version to list, overriding O(kof_version) (for example C(kof.k0rdent.mirantis.com/v1beta1)).
    type: str
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
  - module: k0rdent.kof.promxy_server_group
  - module: k0rdent.kof.grafana_datasource_info
"""

EXAMPLES = r"""
- name: The regional clusters registered with promxy
  k0rdent.kof.promxy_server_group_info:
    namespace: kof
  register: registrations

- name: Report them
  ansible.builtin.debug:
    msg: "{{ registrations.clusters | join(', ') }}"

- name: The group of one region, on KOF 1.8
  k0rdent.kof.promxy_server_group_info:
    cluster_name: cloud1-region1
    kof_version: 1.8.0
"""

RETURN = r"""
resources:
  description: The matching objects, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
clusters:
  description: The regional cluster names of the matching objects (sorted, unique).
  returned: always
  type: list
  elements: str
  sample: [cloud1-region1, cloud1-region2]
api_version:
  description: The API version listed.
  returned: always
  type: str
  sample: kof.k0rdent.mirantis.com/v1alpha1
api_requests:
  description: HTTP requests sent to the Kubernetes API.
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import (
    ValidationError, check_name, cluster_of, psg_api)


def main():
    spec = kof_module.auth_argument_spec()
    spec.update(namespace=dict(type="str", default="kof"), all_namespaces=dict(type="bool", default=False),
                name=dict(type="str"), label_selectors=dict(type="list", elements="str", default=[]),
                cluster_name=dict(type="str"), kof_version=dict(type="str", default="0.1.1"),
                api_version=dict(type="str"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("all_namespaces", "name")])
    params = module.params
    try:
        api_version = params["api_version"] or psg_api(params["kof_version"])[0]
        check_name(params["namespace"], "namespace", label=True)
        if params["name"]:
            check_name(params["name"], "name")
    except ValidationError as err:
        module.fail_json(msg=str(err))
    items, requests = kof_module.list_resources(module, api_version, "PromxyServerGroup")
    module.exit_json(changed=False, resources=items, api_version=api_version, api_requests=requests,
                     clusters=sorted({cluster_of(i) for i in items if cluster_of(i)}))


if __name__ == "__main__":
    main()
