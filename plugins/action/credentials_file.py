# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin behind k0rdent.kof.credentials_file: copy selected keys of a Secret into a private file on the
controller. The values never become task variables or results. See the module file for docs."""
from __future__ import annotations

import base64
import json
import os

import yaml
from ansible.plugins.action import ActionBase

from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import AUTH_ARG_SPEC, KubeError, object_path

ARGS = dict({
    "secret": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "keys": {"type": "dict", "required": True},
    "dest": {"type": "path", "required": True},
    "format": {"type": "str", "default": "yaml", "choices": ["yaml", "json", "env"]},
}, **AUTH_ARG_SPEC)


def render(values: dict, fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(values, indent=2, sort_keys=True) + "\n").encode()
    if fmt == "env":
        return "".join(f"{k}={json.dumps(v)}\n" for k, v in sorted(values.items())).encode()
    return yaml.safe_dump(values, sort_keys=True, default_flow_style=False).encode()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        dest = os.path.expanduser(args["dest"])
        bad = [k for k in args["keys"] if not isinstance(k, str) or not k.replace("_", "").isalnum()]
        if bad:
            result.update(failed=True, msg=f"keys: output names must be letters, digits and _ only: {bad}")
            return result
        try:
            kube = day2.management_kube(args)
            try:
                sec = kube.get(object_path("v1", "secrets", args["namespace"], args["secret"]))
            finally:
                kube.close()
        except KubeError as err:
            result.update(failed=True, msg=str(err))
            return result
        if sec is None:
            result.update(failed=True, msg=f"Secret {args['namespace']}/{args['secret']} not found on the management "
                                           "cluster (kof-mothership creates it: is KOF installed?)")
            return result
        data = sec.get("data") or {}
        missing = sorted(str(v) for v in args["keys"].values() if v not in data)
        if missing:
            result.update(failed=True, msg=f"Secret {args['namespace']}/{args['secret']} has no key(s) "
                                           f"{', '.join(missing)} (it has: {', '.join(sorted(data)) or 'none'})")
            return result
        try:
            values = {str(name): base64.b64decode(data[str(key)]).decode("utf-8") for name, key in args["keys"].items()}
        except (ValueError, UnicodeDecodeError):
            result.update(failed=True, msg=f"Secret {args['namespace']}/{args['secret']}: a requested key is not "
                                           "UTF-8 text")
            return result
        content = render(values, args["format"])
        changed = not day2.private_file_current(dest, content)
        if changed and not self._task.check_mode:
            day2.write_private(dest, content)
        result.update(changed=changed, dest=dest, keys=sorted(str(k) for k in args["keys"]), mode="0600")
        if changed and self._task.diff:
            result["diff"] = {"before_header": dest, "after_header": dest,
                              "before": "", "after": f"(credentials of Secret {args['namespace']}/{args['secret']}: "
                                                     f"{', '.join(sorted(args['keys']))} - not shown)\n"}
        return result
