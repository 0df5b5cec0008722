# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.kube_objects_info: several reads of the management cluster in one task, in the
controller process (no module start-up, no kubernetes.core discovery per read). Read-only. See the module file."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction


class ActionModule(KofAction):
    ARGS = {
        # each query is checked by the argument spec (types, required keys, unknown keys refused)
        "queries": {"type": "list", "elements": "dict", "default": [], "options": {
            "api_version": {"type": "str", "required": True},
            "kind": {"type": "str", "required": True},
            "name": {"type": "str", "default": ""},
            "namespace": {"type": "str", "default": ""},
            "label_selectors": {"type": "list", "elements": "str", "default": []},
        }},
        "server_version": {"type": "bool", "default": False},
    }

    def act(self, args, result):
        queries = args["queries"]
        for i, query in enumerate(queries):
            if not query["api_version"] or not query["kind"]:
                raise ActionFailure(f"queries[{i}]: api_version and kind must not be empty")
            if query["name"] and query["label_selectors"]:
                # kubernetes.core.k8s_info reads a named object whatever its labels: refused rather than guessed
                raise ActionFailure(f"queries[{i}]: give name or label_selectors, not both")
        if not queries and not args["server_version"]:
            raise ActionFailure("nothing to read: give queries or server_version")
        kube = self.management(args)
        resources = day2.Resources(kube)
        result.update(changed=False, answers=[])
        if args["server_version"]:
            result["server_version"] = kube.get("/version") or {}
        for query in queries:
            result["answers"].append(self._read(kube, resources, query))
        result["api_requests"] = kube.requests

    @staticmethod
    def _read(kube, resources, query) -> dict:
        out = dict(query, api_found=False, resources=[])
        found = resources.lookup(query["api_version"], query["kind"])
        if found is None:  # kubernetes.core.k8s_info's answer for a kind the cluster does not serve
            return out
        plural, namespaced = found
        ns = query["namespace"] if namespaced else None
        out["api_found"] = True
        stamp = {"apiVersion": query["api_version"], "kind": query["kind"]}
        if query["name"]:
            obj = kube.get(object_path(query["api_version"], plural, ns, query["name"]))
            out["resources"] = [dict(stamp, **obj)] if obj is not None else []
            return out
        items, _rv = kube.list_all(object_path(query["api_version"], plural, ns),
                                   label_selector=",".join(query["label_selectors"]) or None)
        out["resources"] = [dict(stamp, **item) for item in items]
        return out
