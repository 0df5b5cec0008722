# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.fleet_health: the guide's verification for every cluster of the fleet,
with waits, a report table and report files. See the module file for docs."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources, report_files
from ansible_collections.k0rdent.kof.plugins.plugin_utils import health, report
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction


class ActionModule(KofAction):
    ARGS = {
        "regional": {"type": "list", "elements": "str", "default": []},
        "child": {"type": "list", "elements": "str", "default": []},
        "child_regions": {"type": "dict", "default": {}},
        "config_map_only": {"type": "list", "elements": "str", "default": []},
        "kcm_namespace": {"type": "str", "default": "kcm-system"},
        "namespaces": {"type": "dict", "default": {}},
        "kcm_api_version": {"type": "str", "default": "k0rdent.mirantis.com/v1alpha1"},
        "namespace": {"type": "str", "default": "kof"},
        "psg_api_version": {"type": "str", "default": "kof.k0rdent.mirantis.com/v1alpha1"},
        "promxy_secret": {"type": "str", "default": "kof-mothership-promxy-config"},
        "wait_timeout": {"type": "int", "default": 600},
        "interval": {"type": "float", "default": 5.0},
        "report_dir": {"type": "path"},
        "report_keep": {"type": "int", "default": report.KEEP},
        "kof_version": {"type": "str", "default": ""},
        "concurrency": {"type": "int", "default": 8},
        "fail_on_unhealthy": {"type": "bool", "default": True},
        "hosts": {"type": "list", "elements": "str", "default": []},
        "management": {"type": "list", "elements": "str", "default": []},
        "management_storage": {"type": "str", "default": ""},
        "system_namespace": {"type": "str", "default": "kcm-system"},
    }

    def act(self, args, result):
        result["changed"] = False
        if args["report_keep"] < 0:
            result.update(failed=True, msg=f"report_keep {args['report_keep']} must be 0 or more")
            return
        kube = self.management(args)
        checker = health.FleetHealth(kube, api_version=args["kcm_api_version"], kcm_namespace=args["kcm_namespace"],
                                     kof_namespace=args["namespace"], validate_certs=kube.validate_certs,
                                     concurrency=args["concurrency"],
                                     flow=kof_resources.generation(args["kof_version"]),
                                     namespaces={str(k): str(v) for k, v in args["namespaces"].items()},
                                     config_map_only=args["config_map_only"],
                                     management_storage=args["management_storage"],
                                     system_namespace=args["system_namespace"])
        timeout = 0 if self.check_mode else args["wait_timeout"]
        results = health.wait_healthy(checker, args["regional"], args["child"], timeout=timeout,
                                      interval=args["interval"], psg_api_version=args["psg_api_version"],
                                      promxy_secret=args["promxy_secret"],
                                      child_regions={str(k): str(v) for k, v in args["child_regions"].items()})
        meta = {"generated": report_files.now(),
                "management": kube.host, "kof_version": args["kof_version"]}
        summ = report.summary(results)
        result.update(clusters=results, summary=summ, table=report.table(results), api_requests=kube.requests)
        if args["report_dir"] and not self.check_mode:  # check mode writes nothing, not even reports
            result["report_files"] = report.write(args["report_dir"], results, meta, keep=args["report_keep"])
        bad = [r for r in results if r["state"] != "healthy"]
        if bad:
            result["msg"] = (f"{len(bad)} of {len(results)} clusters unhealthy: "
                             + "; ".join(f"{r['name']}: {r['problems'][0] if r['problems'] else r['state']}"
                                         for r in bad[:10]) + (" ..." if len(bad) > 10 else ""))
            result["failed"] = bool(args["fail_on_unhealthy"])
        else:
            result["msg"] = f"{summ['healthy']} of {summ['clusters']} clusters healthy"
        # check mode deployed nothing: it reports and fails no host
        result["failed_hosts"] = ({} if self.check_mode
                                  else failed_hosts(bad, args["hosts"], args["management"], result["msg"]))


def failed_hosts(bad: list, hosts: list, management: list, summary: str) -> dict:
    """{host: message} of the hosts a play must fail: each unhealthy cluster that is a host of the play on its own
    host; the management hosts of the play for unhealthy clusters that have none (a run limited to the management
    host). Computed here once, so the play's per-host task is a dictionary lookup."""
    in_play = set(hosts)
    out = {r["name"]: f"{r['name']} is {r['state']}: {'; '.join(r['problems'])}" for r in bad if r["name"] in in_play}
    if any(r["name"] not in in_play for r in bad):
        out.update({m: summary for m in management if m in in_play})
    return out
