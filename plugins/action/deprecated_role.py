# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.deprecated_role: a role kept under an old name prints a real Ansible
deprecation warning ([DEPRECATION WARNING], silenced by deprecation_warnings=False like any other). See the module
for docs."""
from __future__ import annotations

from ansible.utils.display import Display

from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction

display = Display()


class ActionModule(KofAction):
    CONNECTION = False
    ARGS = {
        "name": {"type": "str", "required": True},
        "replacement": {"type": "str", "required": True},
    }

    def act(self, args, result):
        msg = (f"The role {args['name']} is deprecated: it is now called {args['replacement']}. Use the new name "
               f"(roles:, include_role, import_role); the old one still runs {args['replacement']}")
        # the removal version is a literal: ansible-test sanity checks it against the collection's version
        display.deprecated(msg, version="2.0.0", collection_name="k0rdent.kof")
        result.update(changed=False, msg=msg)
