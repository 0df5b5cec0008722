# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.regional_registrations: the PromxyServerGroups and GrafanaDatasources that
register every regional cluster of a play batch (KOF 1.x: the ConfigMaps of regional clusters that are only a
ConfigMap), in one run_once task in the controller process, built by the same code as
k0rdent.kof.promxy_server_group / grafana_datasource. See the module file for docs."""
from __future__ import annotations

import time

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources
from ansible_collections.k0rdent.kof.plugins.module_utils.compare import view
from ansible_collections.k0rdent.kof.plugins.module_utils.converge import Converger
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_module import SecretCheck, not_served_msg
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction
from ansible_collections.k0rdent.kof.plugins.plugin_utils.fleet import live_by_name

BUILDERS = {"promxy_server_group": kof_resources.promxy_server_group,
            "grafana_datasource": kof_resources.grafana_datasource,
            # KOF 1.x, a regional cluster that is only a ConfigMap: kof-operator registers it from that ConfigMap
            "config_map": kof_resources.regional_config_map}


class ActionModule(KofAction):
    ARGS = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "promxy_server_group": {"type": "str"},
        "grafana_datasource": {"type": "str"},
        "config_map": {"type": "str"},
        "missing_secret": {"type": "str", "default": "warn", "choices": ["fail", "warn", "ignore"]},
        "concurrency": {"type": "int", "default": 8},
    }

    def act(self, args, result):
        started = time.monotonic()
        hosts = list(dict.fromkeys(args["hosts"]))
        per_host = {h: {"changed": False, "objects": []} for h in hosts}
        # {(apiVersion, plural, namespace): {host: object}}
        wanted: dict[tuple, dict] = {}
        for option, build in BUILDERS.items():
            if not args[option]:
                continue
            for h, params in self.per_host(hosts, args[option]).items():
                try:
                    if isinstance(params, Exception):
                        raise params
                    if not isinstance(params, dict):
                        raise kof_resources.ValidationError(f"{args[option]} must be a mapping of "
                                                            f"k0rdent.kof.{option} options")
                    obj = build(dict(params))
                except Exception as err:  # pylint: disable=broad-exception-caught  # one host's bad variable
                    _fail(per_host[h], f"{args[option]}: {err}")
                    continue
                warning = kof_resources.insecure_warning(obj)
                if warning:
                    result.setdefault("warnings", []).append(warning)
                meta = obj["metadata"]
                if option == "config_map":  # the regional cluster it announces, for k0rdent.kof.cluster_services
                    data = obj["data"]
                    per_host[h]["cluster"] = f"{data['regional_cluster_namespace']}/{data['regional_cluster_name']}"
                wanted.setdefault((obj["apiVersion"], kof_resources.PLURALS[obj["kind"]], meta["namespace"]),
                                  {})[h] = obj
        kube = self.management(args, pool_size=max(8, args["concurrency"] * 2))
        engine = Converger(kube, check=self.check_mode, concurrency=args["concurrency"])
        # the modules' missing_secret check, once per referenced Secret for the whole batch
        secrets = SecretCheck(kube, args["missing_secret"], warn=lambda msg: result.setdefault("warnings", []).append(msg))
        for (api_version, plural, ns), objs in wanted.items():
            objs = {h: o for h, o in objs.items() if not per_host[h].get("failed")}
            if objs:
                self._converge(engine, api_version, plural, ns, objs, per_host, result, secrets)
        for r in per_host.values():
            actions = {o["action"] for o in r["objects"]}
            r["action"] = "failed" if r.get("failed") else "changed" if r["changed"] else \
                ("unchanged" if actions <= {"unchanged"} else ", ".join(sorted(actions)))
        result["hosts"] = per_host
        result["changed"] = any(r["changed"] for r in per_host.values())
        result["api_requests"] = kube.requests
        result["duration"] = round(time.monotonic() - started, 3)

    def _converge(self, engine, api_version, plural, ns, objs, per_host, result, secrets):
        """One list of the collection, then a server-side apply only where the live object differs."""
        kind = next(iter(objs.values()))["kind"]
        try:
            live = live_by_name(engine.kube, object_path(api_version, plural, ns))
        except KubeError as err:
            if err.status != 404:
                raise
            msg = not_served_msg(kind, api_version, "the management cluster")
            if not self.check_mode:
                for h in objs:
                    _fail(per_host[h], msg)
                return
            # a check run before kof-mothership is installed: predict the creates, as the modules do
            result.setdefault("warnings", []).append(msg + " - check mode: reporting that they would be created")
            for h, obj in objs.items():
                _add(per_host[h], obj, {"action": "created", "before": {}, "after": view(obj)})
            return
        current = {h: live.get(o["metadata"]["name"]) for h, o in objs.items()}
        # the missing_secret policy before any write, in host order (each Secret read once for the batch)
        for h, obj in list(objs.items()):
            if engine.differs(obj, current[h]):
                try:
                    secrets.prepare(obj)
                except KubeError as err:
                    _fail(per_host[h], str(err))
                    del objs[h]
        res = engine.present_all({h: (object_path(api_version, plural, ns, o["metadata"]["name"]), o)
                                  for h, o in objs.items()}, current)
        for h, r in res.items():
            if r.get("failed"):
                _fail(per_host[h], r["msg"])
            else:
                _add(per_host[h], objs[h], r)


def _add(res, obj, outcome):
    shown = outcome.get("object")
    res["objects"].append({"kind": obj["kind"], "name": f"{obj['metadata']['namespace']}/{obj['metadata']['name']}",
                           "action": outcome["action"],
                           "before": kof_resources.redact(outcome.get("before", view(shown))),
                           "after": kof_resources.redact(outcome.get("after", view(shown)))})
    if outcome["action"] != "unchanged":
        res["changed"] = True


def _fail(res, msg):
    res["failed"] = True
    res["msg"] = f"{res['msg']}; {msg}" if res.get("msg") else msg
