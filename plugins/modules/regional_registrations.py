#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: regional_registrations
short_description: Register the regional clusters of a whole play batch with promxy and Grafana in one task
version_added: 0.1.0
description:
  - Runs once (with C(run_once)) for every host in O(hosts) and applies each host's PromxyServerGroup and
    GrafanaDatasource - the objects M(k0rdent.kof.promxy_server_group) and M(k0rdent.kof.grafana_datasource) would
    apply, built by the same code from the same options, read from the variables named by O(promxy_server_group)
    and O(grafana_datasource) in that host's own variable context.
  - Works in the controller process (action plugin) - one module start-up less per object and host. One list per
    kind and namespace, then a server-side apply (field manager V(k0rdent.kof)) only for objects that differ from
    the live ones, so a no-op run sends no write. The referenced credentials Secret is checked once (O(missing_secret))
    and only when something is written.
  - Per-host outcomes are returned in RV(hosts); M(k0rdent.kof.fleet_result) reports them on each host.
  - Removal is not batched - use the two modules with O(k0rdent.kof.promxy_server_group#module:state=absent).
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  hosts:
    description: Inventory hosts (regional clusters) to register, usually the regional hosts of C(ansible_play_batch).
    type: list
    elements: str
    required: true
  promxy_server_group:
    description:
      - Name of the variable that holds a host's M(k0rdent.kof.promxy_server_group) options (a mapping, evaluated once
        per host in its own context). Unset, no PromxyServerGroup is applied.
    type: str
  grafana_datasource:
    description:
      - Name of the variable that holds a host's M(k0rdent.kof.grafana_datasource) options. Unset, no
        GrafanaDatasource is applied.
    type: str
  config_map:
    description:
      - KOF 1.x - name of the variable that holds a host's regional ConfigMap options (C(cluster_name), C(namespace),
        C(regional_domain), C(endpoints), C(aws_region), C(insecure_skip_verify); see the filter
        P(k0rdent.kof.regional_config_map_manifest#filter)), for a regional cluster that is only a ConfigMap
        (C(kof_regional_configmap_only)). kof-operator makes its PromxyServerGroup from it. Unset, no ConfigMap is
        applied.
    type: str
  missing_secret:
    description: What to do when an object to write references a credentials Secret that does not exist.
    type: str
    choices: [fail, warn, ignore]
    default: warn
  concurrency:
    description: Parallel API requests at most.
    type: int
    default: 8
attributes:
  check_mode:
    support: full
    details:
      - Changed objects are sent as server-side dry runs. When a CRD is not served yet (a check run before
        kof-mothership is installed) the creates are predicted, with a warning.
  diff_mode:
    support: full
    details: Returned per host and object, and shown by M(k0rdent.kof.fleet_result).
  action:
    support: full
notes:
  - Requires the C(kubernetes) Python library on the controller.
seealso:
  - module: k0rdent.kof.promxy_server_group
  - module: k0rdent.kof.grafana_datasource
  - module: k0rdent.kof.fleet_result
"""

EXAMPLES = r"""
- name: Register the regional clusters of this batch
  k0rdent.kof.regional_registrations:
    hosts: "{{ ansible_play_batch | select('in', groups['kof_regional']) | list }}"
    promxy_server_group: regional_promxy_server_group
    grafana_datasource: regional_grafana_datasource
  run_once: true
  register: regional_registrations

- name: Report each regional cluster's ClusterDeployment and registrations
  k0rdent.kof.fleet_result:
    batch: [regional_batch, regional_registrations]
"""

RETURN = r"""
hosts:
  description:
    - Per-host outcome - C(changed), C(action) (C(unchanged), C(changed) or C(failed)), C(msg) when failed, and
      C(objects), one entry per object with its C(kind), C(name), C(action) (C(created), C(updated), C(unchanged))
      and C(before) / C(after) (server-managed fields left out; no secret value).
    - With O(config_map), also C(cluster), C(namespace/name) of the regional cluster the ConfigMap announces (what
      M(k0rdent.kof.cluster_services) waits for).
  returned: always
  type: dict
  sample:
    region1: {changed: false, action: unchanged, objects: [{kind: PromxyServerGroup, name: kof/region1-metrics,
              action: unchanged}]}
api_requests:
  description: API requests this task sent.
  returned: always
  type: int
duration:
  description: Seconds spent.
  returned: always
  type: float
"""
