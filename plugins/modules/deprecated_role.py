#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: deprecated_role
short_description: Print a deprecation warning for a role that was renamed
version_added: 0.2.0
description:
  - Prints a real Ansible deprecation warning (C([DEPRECATION WARNING]), silenced by C(deprecation_warnings=False)
    like every other) saying that role O(name) is now called O(replacement).
  - The thin roles kept under an old name (C(k0rdent.kof.kof), now C(k0rdent.kof.common)) run it before including
    the renamed role.
  - The old names are removed in version 2.0.0 of the collection.
  - Costs no API request and changes nothing.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
options:
  name:
    description: The old, deprecated name of the role.
    type: str
    required: true
  replacement:
    description: The role's current name.
    type: str
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Say that this role is now k0rdent.kof.common
  k0rdent.kof.deprecated_role:
    name: k0rdent.kof.kof
    replacement: k0rdent.kof.common
  run_once: true
"""

RETURN = r"""
msg:
  description: The deprecation message.
  returned: always
  type: str
"""
