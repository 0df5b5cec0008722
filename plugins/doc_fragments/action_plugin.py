# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Attributes of the collection's controller-side plugins, whose module file holds only the documentation.

Use with ansible.builtin.action_common_attributes (which describes check_mode, diff_mode and platform):
extends_documentation_fragment: [ansible.builtin.action_common_attributes, k0rdent.kof.action_plugin]
"""
from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
attributes:
  action:
    description: Runs as an action plugin in the controller process (the module file holds only its documentation).
    support: full
  async:
    description: Supports being used with the C(async) keyword.
    support: none
  platform:
    platforms: posix
"""
