#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: regional_addresses
short_description: Read the load-balancer address of every regional cluster, waiting for it
version_added: 0.1.0
description:
  - The "Manual DNS config" step for every regional cluster in O(hosts), in one task in the controller process
    (action plugin), for the records C(vmauth.<domain>) (and C(grafana.<domain>)). KOF 0.1.x (the install guide)
    C(kubectl get svc -n ingress-nginx ingress-nginx-controller), the ingress controller's C(LoadBalancer) Service;
    KOF 1.9+ (docs admin/kof kof-verification) with O(gateway_name), C(kubectl get gateway -n kof gateway), the
    Gateway kof-storage makes and envoy-gateway publishes (its C(status.addresses)).
  - Each cluster is reached through the C(<name>-kubeconfig) Secret k0rdent writes beside its ClusterDeployment
    (O(namespaces), else O(namespace)) on the management cluster. The kubeconfig stays in the controller process;
    it is never returned or logged.
  - Looks at every cluster without an address again each O(interval) seconds until each has one or O(timeout)
    passes; a cluster that still has none is returned with the reason in C(problem) (the task itself does not
    fail, so the caller can report and fail each cluster on its own host).
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  hosts:
    description: Regional cluster names (the inventory hostnames of C(kof_regional)).
    type: list
    elements: str
    required: true
  namespace:
    description: Namespace of the ClusterDeployments and their C(<name>-kubeconfig) Secrets.
    type: str
    default: kcm-system
  namespaces:
    description: Host -> namespace of its ClusterDeployment, for the hosts not in O(namespace) (KOF 1.x puts them anywhere).
    type: dict
    default: {}
  service_namespace:
    description: Namespace of the ingress controller's Service on the regional cluster.
    type: str
    default: ingress-nginx
  service_name:
    description: Name of the ingress controller's C(LoadBalancer) Service.
    type: str
    default: ingress-nginx-controller
  gateway_name:
    description:
      - Read this Gateway (C(gateway.networking.k8s.io/v1)) instead of the Service - KOF 1.x, whose kof-storage
        makes the Gateway C(gateway) (kof-regional's C(gateway.name)) for envoy-gateway to publish. Its first
        C(status.addresses) value is the address; while it has none, C(problem) quotes its C(Programmed) condition.
      - Empty reads the Service (O(service_namespace), O(service_name)).
    type: str
    default: ''
  local_hosts:
    description:
      - Hosts of O(hosts) read on the management cluster itself, not through a kubeconfig Secret - KOF 1.10's
        regionless mode, where kof-regional's MultiClusterService runs kof-storage (and its Gateway) there.
    type: list
    elements: str
    default: []
  gateway_namespace:
    description: Namespace of the Gateway (kof-regional's C(gateway.namespace)).
    type: str
    default: kof
  timeout:
    description: Seconds to wait for every cluster to have an address. V(0) looks once.
    type: int
    default: 600
  interval:
    description: Seconds between two looks at the clusters that have no address yet.
    type: int
    default: 10
  concurrency:
    description: Clusters read in parallel at most.
    type: int
    default: 8
attributes:
  check_mode:
    support: full
    details: Read-only; in check mode it looks once and does not wait.
  diff_mode:
    support: none
notes:
  - Requires the C(kubernetes) Python library on the controller.
seealso:
  - name: KOF Manual DNS config
    description: The install guide's section this automates.
    link: https://docs.k0rdent.io/
"""

EXAMPLES = r"""
- name: Wait for the load-balancer address of ingress-nginx on each regional cluster
  k0rdent.kof.regional_addresses:
    hosts: "{{ ansible_play_hosts }}"
    timeout: 900
  run_once: true
  register: regional_addresses

- name: Wait for the address of kof-storage's Gateway on each regional cluster (KOF 1.x)
  k0rdent.kof.regional_addresses:
    hosts: "{{ ansible_play_hosts }}"
    namespaces: {region1: kof-eu}
    gateway_name: gateway
  run_once: true
  register: regional_addresses

- name: Show the address of this regional cluster
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ regional_addresses.hosts[inventory_hostname].address or 'none yet' }}"
"""

RETURN = r"""
hosts:
  description:
    - Cluster -> C(address) (the Service's first load-balancer ingress, its hostname or else its IP, or the Gateway's
      first address; empty when there is none) and C(problem) (empty, or why there is no address - the kubeconfig
      Secret or the Service / Gateway missing or unreadable, or no load-balancer address yet).
  returned: always
  type: dict
  sample:
    region1: {address: a1b2.elb.us-east-2.amazonaws.com, problem: ""}
    region2: {address: "", problem: "Service ingress-nginx/ingress-nginx-controller does not exist after 600s"}
pending:
  description: The clusters that have no address.
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds spent, waiting included.
  returned: always
  type: float
"""
