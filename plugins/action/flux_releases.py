# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.flux_releases: wait until the Flux HelmReleases of KOF 1.x's umbrella kof
chart are Ready, judged from their status, not from helm's exit code. See the module file for docs."""
from __future__ import annotations

import time

from ansible_collections.k0rdent.kof.plugins.module_utils import converge, kof_resources
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction

GROUP_VERSION = kof_resources.FLUX_RELEASE_API


class ActionModule(KofAction):
    ARGS = {
        "namespace": {"type": "str", "default": "kof"},
        "label_selector": {"type": "str", "default": "k0rdent.mirantis.com/component"},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 1200},
        "failure_threshold": {"type": "int", "default": 3},
    }

    def act(self, args, result):
        started = time.monotonic()
        kube = self.management(args)
        path = object_path(GROUP_VERSION, "helmreleases", args["namespace"])
        result["changed"] = False
        try:
            items, _rv = kube.list_all(path, label_selector=args["label_selector"])
        except KubeError as err:
            if err.status != 404:
                raise
            msg = (f"the management cluster does not serve {GROUP_VERSION} HelmReleases: KOF 1.x needs Flux's "
                   "helm-controller, which k0rdent (kcm >= 1.0) installs")
            if self.check_mode or not args["wait"]:
                result.update(releases={}, warnings=[msg + " - nothing to wait for"])
                return
            raise ActionFailure(msg) from None
        live = {i["metadata"]["name"]: i for i in items}
        if not live:
            # check mode: the kof chart is not installed yet (the helm task predicted it); wait=false only reports
            if self.check_mode or not args["wait"]:
                result["releases"] = {}
                return
            raise ActionFailure(f"no HelmRelease labelled {args['label_selector']} in namespace {args['namespace']}: "
                                "the kof chart created none (are all its components disabled?)")
        if args["wait"] and not self.check_mode:
            def settled(obj):
                return kof_resources.flux_release_state(obj, args["failure_threshold"])[0] != "pending"
            out = converge.wait_for(kube, path, set(live), settled, args["wait_timeout"],
                                    label_selector=args["label_selector"], known=live)
            live.update({n: o for n, o in out["last"].items() if o is not None})
        releases = {}
        for name, obj in sorted(live.items()):
            state, message = kof_resources.flux_release_state(obj, args["failure_threshold"])
            status = obj.get("status") or {}
            releases[name] = {"state": state, "message": message,
                              "revision": status.get("lastAttemptedRevision", ""),
                              "depends_on": [d.get("name") for d in (obj.get("spec") or {}).get("dependsOn") or []]}
        result.update(releases=releases, api_requests=kube.requests,
                      duration=round(time.monotonic() - started, 3))
        if self.check_mode or not args["wait"]:
            return
        bad = {n: r for n, r in releases.items() if r["state"] != "ready"}
        if bad:
            failed = [n for n, r in bad.items() if r["state"] == "failed"]
            head = (f"{len(failed)} HelmRelease(s) failed" if failed else
                    f"{len(bad)} HelmRelease(s) not Ready after {args['wait_timeout']}s")
            raise ActionFailure(f"{head} in namespace {args['namespace']}: " +
                                "; ".join(f"{n}: {r['message']}" for n, r in bad.items()), releases=releases)
