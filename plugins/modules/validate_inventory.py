#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate_inventory
short_description: Validate a KOF fleet inventory before anything changes
version_added: 0.1.0
description:
  - Checks every rule the KOF tiers depend on, for every host of the inventory, from one task (action plugin on
    the controller) - exactly one management host; cluster names that are RFC 1123 labels and unique across
    tiers; regional domains, admin e-mails, regions, instance types and counts; each child's C(kof_regional)
    naming a host of group C(kof_regional); versions, namespaces, release names and DNS mode.
  - Each host's settings are evaluated in that host's own variable context, from the variable named by
    O(settings).
  - Fails with every error at once, each naming the host and the variable; sets the fact C(kof_inventory_valid)
    on success, C(kof_inventory_flow_dependent) (the settings judged once the KOF version is known)
    and C(kof_inventory_namespaces) (the C(kof_kcm_namespace) of every regional cluster and of each child cluster
    outside the management host's) and C(kof_inventory_configmap_regionals) (the regional hosts with
    C(kof_regional_configmap_only)). It sends no API request.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
options:
  management:
    description: Hosts of group C(kof_management).
    type: list
    elements: str
    default: []
  regional:
    description: Hosts of group C(kof_regional).
    type: list
    elements: str
    default: []
  child:
    description: Hosts of group C(kof_child).
    type: list
    elements: str
    default: []
  settings:
    description: Name of the variable holding a host's settings (see the C(kof) role's vars).
    type: str
    required: true
  globals:
    description: Fleet-wide settings to check (C(kof_version), C(kof_dns_mode), namespaces, ...).
    type: dict
    default: {}
  install:
    description:
      - The run installs or changes KOF, so C(kof_version) must be one whose install flow the collection has
        (KOF 0.1.x, or KOF 1.8-1.10) and that the playbook implements (O(flows)); any other version is refused
        with the reason.
      - V(false) for runs that only read a fleet (the cost report), where any version is fine.
    type: bool
    default: true
  flows:
    description:
      - The install flows the calling playbook implements, V(0.1) (the install guide's KOF 0.1.x) and V(1.x)
        (KOF 1.8-1.10, the umbrella kof chart). A C(kof_version) of another flow is refused before any write.
    type: list
    elements: str
    choices: ['0.1', '1.x']
    default: ['0.1', '1.x']
  play:
    description: What to call the calling playbook in that refusal.
    type: str
    default: this playbook
  version_source:
    description:
      - Set after a C(kof_version) of V(auto) was resolved from the management cluster (M(k0rdent.kof.kof_info)) -
        how it was resolved. Only the version-dependent settings of O(globals) are checked, and their errors name it.
      - Without it, a C(kof_version) of V(auto) is accepted and the version-dependent checks wait for that pass.
    type: str
    default: ''
  flow_dependent:
    description:
      - With O(version_source) - what the first pass found whose validity depends on the KOF version (the fact
        C(kof_inventory_flow_dependent) it sets) - C(cross_namespace), the child clusters in another namespace than
        their regional cluster (refused on KOF 1.x unless C(kof_cross_namespace) is on); C(regional_endpoints), the
        regional hosts with C(kof_regional_endpoints), and C(regional_configmap_only), those with
        C(kof_regional_configmap_only) (both refused on KOF 0.1.x).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    support: full
"""

EXAMPLES = r"""
- name: Validate the KOF inventory
  k0rdent.kof.validate_inventory:
    management: "{{ groups['kof_management'] }}"
    regional: "{{ groups['kof_regional'] }}"
    child: "{{ groups['kof_child'] }}"
    settings: kof_host_settings
  run_once: true
"""

RETURN = r"""
errors:
  description: Every problem found, one line each, naming the host and the variable.
  returned: on failure
  type: list
  elements: str
hosts:
  description: Number of hosts per tier.
  returned: always
  type: dict
"""
