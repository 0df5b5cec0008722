# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.cost_report: OpenCost's costs read through promxy, the data-quality gate, the
report files and the budget rule object. See the module file for docs. The cost model is
plugins/module_utils/finops.py (pure); this plugin only connects it to promxy and to the task."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.module_utils import finops, finops_budgets, finops_report, report_files
from ansible_collections.k0rdent.kof.plugins.module_utils.finops_source import PROMXY_SERVICE_PATH, PromSource
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction


class ServiceProxySource:
    """promxy's Prometheus API through the management cluster API server's service proxy, with the task's
    connection (kubeconfig, token, TLS, retries of module_utils/kube.py)."""

    def __init__(self, kube, namespace, service, port):
        self.kube = kube
        self.base = PROMXY_SERVICE_PATH.format(namespace=namespace, service=service, port=port)

    def _get(self, path, params):
        try:
            body = self.kube.request("GET", self.base + path, query=params)[1]
        except KubeError as err:
            raise finops.FinOpsError(f"promxy through the API server's service proxy ({self.base}): {err}")
        if not isinstance(body, dict) or body.get("status") != "success":
            raise finops.FinOpsError(f"promxy refused a query: {(body or {}).get('error', body)}")
        return body["data"]["result"]

    def query(self, expr, at):
        return self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})

    def query_range(self, expr, start, end, step):
        return self._get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                 "step": f"{int(step)}s"})


class ActionModule(KofAction):
    ARGS = {
        "clusters": {"type": "dict", "required": True},
        "kof_version": {"type": "str", "default": "0.1.1"},
        "period": {"type": "raw", "default": {"days": 30}},
        "group_by": {"type": "raw", "default": "namespace"},
        "idle": {"type": "str", "default": "separate", "choices": list(finops.IDLE_MODES)},
        "shared": {"type": "dict", "default": {}},
        "currency": {"type": "str", "default": "USD"},
        "retention_days": {"type": "float"},
        "max_series": {"type": "int", "default": 20000},
        "max_clusters": {"type": "int", "default": 100},
        "opencost_job": {"type": "str", "default": "kof-collectors-opencost"},
        "promxy_url": {"type": "str"},
        "promxy_namespace": {"type": "str", "default": "kof"},
        "promxy_service": {"type": "str", "default": "kof-mothership-promxy"},
        "promxy_port": {"type": "int", "default": 8082},
        "prices": {"type": "dict", "default": {}},
        "budgets": {"type": "list", "elements": "raw", "default": []},
        "report_dir": {"type": "path"},
        "report_keep": {"type": "int", "default": finops_report.KEEP},
        "fail_on_gap": {"type": "bool", "default": False},
        "top": {"type": "int", "default": 25},
        "budgets_only": {"type": "bool", "default": False},
        "rules_namespace": {"type": "str", "default": "kof"},
    }

    def act(self, args, result):
        result["changed"] = False
        try:
            self._report(args, result)
        except finops.FinOpsError as err:
            raise ActionFailure(str(err))

    def _report(self, args, result):
        if args["report_keep"] < 0:
            raise finops.FinOpsError(f"report_keep {args['report_keep']} must be 0 or more")
        # inputs first: a bad budget or price fails before any request
        budgets = finops_budgets.parse_budgets(args["budgets"], args["currency"])
        if args["budgets_only"]:  # no query: the rule objects only (render mode too)
            finops.check_currency(args["currency"])
            zero = finops.cluster_label(args["kof_version"]) == "clusterName"
            result["budget_rules"] = finops_budgets.rules(budgets, args["kof_version"], args["opencost_job"])
            result["object"] = finops_budgets.vmrule(budgets, args["rules_namespace"], args["kof_version"],
                                                     job=args["opencost_job"]) if zero else {}
            result["values"] = {} if zero else finops_budgets.mothership_values(budgets, args["kof_version"],
                                                                                args["opencost_job"])
            return
        book = {c: finops.parse_prices(p, f"kof_cost_prices of {c}") for c, p in args["prices"].items() if p}
        if args["promxy_url"]:
            source = PromSource(args["promxy_url"], verify=args.get("validate_certs") is not False)
        else:
            source = ServiceProxySource(self.management(args), args["promxy_namespace"], args["promxy_service"],
                                        args["promxy_port"])
        engine = finops.Engine(
            source, kof_version=args["kof_version"], clusters=args["clusters"], group_by=args["group_by"],
            period=args["period"], idle=args["idle"], shared=args["shared"], currency=args["currency"],
            job=args["opencost_job"], retention_days=args["retention_days"], max_series=args["max_series"],
            max_clusters=args["max_clusters"])
        quality = engine.quality()
        result["quality"] = quality
        if not quality["ok"]:
            raise ActionFailure("data-quality gate: " + "; ".join(quality["errors"]), quality=quality)
        for w in quality["warnings"]:
            self.warn(f"cost report: {w}")
        rep = engine.run(quality)
        if book:
            rep["price_check"] = finops.price_check(source, kof_version=args["kof_version"], book=book,
                                                    at=engine.period["end"] - 60, job=args["opencost_job"],
                                                    max_clusters=args["max_clusters"])
            bad = sorted(c for c, v in rep["price_check"]["clusters"].items()
                         if not all(x["ok"] for k, x in v.items() if k != "error"))
            if bad:
                self.warn("cost report: the node/volume prices of " + ", ".join(bad[:20])
                          + " differ from kof_cost_prices (not rolled out yet, or overridden)")
        generated = report_files.now()
        rep["meta"]["generated"] = generated
        result.update(totals=rep["totals"], meta=rep["meta"], rows=[
            {k: v for k, v in r.items() if k != "daily"} for r in rep["rows"]],
            clusters=[{k: v for k, v in c.items() if k != "daily"} for c in rep["clusters"]],
            stats=finops_report.stats(rep), table=finops_report.markdown(rep, top=args["top"]).splitlines(),
            price_check=rep.get("price_check"))
        if budgets:
            result["budget_rules"] = finops_budgets.rules(budgets, args["kof_version"], args["opencost_job"])
        if args["report_dir"] and not self.check_mode:  # check mode writes nothing, not even reports
            result["report_files"] = finops_report.write(args["report_dir"], rep, generated, keep=args["report_keep"])
        missing = quality["missing"]
        if missing and args["fail_on_gap"]:
            raise ActionFailure(f"no OpenCost data for {len(missing)} cluster(s): " + ", ".join(missing[:20]),
                                **{k: result[k] for k in ("totals", "quality", "table") if k in result})
