# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.kof_info: which KOF the management cluster runs and which kcm API it serves,
and the kof_version that "auto" stands for. Read-only. See the module file for docs."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import NO_API, KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import backup
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction

KCM_GROUP = "/apis/k0rdent.mirantis.com"


class ActionModule(KofAction):
    ARGS = {
        "namespace": {"type": "str", "default": "kof"},
        "offline": {"type": "bool", "default": False},
        "reading": {"type": "bool", "default": False},
    }

    def act(self, args, result):
        result.update(changed=False, installed={}, kcm_api_versions=[])
        if args["offline"]:
            result["version"], result["source"] = kof_resources.resolve_version(
                None, [], no_cluster="a playbook that works without a cluster")
            return
        try:
            kube = self.management(args)
            group = kube.list(KCM_GROUP)
        except KubeError as err:
            if str(err).startswith(NO_API):
                result["version"], result["source"] = kof_resources.resolve_version(None, [], no_cluster=NO_API)
                return
            if err.status != 404:  # 404: kcm is not installed, the group is not served
                raise
            group = None
        kcm_versions = [v.get("version") for v in (group or {}).get("versions") or []]
        # one list of the deployed helm release records of the KOF releases (helm 3 and 4 store them alike)
        data = kube.list(object_path("v1", "secrets", args["namespace"]),
                         {"labelSelector": "owner=helm,status=deployed,name in (%s)"
                                           % ",".join(kof_resources.INSTALLED_RELEASES)})
        found = {}
        for sec in data.get("items") or []:
            rel = backup.decode_release(sec, defaults=True)
            if rel and rel.get("name") in kof_resources.INSTALLED_RELEASES:
                found[rel["name"]] = {"release": rel["name"], "namespace": args["namespace"],
                                      "chart": rel.get("chart") or "", "version": rel.get("version") or ""}
                if rel.get("chart") == "kof":
                    # the umbrella chart's defaults of kof-regional's storage values that reach kof-storage's claim
                    # templates (mothership's preflight judges a kof_values change against them); nothing else
                    regional = ((rel["defaults"].get("kof-regional") or {}).get("values") or {})
                    found[rel["name"]]["regional_storage_defaults"] = kof_resources.storage_claim_values(
                        regional.get("storage"))
        # the umbrella chart wins: from 1.8 on Flux installs kof-mothership as one of its components
        installed = next((found[n] for n in kof_resources.INSTALLED_RELEASES if n in found), None)
        if installed:
            installed["generation"] = kof_resources.generation(installed["version"])
        version, why = kof_resources.resolve_version(installed, kcm_versions, reading=args["reading"])
        result.update(changed=False, installed=installed or {}, kcm_api_versions=kcm_versions,
                      version=version, source=why, api_requests=kube.requests)
