# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin behind k0rdent.kof.regional_registrations: the PromxyServerGroups and GrafanaDatasources that
register every regional cluster of a play batch, in one run_once task in the controller process, built by the
same code as k0rdent.kof.promxy_server_group / grafana_datasource. See the module file for docs."""
from __future__ import annotations

import time

from ansible.plugins.action import ActionBase

from ansible_collections.k0rdent.kof.plugins.plugin_utils import fleet
from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import AUTH_ARG_SPEC, KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils.day2 import management_kube

ARGS = dict({
    "hosts": {"type": "list", "elements": "str", "required": True},
    "promxy_server_group": {"type": "str"},
    "grafana_datasource": {"type": "str"},
    "missing_secret": {"type": "str", "default": "warn", "choices": ["fail", "warn", "ignore"]},
    "concurrency": {"type": "int", "default": 8},
}, **AUTH_ARG_SPEC)
BUILDERS = {"promxy_server_group": kof_resources.promxy_server_group,
            "grafana_datasource": kof_resources.grafana_datasource}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        started = time.monotonic()
        check = bool(self._task.check_mode)
        hosts = list(dict.fromkeys(args["hosts"]))
        per_host = {h: {"changed": False, "objects": []} for h in hosts}
        # {(apiVersion, plural, namespace): {host: object}}
        wanted: dict[tuple, dict] = {}
        for option, build in BUILDERS.items():
            if not args[option]:
                continue
            for h, params in fleet.resolve_per_host(self, task_vars, hosts, args[option]).items():
                try:
                    if isinstance(params, Exception):
                        raise params
                    if not isinstance(params, dict):
                        raise kof_resources.ValidationError(f"{args[option]} must be a mapping of "
                                                            f"k0rdent.kof.{option} options")
                    obj = build(dict(params))
                except Exception as err:  # a bad variable of one host fails that host only
                    _fail(per_host[h], f"{args[option]}: {err}")
                    continue
                warning = kof_resources.insecure_warning(obj)
                if warning:
                    result.setdefault("warnings", []).append(warning)
                meta = obj["metadata"]
                wanted.setdefault((obj["apiVersion"], kof_resources.PLURALS[obj["kind"]], meta["namespace"]),
                                  {})[h] = obj
        try:
            kube = management_kube(args, pool_size=max(8, args["concurrency"] * 2))
        except KubeError as err:
            result.update(failed=True, msg=str(err))
            return result
        secrets: dict[tuple, bool] = {}
        try:
            for (api_version, plural, ns), objs in wanted.items():
                objs = {h: o for h, o in objs.items() if not per_host[h].get("failed")}
                if objs:
                    self._converge(kube, api_version, plural, ns, objs, per_host, result, check, args, secrets)
        except KubeError as err:
            result.update(failed=True, msg=str(err))
            return result
        finally:
            kube.close()
        for h, r in per_host.items():
            actions = {o["action"] for o in r["objects"]}
            r["action"] = "failed" if r.get("failed") else "changed" if r["changed"] else \
                ("unchanged" if actions <= {"unchanged"} else ", ".join(sorted(actions)))
        result["hosts"] = per_host
        result["changed"] = any(r["changed"] for r in per_host.values())
        result["api_requests"] = kube.requests
        result["duration"] = round(time.monotonic() - started, 3)
        return result

    def _converge(self, kube, api_version, plural, ns, objs, per_host, result, check, args, secrets):
        """One list of the collection, then a server-side apply only where the live object differs."""
        kind = next(iter(objs.values()))["kind"]
        try:
            live = fleet.list_all(kube, object_path(api_version, plural, ns))[0]
        except KubeError as err:
            if err.status != 404:
                raise
            msg = (f"{kind} ({api_version}) is not served by the management cluster: install kof-mothership first "
                   "(it brings the CRD), or set kof_version to the KOF version that is installed")
            if not check:
                for h in objs:
                    _fail(per_host[h], msg)
                return
            # a check run before kof-mothership is installed: predict the creates, as the modules do
            result.setdefault("warnings", []).append(msg + " - check mode: reporting that they would be created")
            for h, obj in objs.items():
                _add(per_host[h], obj, "created", None, obj)
            return
        todo = {}
        for h, obj in objs.items():
            cur = live.get(obj["metadata"]["name"])
            if fleet.needs_apply(obj, cur):
                todo[h] = obj
            else:
                _add(per_host[h], obj, "unchanged", cur, cur)
        for h, obj in list(todo.items()):
            problem = self._missing_secret(kube, obj, args["missing_secret"], secrets)
            if problem and args["missing_secret"] == "fail":
                _fail(per_host[h], problem)
                del todo[h]
            elif problem:
                result.setdefault("warnings", []).append(problem)
        res = fleet.apply_batch(kube, todo, live, api_version=api_version, plural=plural, namespace=ns,
                                check_mode=check, concurrency=args["concurrency"])
        for h, r in res.items():
            if r.get("failed"):
                _fail(per_host[h], r["msg"])
            else:
                _add(per_host[h], todo[h], r["action"], live.get(todo[h]["metadata"]["name"]), r.get("object"))

    @staticmethod
    def _missing_secret(kube, obj, policy, secrets) -> str | None:
        """The modules' missing_secret check, once per referenced Secret for the whole batch (existence only: the
        Secret's data is dropped here and never returned)."""
        secret = kof_resources.referenced_secret(obj)
        if not secret or policy == "ignore":
            return None
        ns = obj["metadata"]["namespace"]
        if (ns, secret) not in secrets:
            secrets[(ns, secret)] = kube.get(object_path("v1", "secrets", ns, secret)) is not None
        if secrets[(ns, secret)]:
            return None
        msg = (f"missing_secret: the credentials Secret {ns}/{secret} that {obj['kind']} {ns}/"
               f"{obj['metadata']['name']} references does not exist (kof-mothership creates "
               f"{kof_resources.STORAGE_SECRET})")
        if obj["kind"] == "PromxyServerGroup":
            msg += "; the promxy-operator cannot render any server group until it exists"
        return msg


def _add(res, obj, action, before, after):
    res["objects"].append({"kind": obj["kind"], "name": f"{obj['metadata']['namespace']}/{obj['metadata']['name']}",
                           "action": action, "before": kof_resources.redact(fleet.view(before)),
                           "after": kof_resources.redact(fleet.view(after))})
    if action != "unchanged":
        res["changed"] = True


def _fail(res, msg):
    res["failed"] = True
    res["msg"] = f"{res['msg']}; {msg}" if res.get("msg") else msg
