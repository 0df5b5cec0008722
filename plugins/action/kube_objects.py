# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin behind k0rdent.kof.kube_objects: whole objects present or absent on the management cluster,
idempotently (a GET per object; a write only when the live object differs). See the module file for docs."""
from __future__ import annotations

import time

from ansible.plugins.action import ActionBase

from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import AUTH_ARG_SPEC, KubeError

ARGS = dict({
    "definitions": {"type": "list", "elements": "dict", "required": True},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "field_manager": {"type": "str", "default": "k0rdent.kof"},
    "propagation": {"type": "str", "default": "Foreground", "choices": ["Foreground", "Background", "Orphan"]},
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 300},
}, **AUTH_ARG_SPEC)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        check = bool(self._task.check_mode)
        for i, obj in enumerate(args["definitions"]):
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            if not (isinstance(meta, dict) and obj.get("apiVersion") and obj.get("kind") and meta.get("name")):
                result.update(failed=True, msg=f"definitions[{i}] needs apiVersion, kind and metadata.name")
                return result
        try:
            kube = day2.management_kube(args)
        except KubeError as err:
            result.update(failed=True, msg=str(err))
            return result
        resources = day2.Resources(kube)
        objects, diffs, deleted = [], [], []
        try:
            for obj in args["definitions"]:
                if args["state"] == "present":
                    res = day2.ensure_present(kube, resources, obj, check=check, manager=args["field_manager"])
                else:
                    res = day2.ensure_absent(kube, resources, obj, check=check, propagation=args["propagation"])
                    if res["changed"]:
                        deleted.append(obj)
                objects.append({"object": day2.ref(obj), "action": res["action"]})
                if res["changed"] and self._task.diff:
                    diffs.append({"before": day2.yaml_text(res["before"]), "after": day2.yaml_text(res["after"]),
                                  "before_header": day2.ref(obj) + " (live)",
                                  "after_header": day2.ref(obj) + " (wanted)"})
            if deleted and args["wait"] and not check:
                self._wait_gone(kube, resources, deleted, args["wait_timeout"])
        except KubeError as err:
            result.update(failed=True, msg=str(err), objects=objects)
            return result
        finally:
            kube.close()
        result.update(changed=any(o["action"] not in ("unchanged", "absent") for o in objects), objects=objects,
                      api_requests=kube.requests)
        if diffs:
            result["diff"] = diffs
        return result

    @staticmethod
    def _wait_gone(kube, resources, objs, timeout):
        deadline = time.monotonic() + timeout
        pending = list(objs)
        while pending:
            pending = [o for o in pending if resources.lookup(o["apiVersion"], o["kind"]) is not None
                       and kube.get(resources.path(o)) is not None]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise KubeError(f"{', '.join(day2.ref(o) for o in pending)} still exist(s) after {timeout}s "
                                "(finalizers pending)")
            time.sleep(1)
