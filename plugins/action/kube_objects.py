# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.kube_objects: whole objects present or absent on the management cluster (or on
a workload cluster through its kubeconfig Secret), idempotently (a GET per object; a write only when the live object
differs). See the module file for docs."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.module_utils import converge
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction


class ActionModule(KofAction):
    ARGS = {
        "definitions": {"type": "list", "elements": "dict", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "field_manager": {"type": "str", "default": "k0rdent.kof"},
        "propagation": {"type": "str", "default": "Foreground", "choices": ["Foreground", "Background", "Orphan"]},
        "wait": {"type": "bool", "default": False},
        "wait_timeout": {"type": "int", "default": 300},
        "cluster": {"type": "str", "default": ""},
        "in_order": {"type": "bool", "default": False},
    }

    def act(self, args, result):
        for i, obj in enumerate(args["definitions"]):
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            if not (isinstance(meta, dict) and obj.get("apiVersion") and obj.get("kind") and meta.get("name")):
                result.update(failed=True, msg=f"definitions[{i}] needs apiVersion, kind and metadata.name")
                return
        ns, sep, name = args["cluster"].partition("/")
        if args["cluster"] and not (sep and ns and name and "/" not in name):
            result.update(failed=True, msg=f"cluster {args['cluster']!r} must be <namespace>/<name> of a "
                                           "ClusterDeployment (or empty: the management cluster)")
            return
        kube = self.management(args)
        if args["cluster"]:
            # the workload cluster, through the kubeconfig Secret kcm writes for it (never returned or written)
            kube = day2.workload_kube(kube, name, ns)
        try:
            self._converge(kube, args, result)
        finally:
            if args["cluster"]:
                kube.close()

    def _converge(self, kube, args, result):
        engine = day2.converger(kube, check=self.check_mode, manager=args["field_manager"])
        resources = day2.Resources(kube)
        objects, diffs, deleted = [], [], []
        result["objects"] = objects  # also on a failure: what was done before it
        one_by_one = args["in_order"] and args["state"] == "absent" and args["wait"] and not self.check_mode
        for obj in args["definitions"]:
            if args["state"] == "present":
                res = day2.ensure_present(engine, resources, obj)
            else:
                res = day2.ensure_absent(engine, resources, obj, propagation=args["propagation"])
                if res["changed"]:
                    deleted.append(obj)
            objects.append({"object": day2.ref(obj), "action": res["action"]})
            if res["changed"] and self.diff_mode:
                diffs.append({"before": day2.yaml_text(res["before"]), "after": day2.yaml_text(res["after"]),
                              "before_header": day2.ref(obj) + " (live)",
                              "after_header": day2.ref(obj) + " (wanted)"})
            if deleted and one_by_one:  # gone before the next one is deleted
                self._wait_gone(kube, resources, deleted, args["wait_timeout"])
                deleted = []
        if deleted and args["wait"] and not self.check_mode:
            self._wait_gone(kube, resources, deleted, args["wait_timeout"])
        result.update(changed=any(o["action"] not in ("unchanged", "absent") for o in objects),
                      api_requests=kube.requests)
        if diffs:
            result["diff"] = diffs

    @staticmethod
    def _wait_gone(kube, resources, objs, timeout):
        pending = list(objs)

        def probe():
            pending[:] = [o for o in pending if resources.lookup(o["apiVersion"], o["kind"]) is not None
                          and kube.get(resources.path(o)) is not None]
            return not pending, ""
        if not converge.wait_until(probe, timeout, 1)[0]:
            raise KubeError(f"{', '.join(day2.ref(o) for o in pending)} still exist(s) after {timeout}s "
                            "(finalizers pending)")
