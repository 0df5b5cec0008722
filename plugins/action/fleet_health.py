# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin behind k0rdent.kof.fleet_health: the guide's verification for every cluster of the fleet,
with waits, a report table and report files. See the module file for docs."""
from __future__ import annotations

import datetime
import os

from ansible.plugins.action import ActionBase

from ansible_collections.k0rdent.kof.plugins.plugin_utils import health, report
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import AUTH_ARG_SPEC, AUTH_OPTIONS, Kube, KubeError, auth_from

ARGS = {
    "regional": {"type": "list", "elements": "str", "default": []},
    "child": {"type": "list", "elements": "str", "default": []},
    "child_regions": {"type": "dict", "default": {}},
    "kcm_namespace": {"type": "str", "default": "kcm-system"},
    "kcm_api_version": {"type": "str", "default": "k0rdent.mirantis.com/v1alpha1"},
    "namespace": {"type": "str", "default": "kof"},
    "psg_api_version": {"type": "str", "default": "kof.k0rdent.mirantis.com/v1alpha1"},
    "promxy_secret": {"type": "str", "default": "kof-mothership-promxy-config"},
    "wait_timeout": {"type": "int", "default": 600},
    "interval": {"type": "float", "default": 5.0},
    "report_dir": {"type": "path"},
    "kof_version": {"type": "str", "default": ""},
    "concurrency": {"type": "int", "default": 8},
    "fail_on_unhealthy": {"type": "bool", "default": True},
    "hosts": {"type": "list", "elements": "str", "default": []},
    "management": {"type": "list", "elements": "str", "default": []},
    **AUTH_ARG_SPEC,
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        result["changed"] = False
        auth = auth_from({k: args.get(k) for k in AUTH_OPTIONS})
        try:
            kube = Kube(auth)
        except KubeError as err:
            result.update(failed=True, msg=str(err))
            return result
        try:
            checker = health.FleetHealth(kube, api_version=args["kcm_api_version"], kcm_namespace=args["kcm_namespace"],
                                         kof_namespace=args["namespace"], validate_certs=auth.get("validate_certs"),
                                         concurrency=args["concurrency"])
            timeout = 0 if self._task.check_mode else args["wait_timeout"]
            results = health.wait_healthy(checker, args["regional"], args["child"], timeout=timeout,
                                          interval=args["interval"], psg_api_version=args["psg_api_version"],
                                          promxy_secret=args["promxy_secret"],
                                          child_regions={str(k): str(v) for k, v in args["child_regions"].items()})
        except KubeError as err:
            result.update(failed=True, msg=str(err))
            return result
        finally:
            kube.close()
        meta = {"generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "management": kube.host, "kof_version": args["kof_version"]}
        summ = report.summary(results)
        result.update(clusters=results, summary=summ, table=report.table(results), api_requests=kube.requests)
        if args["report_dir"] and not self._task.check_mode:  # check mode writes nothing, not even reports
            stamp = meta["generated"].replace(":", "").replace("-", "")
            files = {}
            os.makedirs(args["report_dir"], exist_ok=True)
            for ext, text in (("md", report.markdown(results, meta)), ("json", report.as_json(results, meta)),
                              ("html", report.page(results, meta))):
                for name in (f"fleet-report-{stamp}.{ext}", f"fleet-report.{ext}"):
                    path = os.path.join(args["report_dir"], name)
                    with open(path, "w") as fh:
                        fh.write(text)
                files[ext] = os.path.join(args["report_dir"], f"fleet-report.{ext}")
            result["report_files"] = files
        bad = [r for r in results if r["state"] != "healthy"]
        if bad:
            result["msg"] = (f"{len(bad)} of {len(results)} clusters unhealthy: "
                             + "; ".join(f"{r['name']}: {r['problems'][0] if r['problems'] else r['state']}"
                                         for r in bad[:10]) + (" ..." if len(bad) > 10 else ""))
            result["failed"] = bool(args["fail_on_unhealthy"])
        else:
            result["msg"] = f"{summ['healthy']} of {summ['clusters']} clusters healthy"
        # check mode deployed nothing: it reports and fails no host
        result["failed_hosts"] = ({} if self._task.check_mode
                                  else failed_hosts(bad, args["hosts"], args["management"], result["msg"]))
        return result


def failed_hosts(bad: list, hosts: list, management: list, summary: str) -> dict:
    """{host: message} of the hosts a play must fail: each unhealthy cluster that is a host of the play on its own
    host; the management hosts of the play for unhealthy clusters that have none (a run limited to the management
    host). Computed here once, so the play's per-host task is a dictionary lookup."""
    in_play = set(hosts)
    out = {r["name"]: f"{r['name']} is {r['state']}: {'; '.join(r['problems'])}" for r in bad if r["name"] in in_play}
    if any(r["name"] not in in_play for r in bad):
        out.update({m: summary for m in management if m in in_play})
    return out
