# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.fleet_result: report one host's share of a batch result, so the play
recap stays per host (a failed cluster fails its own host; the others succeed). See the module for docs."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction


# what a batch may have done to an object; anything else (unchanged, absent, made by kof-operator) has no diff
WRITES = ("created", "updated", "deleted", "rendered")


class ActionModule(KofAction):
    CONNECTION = False
    ARGS = {
        # one registered batch result, or several (a regional cluster's ClusterDeployment and its registrations)
        "batch": {"type": "list", "elements": "str", "required": True},
        "what": {"type": "str", "default": "ClusterDeployment"},
    }

    def act(self, args, result):
        task_vars = self.task_vars
        host = task_vars.get("inventory_hostname")
        shares = []
        for name in args["batch"]:
            batch = self.batch(name)
            if batch is None:
                continue
            mine = (batch.get("hosts") or {}).get(host)
            if mine is None:
                if any(m.get("failed") for m in shares):
                    break  # a host that failed in an earlier batch is left out of the later ones: say why
                result.update(failed=True, msg=f"{host} was not part of the batch {name}")
                return
            shares.append(mine)
        if not shares:
            result.update(skipped=True, msg="the batch task was skipped")
            return
        first = shares[0]
        result["changed"] = any(bool(m.get("changed")) for m in shares)
        for key in ("action", "ready", "path", "health"):
            if key in first:
                result[key] = first[key]
        # the objects each batch reports besides its own (a ClusterDeployment's share has none; a regional
        # ConfigMap's registration share lists the ConfigMap itself)
        objects = [o for m in shares for o in m.get("objects") or []]
        if objects:
            result["objects"] = {o["name"]: o["action"] for o in objects}
        failed = [m for m in shares if m.get("failed")]
        if failed:
            result["failed"] = True
            result["msg"] = "; ".join(m.get("msg", "failed") for m in failed)
            return
        result["msg"] = f"{args['what']} {first.get('action', 'ok')}" + (" and Ready" if first.get("ready") else "")
        if objects:
            result["msg"] += "; " + ", ".join(f"{o['kind']} {o['action']}" for o in objects)
        if self.diff_mode:
            diffs = []
            if first.get("changed") and ("before" in first or "after" in first):
                diffs.append({"before": day2.yaml_text(first.get("before")),
                              "after": day2.yaml_text(first.get("after")),
                              "before_header": f"{args['what']} {host} (live)",
                              "after_header": f"{args['what']} {host} (wanted)"})
            diffs += [{"before": day2.yaml_text(o.get("before")), "after": day2.yaml_text(o.get("after")),
                       "before_header": f"{o['kind']} {o['name']} (live)",
                       "after_header": f"{o['kind']} {o['name']} (wanted)"}
                      for o in objects if o["action"] in WRITES]
            if diffs:
                result["diff"] = diffs[0] if len(diffs) == 1 else diffs
