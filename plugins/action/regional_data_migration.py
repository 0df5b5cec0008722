# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.regional_data_migration: copy a regional cluster's stored metrics and logs into
another regional cluster (k0rdent docs admin/kof, kof-upgrade), by way of gzip files on the controller, checked
and recorded on the management cluster. See the module file for docs."""
from __future__ import annotations

import base64
import datetime
import json
import os
import time
import zlib

from ansible_collections.k0rdent.kof.plugins.module_utils import migration
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path
from ansible_collections.k0rdent.kof.plugins.module_utils.migration import MigrationError
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction

SIDE = {
    "name": {"type": "str", "required": True},
    "domain": {"type": "str", "default": ""},
    "generation": {"type": "str", "choices": ["0.1", "1.x"], "default": "1.x"},
    "configmap": {"type": "str", "default": ""},
    "endpoints": {"type": "dict", "default": {}},
    "credentials_secret": {"type": "str", "default": ""},
    "cluster_namespace": {"type": "str", "default": "kcm-system"},
}
PARTS = ("metrics", "logs")
LABELS = {"app.kubernetes.io/managed-by": "k0rdent.kof", "k0rdent.mirantis.com/kof-migration": "true"}
# KOF 0.1.x: kof-mothership's Secret, copied to every cluster (vmauth's one VMUser); keys username / password
STORAGE_SECRET_0_1 = "storage-vmuser-credentials"


def admin_secret_name(regional: str, cluster_namespace: str) -> str:
    """KOF 1.x's admin VMUser Secret of a regional cluster (kof-operator; the kof-regional chart's template:
    kof-vmuser-creds-admin-<adler32sum "kof-<regional>/<namespace>">)."""
    return f"kof-vmuser-creds-admin-{zlib.adler32(f'kof-{regional}/{cluster_namespace}'.encode())}"


class ActionModule(KofAction):
    ARGS = {
        "source": {"type": "dict", "required": True, "options": SIDE},
        "target": {"type": "dict", "required": True, "options": SIDE},
        "parts": {"type": "list", "elements": "str", "choices": list(PARTS), "default": list(PARTS)},
        "match": {"type": "list", "elements": "str", "default": ['{__name__!=""}']},
        "logs_query": {"type": "str", "default": "*"},
        "logs_stream_fields": {"type": "list", "elements": "str", "default": []},
        "start": {"type": "str", "default": ""},
        "end": {"type": "str", "default": ""},
        "dest": {"type": "path", "required": True},
        "namespace": {"type": "str", "default": "kof"},
        "endpoint_validate_certs": {"type": "bool", "default": True},
        "endpoint_ca_file": {"type": "path"},
        "timeout": {"type": "int", "default": 3600},
        "verify_timeout": {"type": "int", "default": 120},
        "confirm": {"type": "bool", "default": False},
    }

    def act(self, args, result):
        result["changed"] = False
        if not args["confirm"]:
            raise ActionFailure("copying a regional cluster's data writes into the target's storage (logs imported "
                                "twice are stored twice): set confirm (kof_migrate_confirm=true); nothing was done")
        src, dst = args["source"], args["target"]
        if src["name"] == dst["name"]:
            raise ActionFailure(f"source and target are the same regional cluster {src['name']!r}")
        parts = list(dict.fromkeys(args["parts"]))
        if not args["endpoint_validate_certs"]:
            self.warn("TLS verification of the storage endpoints is off (kof_migrate_validate_certs=false): the "
                      "credentials and the data could go to an impostor")
        mgmt = self.management(args)
        marker_path = object_path("v1", "configmaps", args["namespace"], f"kof-migration-{dst['name']}")
        marker = mgmt.get(marker_path)
        before = json.loads(((marker or {}).get("data") or {}).get("migration", "{}") or "{}")
        if before and before.get("source") != src["name"]:
            raise ActionFailure(f"{dst['name']} already holds data migrated from {before.get('source')!r} "
                                f"(ConfigMap {args['namespace']}/kof-migration-{dst['name']}); delete that record "
                                f"to migrate from {src['name']!r} as well")
        done = dict(before.get("parts") or {})
        todo = [p for p in parts if p not in done]
        result.update(source=src["name"], target=dst["name"], done=sorted(done), record=before)
        if not todo:
            result["msg"] = f"{dst['name']}: {', '.join(parts)} already migrated from {src['name']}"
            return
        try:
            source = self._storage(mgmt, src, [f"{p}_read" for p in todo], args)
            target = self._storage(mgmt, dst, [f"{p}_{rw}" for p in todo for rw in ("read", "write")], args)
        except MigrationError as err:
            raise ActionFailure(str(err)) from None
        result["changed"] = True
        result["parts"] = todo
        if self.check_mode:
            result["msg"] = f"would migrate {', '.join(todo)} from {src['name']} to {dst['name']}"
            self._diff(result, before, {"source": src["name"], "target": dst["name"],
                                        "parts": dict(done, **dict.fromkeys(todo, "migrated"))})
            return
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        folder = os.path.join(os.path.expanduser(args["dest"]), f"kof-data-{src['name']}-{stamp}")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        engine = day2.converger(mgmt, check=False)
        for part in todo:
            try:
                done[part] = self._migrate(part, source, target, folder, args)
            except MigrationError as err:
                raise ActionFailure(f"migrating {part} from {src['name']} to {dst['name']}: {err}",
                                    done=sorted(done), folder=folder) from None
            # recorded part by part: a re-run after a later failure does not import this part twice
            record = {"source": src["name"], "target": dst["name"], "parts": done}
            new = {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": f"kof-migration-{dst['name']}", "namespace": args["namespace"],
                                "labels": dict(LABELS)},
                   "data": {"migration": json.dumps(record, sort_keys=True)}}
            # the object written is the live one for the next part's write
            marker = engine.present(marker_path, new, marker)["object"]
        self._diff(result, before, record)
        result.update(record=record, folder=folder, done=sorted(done),
                      msg=f"migrated {', '.join(todo)} from {src['name']} to {dst['name']} (data kept in {folder})")

    def _storage(self, mgmt, side, needed, args) -> migration.Storage:
        what = f"regional cluster {side['name']}"
        endpoints = {}
        if side["domain"]:
            endpoints.update(migration.endpoints_for_domain(side["domain"], side["generation"]))
        if side["configmap"]:
            ns, _sep, name = side["configmap"].partition("/")
            cm = mgmt.get(object_path("v1", "configmaps", ns or None, name)) if name else None
            if cm is None:
                raise MigrationError(f"{what}: ConfigMap {side['configmap']} (KOF 1.x's endpoints of the regional "
                                     "cluster, made by kof-operator) not found on the management cluster")
            endpoints.update({k: v for k, v in migration.endpoints_from_configmap(cm.get("data")).items() if v})
        endpoints.update({k: v for k, v in (side["endpoints"] or {}).items() if v})
        unknown = sorted(set(side["endpoints"] or {}) - set(migration.ENDPOINT_KEYS))
        if unknown:
            raise MigrationError(f"{what}: unknown endpoints key(s) {', '.join(unknown)} "
                                 f"(known: {', '.join(migration.ENDPOINT_KEYS)})")
        endpoints = migration.check_endpoints(endpoints, needed, what)
        secret = side["credentials_secret"] or (
            f"{args['namespace']}/{STORAGE_SECRET_0_1}" if side["generation"] == "0.1"
            else f"{args['namespace']}/{admin_secret_name(side['name'], side['cluster_namespace'])}")
        username, password = self._credentials(mgmt, secret, what)
        return migration.Storage(side["name"], endpoints, username=username, password=password,
                                 validate_certs=args["endpoint_validate_certs"], ca_file=args.get("endpoint_ca_file"),
                                 timeout=args["timeout"])

    @staticmethod
    def _credentials(mgmt, ref, what):
        ns, _sep, name = ref.partition("/")
        if not ns or not name:
            raise MigrationError(f"{what}: credentials_secret must be <namespace>/<name>, got {ref!r}")
        sec = mgmt.get(object_path("v1", "secrets", ns, name))
        if sec is None:
            raise MigrationError(f"{what}: credentials Secret {ref} not found on the management cluster")
        data = sec.get("data") or {}
        if "username" not in data or "password" not in data:
            raise MigrationError(f"{what}: Secret {ref} has no username / password keys")
        return (base64.b64decode(data["username"]).decode(), base64.b64decode(data["password"]).decode())

    @staticmethod
    def _migrate(part, source, target, folder, args) -> dict:
        path = os.path.join(folder, f"{part}.jsonl.gz")
        if part == "metrics":
            params = migration.metrics_export_params(args["match"], args["start"], args["end"])
        else:
            params = migration.logs_export_params(args["logs_query"], args["start"], args["end"])
        exported = source.export(part, params, path)
        if not exported.get("series" if part == "metrics" else "rows"):
            return {"exported": exported, "imported": exported, "file": path, "note": "nothing to migrate"}
        insert = {"_stream_fields": ",".join(args["logs_stream_fields"])} if part == "logs" and \
            args["logs_stream_fields"] else None
        target.import_file(part, path, insert)
        # read the target back over the same range (metrics: the source's own first..last sample, exported again;
        # logs: counted by the target) until every series, sample and row is there (VictoriaMetrics and
        # VictoriaLogs make new data searchable in seconds)
        check = dict(params)
        if part == "metrics" and "first_ms" in exported:
            check.update(start=str(exported["first_ms"] / 1000), end=str(exported["last_ms"] / 1000))
        missing, found = ["not read yet"], {}
        deadline = time.monotonic() + args["verify_timeout"]
        while missing:
            found = target.export(part, check) if part == "metrics" else target.count_logs(check)
            missing = migration.covered(exported, found)
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(2)
        if missing:
            raise MigrationError(f"the target does not hold everything exported after {args['verify_timeout']} s "
                                 f"({'; '.join(missing)}); the export is kept in {path}")
        return {"exported": exported, "imported": found, "file": path}

    def _diff(self, result, before, after):
        """The record before the run and after it (a check run: the parts it would add, marked "migrated")."""
        if self.diff_mode:
            # (a JSON round trip: the task's own strings are ansible-core's tagged str types, which YAML cannot dump)
            result["diff"] = {"before": day2.yaml_text(before), "after": day2.yaml_text(after)}
