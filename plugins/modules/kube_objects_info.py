# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: kube_objects_info
short_description: Several reads of the management cluster in one task - objects by kind, name, namespace and labels
version_added: 0.1.0
description:
  - Runs on the controller (action plugin); read-only, so it also runs in check mode. Each entry of O(queries)
    reads what M(kubernetes.core.k8s_info) would read for the same options and answers the same way (RV(answers)
    has its C(resources) and C(api_found)), all in one task over one connection (module_utils/kube.py).
  - One M(kubernetes.core.k8s_info) task starts a Python process that imports the kubernetes client and reads
    API discovery, about a second each; the roles' preflight and verify reads are batched here instead
    (docs/performance.md).
  - A Secret's data is returned as read (base64), so give such a task C(no_log). The answers are under RV(answers),
    not C(results), which ansible-core treats as loop results and shows even under C(no_log).
  - Plurals and scopes come from API discovery (one request per group-version). Transient API errors (429, 5xx,
    a dropped connection) are retried by the connection layer.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  queries:
    description:
      - The reads, answered in this order in RV(answers); any key not below is refused.
    type: list
    elements: dict
    default: []
    suboptions:
      api_version:
        description: API version of the kind, as in M(kubernetes.core.k8s_info).
        type: str
        required: true
      kind:
        description: The kind to read.
        type: str
        required: true
      name:
        description:
          - One object by name (an empty list when it does not exist).
          - Not together with O(queries[].label_selectors) (M(kubernetes.core.k8s_info) reads a named object
            whatever its labels).
        type: str
        default: ""
      namespace:
        description: Namespace of a namespaced kind; without it the kind is listed in all namespaces.
        type: str
        default: ""
      label_selectors:
        description: Label selector strings, as in M(kubernetes.core.k8s_info).
        type: list
        elements: str
        default: []
  server_version:
    description: Also read the API server's version (C(/version)) into RV(server_version).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Read-only; runs in check mode.
  diff_mode:
    support: none
  action:
    support: full
"""

EXAMPLES = r"""
- name: Read k0rdent's Management object, the StorageClasses and the KOF namespace, and the Kubernetes version
  k0rdent.kof.kube_objects_info:
    server_version: true
    queries:
      - {api_version: k0rdent.mirantis.com/v1beta1, kind: Management, name: kcm}
      - {api_version: storage.k8s.io/v1, kind: StorageClass}
      - {api_version: v1, kind: Namespace, name: kof}
  register: live

- name: Show them
  ansible.builtin.debug:
    msg: >-
      Kubernetes {{ live.server_version.gitVersion }}, kcm {{ live.answers[0].resources[0].status.release }},
      StorageClasses {{ live.answers[1].resources | map(attribute='metadata.name') | join(', ') }}

- name: Regional ClusterDeployments of KOF 1.x, by label
  k0rdent.kof.kube_objects_info:
    queries:
      - api_version: k0rdent.mirantis.com/v1beta1
        kind: ClusterDeployment
        namespace: kcm-system
        label_selectors: [k0rdent.mirantis.com/kof-cluster-role=regional]
  register: regionals
"""

RETURN = r"""
answers:
  description:
    - One entry per query, in order - the query's C(api_version), C(kind), C(name), C(namespace) and
      C(label_selectors), C(api_found) (false when the cluster does not serve the kind, for example its CRD is not
      installed) and C(resources), the objects found (each with C(apiVersion) and C(kind)); a named object that
      does not exist gives an empty list.
  returned: success
  type: list
  elements: dict
server_version:
  description: The API server's C(/version) document (C(gitVersion), C(major), C(minor), ...), with O(server_version).
  returned: when O(server_version) is true
  type: dict
api_requests:
  description: API requests sent.
  returned: success
  type: int
"""
