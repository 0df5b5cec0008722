#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_deployments
short_description: Converge the k0rdent ClusterDeployments of a whole play batch in one task
version_added: 0.1.0
description:
  - Runs once (with C(run_once)) for every host in O(hosts) and applies each host's ClusterDeployment, as
    evaluated from the variable named by O(definition) in that host's own variable context (inventory,
    group_vars, role defaults, play and extra vars, with Ansible's precedence).
  - Works in the controller process (action plugin) with one connection pool and bounded concurrency. One
    paginated list per namespace, then a server-side apply (field manager V(k0rdent.kof)) only for objects that
    differ from the live ones, so a no-op run sends no write at all.
  - Fields this collection applied before and no longer sets are removed (server-side apply ownership).
  - Waits for C(Ready=True) of the current generation with one list and one watch, not per-object polling.
  - Per-host outcomes are returned in RV(hosts); follow with M(k0rdent.kof.fleet_result) on every host so the
    play recap shows each cluster's own result.
  - With O(render_dir) it writes each ClusterDeployment to a file instead and contacts no cluster.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  hosts:
    description: Inventory hosts whose ClusterDeployments to converge, usually C({{ ansible_play_batch }}).
    type: list
    elements: str
    required: true
  definition:
    description:
      - Name of the variable that holds a host's ClusterDeployment (a mapping). It is evaluated once per host
        in O(hosts), in that host's context.
    type: str
    required: true
  state:
    description: V(present) creates or updates; V(absent) deletes with foreground cascade.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait until each ClusterDeployment is Ready (present) or gone (absent).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait, for the whole batch.
    type: int
    default: 1800
  concurrency:
    description: Parallel API requests at most.
    type: int
    default: 8
  render_dir:
    description: Write the ClusterDeployments under this directory instead of applying them (GitOps review).
    type: path
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: k0rdent.kof
  created_templates:
    description:
      - ServiceTemplates this run creates before the ClusterDeployments are applied (kof-mothership's, with
        C(kcm.installTemplates)). Only used in check mode, where they do not exist yet - kcm's admission would
        reject the server-side dry run, so the change of a ClusterDeployment referencing them is predicted from
        its definition, with a warning. A missing template not listed here fails the host, as the real run would.
    type: list
    elements: str
    default: []
  default_template:
    description:
      - The ClusterTemplate for a new ClusterDeployment whose definition leaves C(spec.template) empty (role
        k0rdent.kof.common picks the newest valid one). A live ClusterDeployment with an empty C(spec.template) keeps
        the template it runs.
      - A definition that names a template other than the live one is applied only when that template is one of
        the live object's C(status.availableUpgrades) (kcm's webhook refuses any other change); otherwise the task
        fails before any write, listing the upgrades on offer.
    type: str
    default: ""
  recreate_statefulsets:
    description:
      - A definition that changes what feeds the volume claim template (or another field Kubernetes does not let
        an update change) of a StatefulSet kof-storage's helm release manages - the storage class, or a
        C(persistentVolume) of VictoriaLogs (KOF 0.1), victoria-logs-cluster or victoria-traces-cluster (KOF 1.x) -
        would make kof-storage's upgrade fail on that cluster. By default the task fails before any write, naming
        the hosts and StatefulSets.
      - V(true) applies it - after a server-side dry run of the new ClusterDeployment succeeds, those StatefulSets
        are deleted on the cluster (through its kubeconfig Secret) with propagationPolicy C(Orphan), their pods and
        volumes kept, and the ClusterDeployment is applied; the upgrade re-creates them with the new templates.
        Check mode only warns.
      - KOF 0.1.1 - a new C(global.storageClass) of kof-storage also reaches its Grafana data claim
        C(grafana-vm-pvc), which grafana-operator cannot update (it stops at its pvc stage); it is refused the
        same way. V(true) replaces that claim once kof-storage is upgraded (the Grafana CR has the new class) -
        the claim and the Grafana pods are deleted on the cluster and the task waits until grafana-operator has
        created the claim anew. The Grafana database (users, preferences, hand-made dashboards) starts empty;
        the dashboards and datasources of KOF come back from their CRs. With V(true), a regional cluster whose
        ClusterDeployment already gives the class but whose claim still has another one (an earlier replacement
        failed) has it replaced too (the claim is read on each such cluster).
    type: bool
    default: false
  regional_helmrelease:
    description:
      - KOF 1.x - C(<namespace>/<name>) of the Flux HelmRelease of kof-regional, whose C(storage) values lie beneath
        each regional cluster's storage annotations in kof-storage's values. Read once, and only when a regional
        ClusterDeployment's storage annotations change, so that O(recreate_statefulsets) judges the claim
        templates the cluster really gets (a class kof-regional's values pin for a StatefulSet is not changed by
        the cluster's C(kof-storage-class) annotation).
      - Empty (or the HelmRelease missing), the annotations are judged alone.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: Changed objects are sent as server-side dry runs, so kcm's admission webhooks still validate them.
  diff_mode:
    support: full
    details: Returned per host and shown by M(k0rdent.kof.fleet_result).
  action:
    support: full
notes:
  - Requires the C(kubernetes) Python library on the controller.
seealso:
  - module: k0rdent.kof.fleet_result
"""

EXAMPLES = r"""
- name: Apply the child ClusterDeployments of this batch
  k0rdent.kof.cluster_deployments:
    hosts: "{{ ansible_play_batch }}"
    definition: kof_child_clusterdeployment
    wait_timeout: 2400
  run_once: true
  register: kof_child_batch

- name: Report each child's own result
  k0rdent.kof.fleet_result:
    batch: kof_child_batch
"""

RETURN = r"""
hosts:
  description:
    - Per-host outcome - C(changed), C(action), C(ready), C(msg) when failed, and C(cluster), the
      C(namespace/name) of the host's ClusterDeployment (what M(k0rdent.kof.cluster_services) reads from it).
    - C(recreated_statefulsets) lists the StatefulSets deleted with propagationPolicy C(Orphan) for the change
      (see O(recreate_statefulsets); in check mode, those that would be); C(replaced_claims) the Grafana data
      claims replaced (C(namespace/name), KOF 0.1.1).
  returned: always
  type: dict
  sample:
    cloud1-region1-child1: {changed: true, action: created, ready: true, cluster: kcm-system/cloud1-region1-child1}
summary:
  description: Number of hosts per outcome (created, updated, unchanged, deleted, absent, rendered, failed).
  returned: always
  type: dict
  sample: {created: 3, unchanged: 97}
api_requests:
  description: API requests this task sent.
  returned: unless rendering
  type: int
duration:
  description: Seconds spent.
  returned: unless rendering
  type: float
"""
