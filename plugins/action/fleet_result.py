# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin behind k0rdent.kof.fleet_result: report one host's share of a batch result, so the play
recap stays per host (a failed cluster fails its own host; the others succeed). See the module for docs."""
from __future__ import annotations

import json

import yaml
from ansible.plugins.action import ActionBase

ARGS = {
    "batch": {"type": "str", "required": True},
    "what": {"type": "str", "default": "ClusterDeployment"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        host = task_vars.get("inventory_hostname")
        batch = task_vars.get(args["batch"])
        if not isinstance(batch, dict):
            result.update(failed=True, msg=f"no batch result in {args['batch']}: the batch task did not run (an "
                                           "earlier task failed, see above) or it registers another variable")
            return result
        if batch.get("failed"):
            result.update(failed=True, msg=f"the batch failed for every host: {batch.get('msg', 'unknown error')}")
            return result
        mine = (batch.get("hosts") or {}).get(host)
        if mine is None:
            if batch.get("skipped"):
                result.update(skipped=True, msg="the batch task was skipped")
                return result
            result.update(failed=True, msg=f"{host} was not part of the batch {args['batch']}")
            return result
        result["changed"] = bool(mine.get("changed"))
        for key in ("action", "ready", "path", "health"):
            if key in mine:
                result[key] = mine[key]
        if mine.get("failed"):
            result["failed"] = True
            result["msg"] = mine.get("msg", "failed")
            return result
        result["msg"] = f"{args['what']} {mine.get('action', 'ok')}" + (
            " and Ready" if mine.get("ready") else "")
        if self._task.diff and mine.get("changed") and ("before" in mine or "after" in mine):
            result["diff"] = {"before": _yaml(mine.get("before")), "after": _yaml(mine.get("after")),
                              "before_header": f"{args['what']} {host} (live)",
                              "after_header": f"{args['what']} {host} (wanted)"}
        return result


def _yaml(obj):
    # through JSON: in check mode the wanted object comes from templated variables, whose ansible-core 2.19 tagged
    # str/dict types safe_dump cannot represent
    return yaml.safe_dump(json.loads(json.dumps(obj)), sort_keys=True, default_flow_style=False) if obj else ""
