# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_services
short_description: Wait until KOF 1.x has deployed its services to each cluster of a batch
version_added: 0.1.0
description:
  - Runs on the controller (action plugin), once for a play batch. In KOF 1.x the collection writes only
    labelled ClusterDeployments; KOF's MultiClusterServices (C(kof-regional-cluster), C(kof-child-cluster)) deploy
    the services to the clusters they select, and kof-operator creates each cluster's objects. This module judges
    that work from its status, never from a helm exit code (k0rdent/kof#294, k0rdent/kof#653). For each cluster, it checks
  - that the kcm C(ServiceSet) of the cluster and the MultiClusterService is deployed and every service in it is
    C(Deployed) (a C(Failed) service fails the cluster at once with kcm's failureMessage);
  - that kof-operator's ConfigMap exists (C(kof-<regional>), C(kof-cluster-config-<child>)), and for a regional
    cluster its C(PromxyServerGroup) (the metrics registration kof-operator makes from that ConfigMap).
  - Writes nothing (C(changed) is always false). Per-host results go to M(k0rdent.kof.fleet_result). Check mode
    reports the current state without waiting.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  batch:
    description:
      - The names of the registered results of the batch tasks that applied the clusters of this batch
        (M(k0rdent.kof.cluster_deployments); for regional clusters that are only a ConfigMap,
        M(k0rdent.kof.regional_registrations) with its C(config_map) option). Every host that did not fail there is
        judged, by the C(cluster) (namespace/name) its result names; a skipped batch task adds no host.
      - Read from the task's variables, like M(k0rdent.kof.fleet_result) does, so each cluster's ClusterDeployment
        is not evaluated a second time per host.
    type: list
    elements: str
    required: true
  config_map_only:
    description:
      - The hosts of O(batch) that are regional clusters announced only by a ConfigMap (C(kof_regional_configmap_only),
        see M(k0rdent.kof.regional_registrations)) - no ClusterDeployment and no services; only the PromxyServerGroup
        kof-operator makes from the ConfigMap is waited for.
    type: list
    elements: str
    default: []
  management_cluster:
    description:
      - KOF 1.10's regionless mode (C(kof_values.regionless)) - also judge the management cluster itself, by the name
        kof-operator knows it (C(regionless.clusterName), C(mothership) by default) - kof-regional's self-management
        ServiceSet (no cluster, in O(system_namespace)) deployed, kof-operator's regionless ConfigMap
        C(kof-<name>) and its PromxyServerGroup made. Reported under RV(management) and in RV(hosts) as this task's
        host; this task fails when it fails. O(batch) may then be empty.
    type: str
    default: ''
  system_namespace:
    description: kcm's system namespace, where the self-management ServiceSet and the regionless ConfigMap live.
    type: str
    default: kcm-system
  role:
    description: The clusters' C(k0rdent.mirantis.com/kof-cluster-role).
    type: str
    choices: [regional, child]
    required: true
  multi_cluster_service:
    description: The MultiClusterService to judge. Default C(kof-regional-cluster) or C(kof-child-cluster) by O(role).
    type: str
  kof_version:
    description: KOF version (selects the PromxyServerGroup API version).
    type: str
    required: true
  chart_version:
    description:
      - The KOF chart version the clusters must run. A ServiceSet that still names another version's C(kof-*)
        ServiceTemplate (kcm has not moved the cluster yet, after an upgrade of the kof chart) is pending, not done.
      - Empty accepts any version.
    type: str
    default: ''
  kcm_api_version:
    description: API version of kcm's ServiceSets.
    type: str
    default: k0rdent.mirantis.com/v1beta1
  wait:
    description: Wait until every cluster is done or failed. V(false) only reports.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
  poll_interval:
    description: Seconds between two reads (one list per kind and namespace each).
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    support: full
"""

EXAMPLES = r"""
- name: Apply the regional ClusterDeployments of this batch
  k0rdent.kof.cluster_deployments:
    hosts: "{{ ansible_play_batch }}"
    definition: regional_clusterdeployment
  run_once: true
  register: regional_batch

- name: Wait for KOF to deploy kof-storage to the regional clusters of this batch
  k0rdent.kof.cluster_services:
    batch: [regional_batch]
    role: regional
    kof_version: 1.10.0
  run_once: true
  register: regional_services

- name: Regionless mode - wait for KOF to deploy kof-storage to the management cluster
  k0rdent.kof.cluster_services:
    batch: []
    role: regional
    management_cluster: mothership
    kof_version: 1.10.0
"""

RETURN = r"""
hosts:
  description:
    - Host -> C(state) (ready, failed, pending), C(action), C(services) (service -> kcm state), C(objects)
      (kof-operator's objects found), and C(failed)/C(msg) for a cluster that failed or timed out.
  returned: always
  type: dict
management:
  description: With O(management_cluster) - the management cluster's C(state), C(action), C(services), C(objects).
  returned: when O(management_cluster) is set
  type: dict
api_requests:
  description: API requests sent.
  returned: success
  type: int
"""
