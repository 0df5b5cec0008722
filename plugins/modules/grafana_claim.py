# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: grafana_claim
short_description: Give a Grafana's data claim on the management cluster a new storage class
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). grafana-operator merges a Grafana's C(spec.persistentVolumeClaim) into
    the live claim and updates it, but a claim's storage class cannot change, so the operator stops at its pvc stage
    when the Grafana asks for another class (kof-mothership's C(global.storageClass)).
  - This module waits (O(wait_timeout)) until the Grafana O(grafana) asks for O(storage_class) - its chart was
    upgraded - then, when the claim O(claim) has another class, deletes it and Grafana's pods (label
    C(app=<grafana>); the claim goes once no pod holds it, the new pod waits unscheduled) and waits until the
    operator has created the claim anew with that class.
  - Grafana's own database (users, preferences, dashboards made by hand) starts empty; KOF's dashboards and
    datasources are CRs and come back. The roles run it only when C(kof_storage_recreate_confirm) is true.
  - The same procedure replaces a regional Grafana's claim in M(k0rdent.kof.cluster_deployments) (KOF 0.1.1).
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  storage_class:
    description: The storage class the claim must have.
    type: str
    required: true
  namespace:
    description: Namespace of the Grafana and its claim.
    type: str
    default: kof
  grafana:
    description: Name of the Grafana CR (C(grafana.integreatly.org/v1beta1)); its pods carry the label C(app=<grafana>).
    type: str
    default: grafana-vm
  claim:
    description: Name of its data claim.
    type: str
    default: grafana-vm-pvc
  wait_timeout:
    description: Seconds to wait for the Grafana's new class, and again for the new claim.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details: Predicts the replacement from the live claim's class; waits for nothing.
  diff_mode:
    support: full
    details: The claim's storage class before and after.
  action:
    support: full
"""

EXAMPLES = r"""
- name: Replace kof-mothership's Grafana data claim for its new storage class
  k0rdent.kof.grafana_claim:
    storage_class: gp3
    wait_timeout: 600
"""

RETURN = r"""
claim:
  description: The claim, namespace/name.
  returned: success
  type: str
replaced:
  description: Whether the claim was (check mode - would be) replaced; false when it had the class already.
  returned: success
  type: bool
api_requests:
  description: API requests sent.
  returned: success
  type: int
"""
