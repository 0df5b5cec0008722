# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.service_account_token: a bounded ServiceAccount token (TokenRequest API)
written to a private file on the controller, renewed only when it expires soon, the duration changed or the
ServiceAccount was re-created. The token never becomes a task variable or result. See the module for docs."""
from __future__ import annotations

import datetime
import json
import os

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction

MIN_SECONDS = 600  # the API server refuses shorter TokenRequests


def _parse_ts(text):
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


class ActionModule(KofAction):
    ARGS = {
        "name": {"type": "str", "required": True},
        "namespace": {"type": "str", "required": True},
        "duration": {"type": "int", "required": True},
        "max_duration": {"type": "int", "default": 86400},
        "dest": {"type": "path", "required": True},
        "audiences": {"type": "list", "elements": "str", "default": []},
        "renew_before": {"type": "int", "default": 600},
        "force": {"type": "bool", "default": False},
    }

    def act(self, args, result):
        if not MIN_SECONDS <= args["duration"] <= args["max_duration"]:
            raise ActionFailure(f"duration {args['duration']}s is out of bounds: a token lives at least "
                                f"{MIN_SECONDS}s and at most {args['max_duration']}s (max_duration)")
        dest = os.path.expanduser(args["dest"])
        meta_path = dest + ".json"
        kube = self.management(args)
        sa_path = object_path("v1", "serviceaccounts", args["namespace"], args["name"])
        sa = kube.get(sa_path)
        who = f"ServiceAccount {args['namespace']}/{args['name']}"
        if sa is None and not self.check_mode:
            raise ActionFailure(f"{who} not found on the management cluster")
        reason = self._renewal_reason(args, dest, meta_path, sa)
        result.update(dest=dest, service_account=f"{args['namespace']}/{args['name']}")
        if reason is None:
            with open(meta_path) as fh:
                result.update(changed=False, expiration=json.load(fh)["expirationTimestamp"],
                              msg="the current token is still valid")
            return
        result.update(changed=True, msg=f"new token: {reason}")
        if self.check_mode:
            return
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": args["duration"]}}
        if args["audiences"]:
            body["spec"]["audiences"] = args["audiences"]
        resp = kube.request("POST", sa_path + "/token", body=body, retry=False)[1]
        status = (resp or {}).get("status") or {}
        token = status.get("token")
        if not token:
            raise ActionFailure("the TokenRequest answered without a token")
        day2.write_private(dest, token.encode() + b"\n")
        meta = {"serviceAccount": result["service_account"], "uid": sa["metadata"].get("uid"),
                "duration": args["duration"], "audiences": args["audiences"],
                "expirationTimestamp": status.get("expirationTimestamp")}
        day2.write_private(meta_path, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
        result["expiration"] = status.get("expirationTimestamp")

    @staticmethod
    def _renewal_reason(args, dest, meta_path, sa):
        if args["force"]:
            return "renewal forced"
        if sa is None:
            return "the ServiceAccount is created in this run"
        try:
            with open(meta_path) as fh:
                meta = json.load(fh)
            st = os.stat(dest)
        except (OSError, ValueError):
            return "no token file yet"
        if st.st_mode & 0o777 != 0o600:
            return f"{dest} is not private (0600)"
        if meta.get("uid") != sa["metadata"].get("uid"):
            return "the ServiceAccount was re-created"
        if meta.get("duration") != args["duration"] or meta.get("audiences") != args["audiences"]:
            return "duration or audiences changed"
        exp = _parse_ts(meta.get("expirationTimestamp"))
        now = datetime.datetime.now(datetime.timezone.utc)
        if exp is None or exp - now < datetime.timedelta(seconds=args["renew_before"]):
            return "the current token expires soon"
        return None
