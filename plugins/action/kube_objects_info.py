# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.kube_objects_info: several reads of the management cluster in one task, in the
controller process (no module start-up, no kubernetes.core discovery per read). Read-only. See the module file."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction

QUERY_KEYS = {"api_version", "kind", "name", "namespace", "label_selectors"}


class ActionModule(KofAction):
    ARGS = {
        "queries": {"type": "list", "elements": "dict", "default": []},
        "server_version": {"type": "bool", "default": False},
    }

    def act(self, args, result):
        queries = [self._query(i, q) for i, q in enumerate(args["queries"])]
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
    def _query(index: int, query: dict) -> dict:
        unknown = sorted(set(query) - QUERY_KEYS)
        if unknown:
            raise ActionFailure(f"queries[{index}]: unknown key(s) {', '.join(unknown)} "
                                f"(known: {', '.join(sorted(QUERY_KEYS))})")
        for key in ("api_version", "kind"):
            if not isinstance(query.get(key), str) or not query[key]:
                raise ActionFailure(f"queries[{index}].{key} is required (a non-empty string)")
        selectors = query.get("label_selectors") or []
        if isinstance(selectors, str) or not all(isinstance(s, str) for s in selectors):
            raise ActionFailure(f"queries[{index}].label_selectors must be a list of strings")
        if selectors and query.get("name"):
            # kubernetes.core.k8s_info reads a named object whatever its labels: refused rather than guessed
            raise ActionFailure(f"queries[{index}]: give name or label_selectors, not both")
        return {"api_version": query["api_version"], "kind": query["kind"], "name": query.get("name") or "",
                "namespace": query.get("namespace") or "", "label_selectors": list(selectors)}

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
