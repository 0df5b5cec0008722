# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.grafana_claim: give a Grafana's data claim a new storage class, which
grafana-operator cannot (plugin_utils.day2.replace_grafana_claim, the same procedure the regional tier's
cluster_deployments runs for a regional Grafana). See the module file for docs."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction


class ActionModule(KofAction):
    ARGS = {
        "storage_class": {"type": "str", "required": True},
        "namespace": {"type": "str", "default": "kof"},
        "grafana": {"type": "str", "default": "grafana-vm"},
        "claim": {"type": "str", "default": "grafana-vm-pvc"},
        "wait_timeout": {"type": "int", "default": 300},
    }

    def act(self, args, result):
        if not args["storage_class"]:
            result.update(failed=True, msg="storage_class is empty: name the storage class the claim must have")
            return
        kube = self.management(args)
        ns, claim, new = args["namespace"], args["claim"], args["storage_class"]
        pvc = kube.get(object_path("v1", "persistentvolumeclaims", ns, claim))
        old = ((pvc or {}).get("spec") or {}).get("storageClassName")
        result.update(claim=f"{ns}/{claim}", replaced=False, changed=False)
        if self.check_mode:
            # the chart's upgrade has not run: predict from the live claim, wait for nothing
            result["changed"] = result["replaced"] = pvc is not None and old != new
        else:
            result["changed"] = result["replaced"] = day2.replace_grafana_claim(
                kube, ns, args["grafana"], claim, new, args["wait_timeout"])
        if result["changed"]:
            result.setdefault("warnings", []).append(
                f"{'check mode: the run would replace' if self.check_mode else 'replaced'} Grafana {ns}/"
                f"{args['grafana']}'s data claim {claim} (storage class {old or 'the default'} -> {new}): Grafana's "
                "own database starts empty, KOF's dashboards and datasources come back from their CRs")
            if self.diff_mode:
                result["diff"] = {"before": f"storageClassName: {old or ''}\n", "after": f"storageClassName: {new}\n",
                                  "before_header": f"PersistentVolumeClaim {ns}/{claim} (live)",
                                  "after_header": f"PersistentVolumeClaim {ns}/{claim} (re-created)"}
        result["api_requests"] = kube.requests
