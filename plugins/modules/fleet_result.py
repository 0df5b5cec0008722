#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_result
short_description: Report one host's share of a batched fleet result
version_added: 0.1.0
description:
  - Reads the result that a run-once batch task (such as M(k0rdent.kof.cluster_deployments)) registered, and
    reports the current host's part of it as this task's own result, so the play recap stays truthful per host
    - a cluster that failed fails on its own host, the others still succeed.
  - Costs no API request; with C(--diff) it shows this host's before/after.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
options:
  batch:
    description:
      - Name of the variable the batch task registered, or a list of them - the host's shares are combined (changed
        when one changed, failed when one failed, one diff per changed object). The first one gives RV(action) and
        RV(ready); each share's objects (those of M(k0rdent.kof.regional_registrations) and
        M(k0rdent.kof.cluster_services) results) are listed in RV(objects).
      - A batch that was skipped is left out; when all were skipped, so is this task.
    type: list
    elements: str
    required: true
  what:
    description: Noun used in the message.
    type: str
    default: ClusterDeployment
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  action:
    support: full
"""

EXAMPLES = r"""
- name: Report each child's own result
  k0rdent.kof.fleet_result:
    batch: kof_child_batch
"""

RETURN = r"""
action:
  description: What the batch did for this host (created, updated, unchanged, deleted, absent, rendered).
  returned: when the host was part of the batch
  type: str
ready:
  description: Whether the host's object was Ready when the batch finished.
  returned: when waited for
  type: bool
objects:
  description: Object -> what the batches did to it (created, updated, unchanged, made by kof-operator).
  returned: when a batch of O(batch) has objects for this host
  type: dict
"""
