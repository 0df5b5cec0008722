# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: kof_info
short_description: Which KOF a k0rdent management cluster runs, and the KOF version for a new install
version_added: 0.1.0
description:
  - Runs on the controller (action plugin); read-only. Reads the deployed helm release records of the umbrella
    C(kof) chart (KOF 1.8 and later) and of C(kof-mothership) (KOF 0.1.x to 1.7) in O(namespace), and the
    versions of the C(k0rdent.mirantis.com) API group kcm serves.
  - RV(version) is what O(namespace)'s KOF is, or for a new install the newest KOF release for the kcm generation
    served - 0.1.1 on kcm 0.1.x (C(v1alpha1)), 1.10.0 on kcm 1.x (C(v1beta1)). Role k0rdent.kof.common uses it
    when C(kof_version) is left at V(auto), so an installed KOF is never upgraded or replaced by omission.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  namespace:
    description: Namespace of KOF's helm releases on the management cluster.
    type: str
    default: kof
  offline:
    description:
      - Ask no cluster (a playbook that works offline, such as rendering); RV(version) is then the install guide's
        0.1.1, and RV(source) says it was assumed. The same happens when no Kubernetes API is configured.
    type: bool
    default: false
  reading:
    description:
      - The run only reads a fleet (the cost report). When neither KOF nor kcm is found, RV(version) is then the
        install guide's 0.1.1 (said in RV(source)) instead of empty.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    support: full
"""

EXAMPLES = r"""
- name: Find out which KOF the management cluster runs
  k0rdent.kof.kof_info:
    namespace: kof
  register: kof

- name: Show it
  ansible.builtin.debug:
    msg: "{{ kof.installed.release | default('no KOF') }} {{ kof.installed.version | default('') }}; a new install gets {{ kof.version }}"
"""

RETURN = r"""
installed:
  description:
    - The KOF release found - C(release) (V(kof) or V(kof-mothership)), C(namespace), C(chart), C(version) and
      C(generation) (V(0.1) or V(1.x)); empty when KOF is not installed.
    - For the umbrella chart (KOF 1.x) also C(regional_storage_defaults) - the part of the installed chart's default
      C(kof-regional) C(storage) values that reaches the claim templates of kof-storage's StatefulSets (storage
      class, the log and trace storage's C(enabled), C(persistentVolume) and C(podManagementPolicy)), no other
      values.
  returned: always
  type: dict
kcm_api_versions:
  description: Versions of the C(k0rdent.mirantis.com) API group served (empty when kcm is not installed).
  returned: always
  type: list
  elements: str
version:
  description:
    - The KOF version C(kof_version=auto) stands for - the installed one, else the newest for the kcm served;
      empty when neither is known.
  returned: always
  type: str
source:
  description: Why RV(version) is what it is, in words.
  returned: always
  type: str
api_requests:
  description: API requests sent.
  returned: success
  type: int
"""
