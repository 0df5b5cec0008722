# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: kube_objects
short_description: Ensure whole Kubernetes objects are present or absent on a cluster, write-free when nothing differs
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). For each object of O(definitions) it reads the live object and writes
    only when it differs - a server-side apply (field manager O(field_manager)) for O(state=present), a delete for
    O(state=absent). A re-run therefore sends no write request, unlike M(kubernetes.core.k8s), which patches an
    unchanged object.
  - Any kind the cluster serves can be used; plurals and scopes come from API discovery (one request per
    group-version).
  - Check mode is a server-side dry run. Diff mode shows each changed object; a Secret's values are masked.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  definitions:
    description: Objects, each with C(apiVersion), C(kind) and C(metadata.name) (and C(metadata.namespace) when namespaced).
    type: list
    elements: dict
    required: true
  state:
    description: V(present) creates or updates, V(absent) deletes.
    type: str
    choices: [present, absent]
    default: present
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: k0rdent.kof
  propagation:
    description: Deletion propagation policy.
    type: str
    choices: [Foreground, Background, Orphan]
    default: Foreground
  wait:
    description: With O(state=absent), wait until the deleted objects are gone.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait (for each object with O(in_order=true)).
    type: int
    default: 300
  in_order:
    description:
      - With O(state=absent) and O(wait=true), delete the objects one at a time in the order of O(definitions), each
        waited for until it is gone before the next is deleted - for an uninstall order in which a later object
        must outlive an earlier one (a Flux HelmRelease whose finalizer uninstalls a release that references the
        next one's templates). Without it, every object is deleted first and then all are waited for.
    type: bool
    default: false
  cluster:
    description:
      - The objects are on this workload cluster (C(<namespace>/<name>) of its ClusterDeployment) instead of the
        management cluster - reached through the kubeconfig Secret C(<name>-kubeconfig) kcm writes beside it,
        which stays in the controller process (never returned, logged or written). TLS verification is off only
        when it is off for the management cluster.
      - Empty, the management cluster.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: Server-side dry run (C(dryRun=All)).
  diff_mode:
    support: full
    details: Secret values are masked.
  action:
    support: full
"""

EXAMPLES = r"""
- name: A read-only ClusterRole and its ServiceAccount
  k0rdent.kof.kube_objects:
    definitions:
      - apiVersion: v1
        kind: ServiceAccount
        metadata: {name: viewer, namespace: kof}
      - apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: viewer}
        rules:
          - apiGroups: [config.projectsveltos.io]
            resources: [clusterprofiles]
            verbs: [get, list, watch]

- name: Remove them and wait until they are gone
  k0rdent.kof.kube_objects:
    state: absent
    wait: true
    definitions:
      - {apiVersion: v1, kind: ServiceAccount, metadata: {name: viewer, namespace: kof}}

- name: Delete Flux HelmReleases one after the other, each gone (its release uninstalled) before the next
  k0rdent.kof.kube_objects:
    state: absent
    wait: true
    in_order: true
    definitions:
      - {apiVersion: helm.toolkit.fluxcd.io/v2, kind: HelmRelease, metadata: {name: kof-regional, namespace: kof}}
      - {apiVersion: helm.toolkit.fluxcd.io/v2, kind: HelmRelease, metadata: {name: kof-mothership, namespace: kof}}

- name: Delete a StatefulSet on a regional cluster and keep its pods (propagationPolicy Orphan)
  k0rdent.kof.kube_objects:
    cluster: kcm-system/eu-storage
    state: absent
    propagation: Orphan
    wait: true
    definitions:
      - {apiVersion: apps/v1, kind: StatefulSet, metadata: {name: kof-storage-victoria-logs-cluster-vlstorage, namespace: kof}}
"""

RETURN = r"""
objects:
  description: One entry per definition - C(object) (kind namespace/name) and C(action) (created, updated, unchanged, deleted, absent).
  returned: always
  type: list
  elements: dict
api_requests:
  description: API requests sent.
  returned: success
  type: int
"""
