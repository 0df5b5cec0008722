# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.regional_addresses: the load-balancer address of every regional cluster of the
play - ingress-nginx's Service (KOF 0.1.x, the guide's `kubectl get svc -n ingress-nginx ingress-nginx-controller`)
or kof-storage's Gateway (KOF 1.x, the docs' `kubectl get gateway -n kof gateway`) - read through each cluster's
kubeconfig Secret in one run_once task in the controller process, waiting until each has one. The kubeconfigs stay
in this process. See the module file for docs."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction
from ansible_collections.k0rdent.kof.plugins.plugin_utils.day2 import kube_from_secret


def lb_address(service: dict) -> str:
    """The first load-balancer ingress of a Service: its hostname (AWS ELB) or else its IP; '' when none."""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    first = ingress[0] if ingress and isinstance(ingress[0], dict) else {}
    return first.get("hostname") or first.get("ip") or ""


def gateway_address(gateway: dict) -> str:
    """The first address of a Gateway API Gateway's status (a Hostname or an IPAddress); '' when none."""
    addresses = (gateway.get("status") or {}).get("addresses") or []
    first = addresses[0] if addresses and isinstance(addresses[0], dict) else {}
    return str(first.get("value") or "")


def _programmed_message(gateway: dict) -> str:
    cond = next((c for c in (gateway.get("status") or {}).get("conditions") or []
                 if isinstance(c, dict) and c.get("type") == "Programmed"), {})
    return f" (Programmed: {cond.get('reason')}: {cond.get('message')})" if cond.get("reason") else ""


def _short(err: Exception, limit: int = 200) -> str:
    text = str(err)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class ActionModule(KofAction):
    ARGS = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "namespace": {"type": "str", "default": "kcm-system"},
        "namespaces": {"type": "dict", "default": {}},
        "service_namespace": {"type": "str", "default": "ingress-nginx"},
        "service_name": {"type": "str", "default": "ingress-nginx-controller"},
        "gateway_namespace": {"type": "str", "default": "kof"},
        "gateway_name": {"type": "str", "default": ""},
        # hosts read on the management cluster itself (KOF 1.10's regionless mode: kof-storage runs there)
        "local_hosts": {"type": "list", "elements": "str", "default": []},
        "timeout": {"type": "int", "default": 600},
        "interval": {"type": "int", "default": 10},
        "concurrency": {"type": "int", "default": 8},
    }

    def act(self, args, result):
        for name in ("timeout", "interval", "concurrency"):
            if args[name] < (1 if name != "timeout" else 0):
                result.update(failed=True, msg=f"{name} must be at least {1 if name != 'timeout' else 0}, "
                                               f"not {args[name]}")
                return
        check = self.check_mode
        hosts = list(dict.fromkeys(args["hosts"]))
        if args["gateway_name"]:  # KOF 1.x: kof-storage's Gateway, published by envoy-gateway
            kind, obj_ns, obj_name = "Gateway", args["gateway_namespace"], args["gateway_name"]
            path = ("gateway.networking.k8s.io/v1", "gateways")
            missing, address_of = " (is kof-storage deployed on the cluster?)", gateway_address
        else:
            kind, obj_ns, obj_name = "Service", args["service_namespace"], args["service_name"]
            path = ("v1", "services")
            missing, address_of = " (is ingress-nginx deployed on the cluster?)", lb_address
        what = f"{kind} {obj_ns}/{obj_name}"
        # a check run reports what is there now: it does not wait
        timeout = 0 if check else args["timeout"]
        waited = "" if check else f" after {args['timeout']}s"
        mgmt = self.management(args, pool_size=max(8, args["concurrency"] * 2))

        local = set(args["local_hosts"])

        def look(host: str) -> dict:
            """One look at one cluster: {address, problem}; the problem says what is missing, for the last look."""
            ns = args["namespaces"].get(host) or args["namespace"]
            secret = f"{ns}/{host}-kubeconfig"
            if host in local:
                kube = mgmt
            else:
                try:
                    sec = mgmt.get(object_path("v1", "secrets", ns, f"{host}-kubeconfig"))
                    if sec is None:
                        return {"address": "", "problem": f"the kubeconfig Secret {secret} does not exist"
                                + (" (not provisioned yet)" if check else f"{waited}: is the ClusterDeployment Ready?")}
                    kube = kube_from_secret(sec, host, ns, verify=mgmt.verify is not False)
                except KubeError as err:
                    return {"address": "", "problem": f"cannot read Secret {secret}: {_short(err)}"}
            try:
                obj = kube.get(object_path(path[0], path[1], obj_ns, obj_name))
            except KubeError as err:
                if err.status != 404:  # 404 without the kind: the Gateway API is not installed yet
                    return {"address": "", "problem": f"cannot read {what}: {_short(err)}"}
                obj = None
            finally:
                if kube is not mgmt:
                    kube.close()
            if obj is None:
                return {"address": "", "problem": f"{what} does not exist" + ("" if check else waited + missing)}
            address = address_of(obj)
            if not address:
                detail = _programmed_message(obj) if kind == "Gateway" else ""
                return {"address": "", "problem": f"{what} has no load-balancer address{detail}"
                        + ("" if check else f"{waited} (is the cloud load balancer being provisioned?)")}
            return {"address": address, "problem": ""}

        started = time.monotonic()
        deadline = started + timeout
        found: dict[str, dict] = {}
        pending = hosts
        with ThreadPoolExecutor(max_workers=max(1, min(args["concurrency"], len(hosts) or 1))) as pool:
            while True:
                found.update(zip(pending, pool.map(look, pending)))
                pending = [h for h in pending if not found[h]["address"]]
                # reads are retried (transient errors included) until every cluster has an address or time is up
                if not pending or time.monotonic() + args["interval"] > deadline:
                    break
                time.sleep(args["interval"])
        result.update(changed=False, hosts={h: found[h] for h in hosts}, pending=pending,
                      elapsed=round(time.monotonic() - started, 1))
        if check and pending:
            result["msg"] = f"{len(pending)} of {len(hosts)} regional clusters have no address yet (check mode)"
        else:
            result["msg"] = f"{len(hosts) - len(pending)} of {len(hosts)} regional clusters have an address"
