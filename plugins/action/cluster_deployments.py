# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.cluster_deployments: one run_once task that converges the
ClusterDeployments of every host in a play batch, in the controller process. See the module file for docs."""
from __future__ import annotations

import json
import os
import re
import time

import yaml
from ansible.errors import AnsibleError

from ansible_collections.k0rdent.kof.plugins.module_utils import converge
from ansible_collections.k0rdent.kof.plugins.module_utils.compare import FIELD_MANAGER, needs_apply, view
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import (FLUX_RELEASE_API, STORAGE_RELEASE,
                                                                                claim_template_changes,
                                                                                grafana_claim_change,
                                                                                grafana_claim_target,
                                                                                helmrelease_storage,
                                                                                storage_annotations_change)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction
from ansible_collections.k0rdent.kof.plugins.plugin_utils.fleet import live_by_name

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ActionModule(KofAction):
    ARGS = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "definition": {"type": "str", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 1800},
        "concurrency": {"type": "int", "default": 8},
        "render_dir": {"type": "path"},
        "field_manager": {"type": "str", "default": FIELD_MANAGER},
        "created_templates": {"type": "list", "elements": "str", "default": []},
        "default_template": {"type": "str", "default": ""},
        "recreate_statefulsets": {"type": "bool", "default": False},
        "regional_helmrelease": {"type": "str", "default": ""},
    }

    def act(self, args, result):
        started = time.monotonic()
        check = self.check_mode
        hosts = list(dict.fromkeys(args["hosts"]))
        per_host = {}
        desired = {}
        seen = {}
        for h, obj in self.per_host(hosts, args["definition"]).items():
            # an empty spec.template is settled against the live object (_settle_templates); render mode has none
            err = obj if isinstance(obj, Exception) else _check_definition(
                obj, args["definition"], args["state"], allow_empty_template=not args["render_dir"])
            if err:
                per_host[h] = {"failed": True, "changed": False, "msg": str(err)}
                continue
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            if key in seen:
                per_host[h] = {"failed": True, "changed": False,
                               "msg": f"ClusterDeployment {key[0]}/{key[1]} is also defined by host {seen[key]}: "
                                      "cluster names must be unique across the inventory"}
                continue
            seen[key] = h
            desired[h] = obj
        if args["render_dir"]:
            self._render(result, args, desired, per_host)
            return
        kube = self.management(args, pool_size=max(8, args["concurrency"] * 2))
        engine = converge.Converger(kube, check=check, manager=args["field_manager"],
                                    concurrency=args["concurrency"])
        by_ns = {}
        for h, obj in desired.items():
            by_ns.setdefault((obj["apiVersion"], obj["metadata"]["namespace"]), {})[h] = obj
        lives = {}
        for (api_version, ns) in by_ns:
            path = object_path(api_version, "clusterdeployments", ns)
            try:
                lives[(api_version, ns)] = live_by_name(kube, path)
            except KubeError as err:
                if err.status == 404:
                    raise KubeError(f"ClusterDeployment ({api_version}) is not served by the management cluster: "
                                    "is k0rdent (kcm) installed, and kof_kcm_api_version right?")
                raise
        recreate, claims = {}, {}
        if args["state"] == "present":
            # inventory errors the cluster would refuse, for the whole batch before any write (nothing is changed)
            refused = []
            helm_storage = self._regional_storage_values(kube, args["regional_helmrelease"], [
                (lives[key].get(o["metadata"]["name"]), o) for key, objs in by_ns.items() for o in objs.values()])
            for key, objs in by_ns.items():
                refused += _settle_templates(objs, lives[key], args["default_template"], per_host)
                recreate.update({h: names for h, o in objs.items() if h not in per_host
                                 and (names := claim_template_changes(lives[key].get(o["metadata"]["name"]), o,
                                                                      helm_storage))})
                claims.update({h: change for h, o in objs.items() if h not in per_host
                               and (change := grafana_claim_change(lives[key].get(o["metadata"]["name"]), o))})
            if refused:
                raise KubeError(f"{len(refused)} ClusterDeployment template change{'s' if len(refused) > 1 else ''}"
                                " that kcm refuses, nothing was changed: " + "; ".join(refused))
            if (recreate or claims) and not args["recreate_statefulsets"]:
                raise KubeError(_claim_template_refusal(recreate, claims, desired))
            if args["recreate_statefulsets"]:
                # confirmed: a replacement an earlier run could not finish (its ClusterDeployment has the class
                # already, so no change shows it) is finished by this one
                for key, objs in by_ns.items():
                    claims.update(self._unfinished_claims(kube, {
                        h: (lives[key].get(o["metadata"]["name"]), o) for h, o in objs.items()
                        if h not in per_host and h not in claims}, result))
        for (api_version, ns), objs in by_ns.items():
            path = object_path(api_version, "clusterdeployments", ns)
            live = lives[(api_version, ns)]
            items = {h: (object_path(api_version, "clusterdeployments", ns, o["metadata"]["name"]), o)
                     for h, o in objs.items()}
            if args["state"] == "absent":
                res = engine.absent_all(items, {h: live.get(o["metadata"]["name"]) for h, o in objs.items()})
                per_host.update(res)
                if args["wait"] and not check:
                    names = {h: o["metadata"]["name"] for h, o in objs.items()}
                    gone = {names[h] for h, r in res.items() if r.get("action") == "deleted"}
                    out = converge.wait_for(kube, path, gone, lambda o: o is None, args["wait_timeout"])
                    for h, r in res.items():
                        if names[h] in out["pending"]:
                            r.update(failed=True, msg=f"ClusterDeployment {ns}/{names[h]} still exists after "
                                                      f"{args['wait_timeout']}s (finalizers pending)")
                continue
            objs = {h: o for h, o in objs.items() if h not in per_host}
            mine = [h for h in recreate if h in objs]
            if (mine or any(h in objs for h in claims)) and not check:
                # the StatefulSets go only for a change the server accepts (kcm's webhooks, dry run first)
                dry = converge.Converger(kube, check=True, manager=args["field_manager"],
                                         concurrency=args["concurrency"])
                guarded = sorted(set(mine) | {h for h in claims if h in objs})
                pre = dry.present_all({h: items[h] for h in guarded},
                                      {h: live.get(objs[h]["metadata"]["name"]) for h in guarded})
                per_host.update({h: r for h, r in pre.items() if r.get("failed")})
            for h in mine:
                if h not in per_host:
                    self._recreate_statefulsets(kube, h, objs[h], recreate[h], per_host, result)
            objs = {h: o for h, o in objs.items() if h not in per_host}
            if check:
                objs = self._predict_without_templates(kube, api_version, ns, objs, live, per_host, result,
                                                       set(args["created_templates"]))
            res = engine.present_all({h: items[h] for h in objs},
                                     {h: live.get(o["metadata"]["name"]) for h, o in objs.items()})
            per_host.update(res)
            for h in mine:
                if h in res:
                    res[h]["recreated_statefulsets"] = recreate[h]
            if args["wait"] and not check:
                self._wait(kube, path, ns, objs, res, args["wait_timeout"])
            elif not check:
                for r in res.values():
                    if not r.get("failed"):
                        r["ready"] = converge.is_ready(r.get("object") or {})
            for h in [h for h in claims if h in res and not res[h].get("failed")]:
                self._replace_grafana_claim(kube, h, objs[h], claims[h], res[h], result, args["wait_timeout"])
        for h, r in per_host.items():
            r.pop("object", None)
            if h in desired:  # for the batch tasks after this one (k0rdent.kof.cluster_services)
                r["cluster"] = f"{desired[h]['metadata']['namespace']}/{desired[h]['metadata']['name']}"
        result["hosts"] = per_host
        result["changed"] = any(r.get("changed") for r in per_host.values())
        result["summary"] = _summary(per_host)
        result["api_requests"] = kube.requests
        result["duration"] = round(time.monotonic() - started, 3)

    def _recreate_statefulsets(self, mgmt, host, cd, names, per_host, result, timeout=120):
        """Delete kof-storage's StatefulSets `names` on the cluster of `cd` with propagationPolicy Orphan, and wait
        until they are gone: their pods keep running and their claims (the data) stay, and the next helm upgrade of
        kof-storage creates them with the new claim templates; the new ones adopt the pods and, by name, the
        claims. A cluster without a kubeconfig Secret has no kof-storage yet: nothing to do. Check mode: a
        warning says what the run would do."""
        name, ns = cd["metadata"]["name"], cd["metadata"]["namespace"]
        what = f"kof-storage StatefulSet(s) {', '.join(names)} of cluster {ns}/{name}"
        if self.check_mode:
            result.setdefault("warnings", []).append(
                f"check mode: the run would delete {what} with propagationPolicy Orphan (pods and volumes stay) so "
                "that kof-storage's upgrade re-creates them with the new volume claim templates")
            return
        try:
            with day2.workload(mgmt, name, ns, missing_ok=True) as kube:
                if kube is not None:
                    self._orphan_statefulsets(kube, names, what, timeout)
        except KubeError as err:
            per_host[host] = {"failed": True, "changed": False,
                              "msg": f"{what}: could not re-create them for the new volume claim templates, the "
                                     f"ClusterDeployment was not changed: {err}"}

    @staticmethod
    def _orphan_statefulsets(kube, names, what, timeout):
        """Delete those StatefulSets of kof-storage with propagationPolicy Orphan and wait until they are gone."""
        selector = f"app.kubernetes.io/instance={STORAGE_RELEASE}"
        items = kube.list("/apis/apps/v1/statefulsets", {"labelSelector": selector}).get("items") or []
        by_ns = {}
        for sts in items:
            if sts["metadata"]["name"] in names:
                by_ns.setdefault(sts["metadata"]["namespace"], set()).add(sts["metadata"]["name"])
        for sts_ns, found in by_ns.items():
            for sts in found:
                kube.delete(object_path("apps/v1", "statefulsets", sts_ns, sts), propagation="Orphan")
            out = converge.wait_for(kube, object_path("apps/v1", "statefulsets", sts_ns), found,
                                    lambda o: o is None, timeout, label_selector=selector)
            if out["pending"]:
                raise KubeError(f"{what} still exist {timeout}s after their deletion (orphan finalizer pending)")

    def _unfinished_claims(self, mgmt, pairs, result) -> dict:
        """KOF 0.1.1: {host: claim change} of the regional clusters (live and desired ClusterDeployment in `pairs`,
        whose storage class does not change: the caller leaves out those with a claim change) whose Grafana data
        claim, read on the cluster, has another class than the desired one."""
        out = {}
        for host, (live, desired) in pairs.items():
            target = grafana_claim_target(desired)
            if not live or target is None:
                continue
            name, ns = desired["metadata"]["name"], desired["metadata"]["namespace"]
            claim = None
            try:
                with day2.workload(mgmt, name, ns, missing_ok=True) as kube:
                    if kube is not None:
                        claim = kube.get(object_path("v1", "persistentvolumeclaims", target["namespace"],
                                                     target["claim"]))
            except KubeError as err:
                result.setdefault("warnings", []).append(
                    f"cannot read Grafana's data claim {target['namespace']}/{target['claim']} on cluster "
                    f"{ns}/{name} ({err}): whether it still has to be replaced is not known")
                continue
            if claim is not None and (claim.get("spec") or {}).get("storageClassName") != target["to"]:
                out[host] = dict(target, **{"from": claim["spec"].get("storageClassName")})
        return out

    def _replace_grafana_claim(self, mgmt, host, cd, change, res, result, timeout):
        """KOF 0.1.1: once kof-storage's upgrade has given the regional Grafana its new storage class, replace its
        data claim, which grafana-operator cannot update: delete the claim and Grafana's pods (the claim goes once
        no pod on a node holds it; the new pod waits unscheduled), then wait until the operator has created it anew
        with the new class. Grafana's own database starts empty; KOF's dashboards and datasources are CRs and come
        back. Check mode: a warning says what the run would do."""
        name, ns = cd["metadata"]["name"], cd["metadata"]["namespace"]
        gns, grafana, claim, new = change["namespace"], change["grafana"], change["claim"], change["to"]
        what = f"Grafana {gns}/{grafana}'s data claim {claim} on cluster {ns}/{name}"
        if self.check_mode:
            res["changed"] = True  # the run will: predicted even when the ClusterDeployment itself is unchanged
            result.setdefault("warnings", []).append(
                f"check mode: the run would replace {what} (storage class {change['from'] or 'the default'} -> "
                f"{new}) once kof-storage is upgraded: Grafana's own database starts empty, KOF's dashboards and "
                "datasources come back from their CRs")
            return
        manual = (f"replace it by hand on that cluster (kubectl -n {gns} delete pvc {claim} --wait=false && "
                  f"kubectl -n {gns} delete pod -l app={grafana}); grafana-operator creates it anew")
        try:
            with day2.workload(mgmt, name, ns, missing_ok=True) as kube:
                if kube is not None and day2.replace_grafana_claim(kube, gns, grafana, claim, new, timeout):
                    res["replaced_claims"] = [f"{gns}/{claim}"]
                    res["changed"] = True
        except KubeError as err:
            res.update(failed=True, msg=f"{what}: the ClusterDeployment is applied, but the claim could not be "
                                        f"replaced for storage class {new}: {err}; {manual}")

    def _predict_without_templates(self, kube, api_version, ns, objs, live, per_host, result, created):
        """Check mode before kof-mothership is installed: kcm's admission rejects even a dry run that references a
        ServiceTemplate that does not exist yet, although this run would have created it (`created_templates`).
        Predict those changes without the server's dry run (with a warning); a template that nothing creates is
        an error, as the real run would meet it; everything else goes to the server's dry run."""
        existing = set(live_by_name(kube, object_path(api_version, "servicetemplates", ns)))
        rest = {}
        for h, obj in objs.items():
            wanted = [s.get("template") for s in ((obj.get("spec") or {}).get("serviceSpec") or {}).get("services") or []]
            missing = sorted({t for t in wanted if t and t not in existing})
            cur = live.get(obj["metadata"]["name"])
            if not missing or not needs_apply(obj, cur):
                rest[h] = obj
                continue
            unknown = [t for t in missing if t not in created]
            if unknown:
                per_host[h] = {"failed": True, "changed": False,
                               "msg": f"ClusterDeployment {ns}/{obj['metadata']['name']} references ServiceTemplate(s) "
                                      f"{', '.join(unknown)} that do not exist in {ns} and that this run does not "
                                      "create: kcm would reject it (check kof_service_templates)"}
                continue
            per_host[h] = {"changed": True, "action": "created" if cur is None else "updated", "predicted": True,
                           "before": view(cur), "after": view(obj)}
            result.setdefault("warnings", []).append(
                f"check mode: ClusterDeployment {ns}/{obj['metadata']['name']} references ServiceTemplate(s) "
                f"{', '.join(missing)} that do not exist yet (kof-mothership creates them), so kcm would reject a "
                "dry run; its change is predicted without one")
        return rest

    def _wait(self, kube, path, ns, objs, res, timeout):
        names = {o["metadata"]["name"]: h for h, o in objs.items() if not res[h].get("failed")}
        # objects left unchanged were just listed: if those are Ready already, they need no further request
        known = {n: res[h].get("object") for n, h in names.items() if res[h].get("action") == "unchanged"}
        out = converge.wait_for(kube, path, set(names), lambda o: o is not None and converge.is_ready(o), timeout,
                                known=known)
        for name, h in names.items():
            r = res[h]
            if name in out["pending"]:
                last = out["last"].get(name) or {}
                cond = converge.condition(last, "Ready") or {}
                r.update(failed=True, ready=False,
                         msg=f"ClusterDeployment {ns}/{name} not Ready after {timeout}s: "
                             f"{cond.get('reason', 'no Ready condition')}: {cond.get('message', '')}".rstrip(": "))
            else:
                r["ready"] = True

    @staticmethod
    def _regional_storage_values(kube, helmrelease: str, pairs: list) -> dict | None:
        """KOF 1.x: kof-regional's `storage` values from its live HelmRelease (`namespace/name`), read only when a
        regional cluster's storage annotations change - the layer beneath them in kof-storage's values."""
        ns, _sep, name = helmrelease.partition("/")
        if not (ns and name) or not any(storage_annotations_change(live, new) for live, new in pairs):
            return None
        return helmrelease_storage(kube.get(object_path(FLUX_RELEASE_API, "helmreleases", ns, name)))

    def _render(self, result, args, desired, per_host):
        """GitOps/review mode: write each host's ClusterDeployment to render_dir, touch no cluster."""
        base = args["render_dir"]
        changed = False
        for h, obj in desired.items():
            d = os.path.join(base, "clusterdeployments")
            path = os.path.join(d, f"{obj['metadata']['namespace']}--{obj['metadata']['name']}.yaml")
            # templated values are ansible-core's tagged str/dict subclasses: plain types for the YAML dumper
            text = yaml.safe_dump(json.loads(json.dumps(obj)), sort_keys=False, default_flow_style=False)
            old = open(path).read() if os.path.exists(path) else None
            if old != text and not self.check_mode:
                os.makedirs(d, exist_ok=True)
                with open(path, "w") as fh:
                    fh.write(text)
            per_host[h] = {"changed": old != text, "action": "rendered", "path": path}
            changed |= old != text
        result.update(hosts=per_host, changed=changed, summary=_summary(per_host))


def _settle_templates(objs, live, default_template, per_host) -> list[str]:
    """spec.template of each object, as kcm v0.1.0's ClusterDeployment webhook allows it: a live ClusterDeployment
    keeps its template unless the inventory names another, which must be one of the live object's
    status.availableUpgrades (kcm refuses any other change); a new one takes the named template or
    default_template (the newest valid one). Returns the refused changes; a host without any template is failed."""
    refused = []
    for h, obj in objs.items():
        spec = obj.setdefault("spec", {})
        name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        cur = live.get(obj["metadata"]["name"])
        running = ((cur or {}).get("spec") or {}).get("template")
        want = spec.get("template")
        if not want:
            spec["template"] = running or default_template
            if not spec["template"]:
                per_host[h] = {"failed": True, "changed": False,
                               "msg": f"ClusterDeployment {name}: no ClusterTemplate: set kof_cluster_template (or "
                                      "kof_regional_template / kof_child_template for this host)"}
            continue
        if running and want != running:
            offered = list(((cur.get("status") or {}).get("availableUpgrades")) or [])
            if want not in offered:
                refused.append(f"host {h}: ClusterDeployment {name} runs ClusterTemplate {running} and kcm only "
                               f"allows a change to one of its status.availableUpgrades "
                               f"({', '.join(sorted(offered)) or 'none offered'}), not to {want}: name one of those, "
                               f"or unset the template variable (kof_cluster_template, kof_regional_template or "
                               f"kof_child_template) to keep {running}")
    return refused


def _claim_template_refusal(recreate, claims, objs) -> str:
    hosts = sorted(set(recreate) | set(claims))
    parts = []
    for h in hosts:
        what = list(recreate.get(h) or [])
        if h in claims:
            c = claims[h]
            what.append(f"Grafana {c['namespace']}/{c['grafana']}'s data claim {c['claim']} (storage class "
                        f"{c['from'] or 'the default'} -> {c['to']})")
        parts.append(f"host {h} (ClusterDeployment {objs[h]['metadata']['namespace']}/{objs[h]['metadata']['name']}):"
                     f" {', '.join(what)}")
    n = len(hosts)
    text = (f"{n} regional cluster{'s' if n > 1 else ''} would change storage that Kubernetes does not let an update "
            f"change; no ClusterDeployment was changed: {'; '.join(parts)}. What changed is the storage class "
            "(kof_regional_storage_class) or the persistentVolume values of kof_regional_storage_values. To apply it, "
            "set kof_storage_recreate_confirm=true.")
    if recreate:
        text += (" kof-storage's StatefulSets have volume claim templates an update may not change (kof-storage's "
                 "helm upgrade would fail and leave the storage on the old release): with the confirmation they are "
                 "deleted with propagationPolicy Orphan before the change (their pods keep running, their volumes and "
                 "data stay) and kof-storage's upgrade re-creates them with the new template; volumes that exist keep "
                 "their class and size, only new ones get the new template.")
    if claims:
        text += (" grafana-operator cannot change the class of the regional Grafana's data claim (it would stop at "
                 "its pvc stage): with the confirmation the claim and Grafana's pods are deleted once kof-storage is "
                 "upgraded and the operator creates the claim anew - Grafana's own database (users, preferences, "
                 "hand-made dashboards) starts empty; KOF's dashboards and datasources come back from their CRs.")
    return text + " Or set the old values back."


def _check_definition(obj, var, state="present", allow_empty_template=True):
    if not isinstance(obj, dict):
        return AnsibleError(f"{var} must be a mapping (a ClusterDeployment), got {type(obj).__name__}")
    if obj.get("kind") != "ClusterDeployment":
        return AnsibleError(f"{var}.kind must be ClusterDeployment, got {obj.get('kind')!r}")
    if not str(obj.get("apiVersion", "")).startswith("k0rdent.mirantis.com/"):
        return AnsibleError(f"{var}.apiVersion must be k0rdent.mirantis.com/<version>, got {obj.get('apiVersion')!r}")
    meta = obj.get("metadata") or {}
    for field in ("name", "namespace"):
        val = meta.get(field)
        if not isinstance(val, str) or not DNS1123.match(val) or len(val) > (63 if field == "namespace" else 253):
            return AnsibleError(f"{var}.metadata.{field} {val!r} is not a valid DNS-1123 name")
    if state == "present" and not allow_empty_template and not (obj.get("spec") or {}).get("template"):
        return AnsibleError(f"{var}.spec.template is empty: set the ClusterTemplate to use")
    return None


def _summary(per_host):
    out = {}
    for r in per_host.values():
        key = "failed" if r.get("failed") else r.get("action", "unknown")
        out[key] = out.get(key, 0) + 1
    return out
