# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.credentials_file: copy selected keys of a Secret into a private file on the
controller. The values never become task variables or results. See the module file for docs."""
from __future__ import annotations

import base64
import json
import os

import yaml

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction


def render(values: dict, fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(values, indent=2, sort_keys=True) + "\n").encode()
    if fmt == "env":
        return "".join(f"{k}={json.dumps(v)}\n" for k, v in sorted(values.items())).encode()
    return yaml.safe_dump(values, sort_keys=True, default_flow_style=False).encode()


class ActionModule(KofAction):
    ARGS = {
        "secret": {"type": "str", "required": True},
        "namespace": {"type": "str", "required": True},
        "keys": {"type": "dict", "required": True},
        "dest": {"type": "path", "required": True},
        "format": {"type": "str", "default": "yaml", "choices": ["yaml", "json", "env"]},
    }

    def act(self, args, result):
        dest = os.path.expanduser(args["dest"])
        who = f"Secret {args['namespace']}/{args['secret']}"
        bad = [k for k in args["keys"] if not isinstance(k, str) or not k.replace("_", "").isalnum()]
        if bad:
            raise ActionFailure(f"keys: output names must be letters, digits and _ only: {bad}")
        sec = self.management(args).get(object_path("v1", "secrets", args["namespace"], args["secret"]))
        if sec is None:
            raise ActionFailure(f"{who} not found on the management cluster (kof-mothership creates it: is KOF "
                                "installed?)")
        data = sec.get("data") or {}
        missing = sorted(str(v) for v in args["keys"].values() if v not in data)
        if missing:
            raise ActionFailure(f"{who} has no key(s) {', '.join(missing)} (it has: {', '.join(sorted(data)) or 'none'})")
        try:
            values = {str(name): base64.b64decode(data[str(key)]).decode("utf-8") for name, key in args["keys"].items()}
        except (ValueError, UnicodeDecodeError):
            raise ActionFailure(f"{who}: a requested key is not UTF-8 text") from None
        content = render(values, args["format"])
        changed = not day2.private_file_current(dest, content)
        if changed and not self.check_mode:
            day2.write_private(dest, content)
        result.update(changed=changed, dest=dest, keys=sorted(str(k) for k in args["keys"]), mode="0600")
        if changed and self.diff_mode:
            result["diff"] = {"before_header": dest, "after_header": dest,
                              "before": "", "after": f"(credentials of {who}: {', '.join(sorted(args['keys']))} - "
                                                     "not shown)\n"}
