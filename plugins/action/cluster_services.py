# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.cluster_services: for every cluster of a play batch, wait until KOF 1.x's
MultiClusterService has deployed its services there (kcm's ServiceSet) and kof-operator has made the cluster's
objects (ConfigMap, PromxyServerGroup). The collection writes none of these: it judges them. See the module file."""
from __future__ import annotations

import time

from ansible_collections.k0rdent.kof.plugins.module_utils import converge, kof_resources
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction

KOF_OPERATOR = "app.kubernetes.io/managed-by=kof-operator"


class ActionModule(KofAction):
    ARGS = {
        # the registered results of the batch tasks that made the clusters (k0rdent.kof.cluster_deployments,
        # k0rdent.kof.regional_registrations): each host's `cluster` (namespace/name), resolved once there
        "batch": {"type": "list", "elements": "str", "required": True},
        "role": {"type": "str", "required": True, "choices": ["regional", "child"]},
        "multi_cluster_service": {"type": "str"},
        "config_map_only": {"type": "list", "elements": "str", "default": []},
        # regionless mode: the management cluster itself, by the name kof-operator knows it (kof_values'
        # regionless.clusterName) - kof-regional's self-management ServiceSet (cluster "") in system_namespace, and
        # kof-operator's regionless ConfigMap kof-<name> and PromxyServerGroup; reported (and failed) as this task's
        # own result (`management`), the task's host in `hosts`
        "management_cluster": {"type": "str", "default": ""},
        "system_namespace": {"type": "str", "default": "kcm-system"},
        "kof_version": {"type": "str", "required": True},
        "chart_version": {"type": "str", "default": ""},
        "kcm_api_version": {"type": "str", "default": "k0rdent.mirantis.com/v1beta1"},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 1800},
        "poll_interval": {"type": "float", "default": 2.0},
    }

    def act(self, args, result):
        started = time.monotonic()
        role, mcs = args["role"], args["multi_cluster_service"] or kof_resources.KOF_MCS[args["role"]]
        only_cm = set(args["config_map_only"])
        where = {}  # host -> (namespace, ClusterDeployment name), as the batch tasks resolved them
        for name in args["batch"]:
            for host, res in ((self.batch(name) or {}).get("hosts") or {}).items():
                if not res.get("failed"):  # a failed one fails on its own host (k0rdent.kof.fleet_result)
                    where[host] = _cluster(name, host, res)
        registered_as = {}  # host -> the cluster name kof-operator registers (ConfigMap, PromxyServerGroup) if not it
        if args["management_cluster"]:
            me = self.task_vars.get("inventory_hostname", "management")
            where[me] = (args["system_namespace"], "")  # kcm's ServiceSet of the management cluster has no cluster
            registered_as[me] = args["management_cluster"]
        per_host = {h: {"changed": False, "objects": [], "services": {}} for h in where}
        kube = self.management(args)
        psg_api = kof_resources.psg_api(args["kof_version"])[0]
        seen: dict = {}
        version = args["chart_version"]

        def probe():
            # what each ServiceSet must end up with: kcm adds a service only once its dependencies are deployed
            seen["mcs"] = kof_resources.multi_cluster_service_names(
                _items(kube, object_path(args["kcm_api_version"], "multiclusterservices", None)))
            for ns in sorted({namespace for namespace, _name in where.values()}):
                seen[ns] = self._read(kube, ns, role, psg_api, args["kcm_api_version"])
                seen[ns]["mcs"] = seen["mcs"]
            pending = [h for h, (ns, name) in where.items()
                       if self._state(seen[ns], role, mcs, name, version, h in only_cm, registered_as.get(h))[0]
                       == "pending"]
            return not pending, f"{len(pending)} cluster(s) pending"

        if args["wait"] and not self.check_mode:
            converge.wait_until(probe, args["wait_timeout"], args["poll_interval"])
        else:
            probe()
        for h, (ns, name) in where.items():
            state, msg, services, objects = self._state(seen[ns], role, mcs, name, version, h in only_cm,
                                                        registered_as.get(h))
            res = per_host[h]
            res.update(services=services, state=state, action="deployed" if state == "ready" else state)
            res["objects"] = [{"kind": k, "name": f"{ns}/{n}", "action": "made by kof-operator"} for k, n in objects]
            if self.check_mode or not args["wait"]:
                res["action"] = state
                continue
            what = (f"regional ConfigMap {ns}/{kof_resources.kof_config_map_name('regional', name)}" if h in only_cm
                    else f"KOF's services on the management cluster {registered_as[h]} (regionless)"
                    if h in registered_as else f"KOF's services on ClusterDeployment {ns}/{name}")
            if state == "failed":
                _fail(res, f"{what}: {msg}")
            elif state == "pending":
                _fail(res, f"{what} not done after {args['wait_timeout']}s: {msg}")
        result.update(hosts=per_host, changed=False, api_requests=kube.requests,
                      duration=round(time.monotonic() - started, 3))
        mgmt = next((per_host[h] for h in registered_as), None)
        if mgmt is not None:
            result["management"] = mgmt
            if mgmt.get("failed"):
                result.update(failed=True, msg=mgmt["msg"])

    @staticmethod
    def _read(kube, ns, role, psg_api, kcm_api):
        """One list per collection for the namespace: ServiceSets, kof-operator's ConfigMaps, PromxyServerGroups."""
        out = {"servicesets": _items(kube, object_path(kcm_api, "servicesets", ns)),
               "configmaps": {c["metadata"]["name"]: c
                              for c in _items(kube, object_path("v1", "configmaps", ns), KOF_OPERATOR)}}
        out["psgs"] = _items(kube, object_path(psg_api, "promxyservergroups", ns)) if role == "regional" else []
        return out

    @staticmethod
    def _state(seen, role, mcs, name, version="", config_map_only=False, registered_as=None):
        """(state, message, {service: state}, [(kind, name)] of kof-operator's objects) of one cluster;
        config_map_only: a regional cluster that is only the collection's ConfigMap (no services, no ConfigMap of
        kof-operator's), judged by its PromxyServerGroup alone; registered_as: the name kof-operator knows the
        cluster by when its ServiceSet names none (the management cluster in regionless mode)."""
        objects, missing = [], []
        known = registered_as or name
        if config_map_only:
            state, msg, services = "ready", "", {}
        else:
            sets = [s for s in seen["servicesets"] if (s.get("spec") or {}).get("cluster") == name]
            state, msg, services, _ns = kof_resources.cluster_services_state(sets, role, version, seen["mcs"],
                                                                             mcs=mcs)
            cm = kof_resources.kof_config_map_name(role, known)
            (objects if cm in seen["configmaps"] else missing).append(("ConfigMap", cm))
        if role == "regional":
            psgs = [p["metadata"]["name"] for p in seen["psgs"] if (p.get("spec") or {}).get("cluster_name") == known]
            if psgs:
                objects.append(("PromxyServerGroup", psgs[0]))
            else:
                missing.append(("PromxyServerGroup", f"<cluster_name {known}>"))
        if state == "ready" and missing:
            state, msg = "pending", "waiting for kof-operator to create " + ", ".join(f"{k} {n}" for k, n in missing)
        return state, msg, services, objects


def _cluster(batch, host, res) -> tuple:
    namespace, _sep, name = str(res.get("cluster") or "").partition("/")
    if not namespace or not name:
        raise ActionFailure(f"{batch}: the result of host {host} names no cluster (namespace/name): it is not a "
                            "result of k0rdent.kof.cluster_deployments or k0rdent.kof.regional_registrations")
    return namespace, name


def _items(kube, path, selector=None):
    try:
        return kube.list_all(path, label_selector=selector)[0]
    except KubeError as err:
        if err.status == 404:  # the kind is not served (yet): nothing made
            return []
        raise


def _fail(res, msg):
    res["failed"] = True
    res["msg"] = f"{res['msg']}; {msg}" if res.get("msg") else msg
