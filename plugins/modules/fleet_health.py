# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_health
short_description: Verify every KOF regional and child cluster and write the fleet report
version_added: 0.1.0
description:
  - The guide's "Verification" for a whole fleet, from the management cluster (action plugin on the controller) -
    each ClusterDeployment Ready for its current generation; its Sveltos ClusterSummaries with every feature
    C(Provisioned) and helm releases C(Managing); through the cluster's C(<name>-kubeconfig) Secret, Running and
    Ready pods in C(cert-manager), C(ingress-nginx), C(kof), C(kube-system), C(projectsveltos) (regional) or
    C(kof), C(kube-system), C(projectsveltos) (child); and for regional clusters their PromxyServerGroup
    (rendered into the promxy config) and logs GrafanaDatasource.
  - Re-checks until every cluster is healthy or O(wait_timeout) passes.
  - Writes C(fleet-report.md), C(fleet-report.json) and C(fleet-report.html) (one box per region) to
    O(report_dir) - the stable names of the latest report, replaced atomically - plus timestamped copies
    C(fleet-report-<UTC time>.<ext>), of which the newest O(report_keep) per format are kept. Kubeconfigs and
    credentials it reads never reach the result.
  - KOF 1.10 regionless mode (O(management_storage)) - the management cluster holds the storage and gets a row of
    its own (tier C(management)) - kof-regional's ServiceSet of the management cluster deployed, kof-operator's
    PromxyServerGroup for it (rendered into the promxy config), Running and Ready pods in its services'
    namespaces. Its children are drawn in its box of the HTML report; when it is unhealthy the management hosts of
    the run fail.
  - Every table (the play output's, Markdown, HTML, the JSON list) lists the management cluster's storage
    (regionless mode), the regional clusters, then the children, each in natural order of their names (C(c3)
    before C(c12)).
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
  - k0rdent.kof.cluster_namespaces
options:
  regional:
    description: Regional cluster names.
    type: list
    elements: str
    default: []
  child:
    description: Child cluster names.
    type: list
    elements: str
    default: []
  child_regions:
    description:
      - Child cluster name -> its regional cluster, as the inventory says (C(kof_regional)). Used in the report when
        a ClusterDeployment is missing or lacks the C(k0rdent.mirantis.com/kof-regional-cluster-name) label.
    type: dict
    default: {}
  config_map_only:
    description:
      - KOF 1.x - regional clusters of O(regional) announced only by a ConfigMap (C(kof_regional_configmap_only)) -
        no ClusterDeployment, no workload cluster to reach; healthy once promxy serves their PromxyServerGroup.
    type: list
    elements: str
    default: []
  kcm_namespace:
    description: Namespace of the ClusterDeployments.
    type: str
    default: kcm-system
  kcm_api_version:
    description: API version of ClusterDeployment.
    type: str
    default: k0rdent.mirantis.com/v1alpha1
  namespace:
    description: KOF namespace on the management cluster.
    type: str
    default: kof
  psg_api_version:
    description: API version of PromxyServerGroup.
    type: str
    default: kof.k0rdent.mirantis.com/v1alpha1
  promxy_secret:
    description: The promxy config Secret the operator renders server groups into.
    type: str
    default: kof-mothership-promxy-config
  wait_timeout:
    description: Seconds to wait for the fleet to become healthy (0 checks once). Check mode checks once.
    type: int
    default: 600
  interval:
    description: Seconds between checks.
    type: float
    default: 5.0
  report_dir:
    description: Directory for the report files; none are written when unset.
    type: path
  report_keep:
    description:
      - Timestamped reports kept per format in O(report_dir), the newest; older ones are deleted. V(0) keeps none,
        only the latest under its stable name C(fleet-report.<ext>).
    type: int
    default: 10
  kof_version:
    description: KOF version shown in the report.
    type: str
    default: ""
  management_storage:
    description:
      - KOF 1.10 regionless mode - the name kof-operator knows the management cluster by (C(regionless.clusterName)
        of the umbrella chart's values, C(kof_regionless_cluster)); empty when the storage is on regional clusters.
        Ignored for KOF 0.1.
    type: str
    default: ""
  system_namespace:
    description: kcm's system namespace, where the ServiceSets of the management cluster are (O(management_storage)).
    type: str
    default: kcm-system
  concurrency:
    description: Clusters checked in parallel.
    type: int
    default: 8
  fail_on_unhealthy:
    description: Fail the task when a cluster is unhealthy.
    type: bool
    default: true
  hosts:
    description:
      - The hosts of the play (C(ansible_play_hosts_all)), for RV(failed_hosts) - an unhealthy cluster that is one of
        them fails on its own host.
    type: list
    elements: str
    default: []
  management:
    description:
      - The management hosts (group C(kof_management)). Those of them in O(hosts) fail, in RV(failed_hosts), for the
        unhealthy clusters that are not hosts of the play.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Read-only; in check mode it checks once without waiting.
  diff_mode:
    support: none
  action:
    support: full
"""

EXAMPLES = r"""
- name: Verify the fleet and write the report
  k0rdent.kof.fleet_health:
    regional: "{{ groups['kof_regional'] }}"
    child: "{{ groups['kof_child'] }}"
    report_dir: /var/lib/kof/reports
  run_once: true
"""

RETURN = r"""
clusters:
  description:
    - One entry per cluster (name, tier, region, state, ready, services, pods, problems); tier C(management),
      C(regional) or C(child).
  returned: always
  type: list
  elements: dict
summary:
  description: Counts of clusters per state, and C(ok) when all are healthy.
  returned: always
  type: dict
table:
  description: The report as text lines.
  returned: always
  type: list
  elements: str
failed_hosts:
  description:
    - Host -> message, for the hosts of O(hosts) that must fail - each unhealthy cluster on its own host, and the
      management hosts for unhealthy clusters without a host in O(hosts). Empty in check mode. A per-host
      C(ansible.builtin.fail) task that looks itself up here reports the fleet truthfully at the cost of a
      dictionary lookup per host.
  returned: always
  type: dict
report_files:
  description: Paths of the Markdown, JSON and HTML reports.
  returned: when report_dir is set
  type: dict
"""
