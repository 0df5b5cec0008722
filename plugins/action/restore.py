# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.restore: put the objects of a KOF backup archive back on the management and
regional clusters, idempotently (a second restore sends no write). See the module file for docs."""
from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleError
from ansible.parsing.vault import VaultLib

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError
from ansible_collections.k0rdent.kof.plugins.plugin_utils import backup, day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction

MANAGER = "k0rdent.kof.restore"


class ActionModule(KofAction):
    ARGS = {
        "archive": {"type": "path", "required": True},
        "clusters": {"type": "list", "elements": "str", "default": []},
        "mode": {"type": "str", "default": "apply", "choices": ["apply", "missing"]},
        "helm_owned": {"type": "bool", "default": False},
        "secrets": {"type": "bool", "default": False},
        "kcm_namespace": {"type": "str", "default": "kcm-system"},
        "namespaces": {"type": "dict", "default": {}},
        "max_diffs": {"type": "int", "default": 20},
    }

    def act(self, args, result):
        result["changed"] = False
        path = os.path.expanduser(args["archive"])
        # everything that can be wrong with the archive or the request fails here, before any API request
        try:
            manifest, files = backup.read_archive(path)
            unknown = sorted(set(args["clusters"]) - set(manifest.get("clusters") or {}))
            if unknown:
                raise backup.BackupError(f"clusters {unknown} are not in the archive (it holds: "
                                         f"{', '.join(manifest.get('clusters') or {})})")
            secrets = self._secrets(manifest, files) if args["secrets"] else {}
            plan = backup.restore_plan(manifest, files, args["clusters"], args["helm_owned"])
        except (backup.BackupError, AnsibleError) as err:
            raise ActionFailure(str(err)) from None
        mgmt = self.management(args)
        summary, failures, diffs, warnings = {}, [], [], []
        for cluster, items in plan.items():
            items = [(s, None) for s in secrets.get(cluster, [])] + items
            counts = summary.setdefault(cluster, {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0,
                                                  "failed": 0})
            try:
                kube = mgmt if cluster == backup.MANAGEMENT else day2.workload_kube(
                    mgmt, cluster, day2.cluster_namespace(cluster, args["namespaces"], args["kcm_namespace"]),
                    args.get("validate_certs"))
            except KubeError as err:
                counts["failed"] += len(items)
                failures.append(f"{cluster}: {err}")
                continue
            try:
                resources = day2.Resources(kube)
                engine = day2.converger(kube, check=self.check_mode, manager=MANAGER)
                for obj, skip in items:
                    if skip:
                        counts["skipped"] += 1
                        continue
                    try:
                        res = day2.ensure_present(engine, resources, obj, only_missing=args["mode"] == "missing")
                    except KubeError as err:
                        counts["failed"] += 1
                        failures.append(f"{cluster}: {day2.ref(obj)}: {err}")
                        continue
                    counts[res["action"]] += 1
                    if res["changed"] and self.diff_mode and len(diffs) < args["max_diffs"]:
                        diffs.append({"before": day2.yaml_text(res["before"]), "after": day2.yaml_text(res["after"]),
                                      "before_header": f"{cluster}: {day2.ref(obj)} (live)",
                                      "after_header": f"{cluster}: {day2.ref(obj)} (backup)"})
                warnings += self._values_drift(kube, cluster, manifest, files)
            finally:
                if kube is not mgmt:
                    kube.close()
        for w in warnings:
            self.warn(w)
        result.update(changed=any(c["created"] or c["updated"] for c in summary.values()), clusters=summary,
                      archive=path, created=manifest.get("created"), warnings_count=len(warnings))
        if diffs:
            result["diff"] = diffs
        if failures:
            result.update(failed=True, failures=failures,
                          msg=f"{len(failures)} object(s) could not be restored: " + "; ".join(failures[:5])
                          + (" ..." if len(failures) > 5 else ""))
        else:
            total = {k: sum(c[k] for c in summary.values()) for k in ("created", "updated", "unchanged", "skipped")}
            result["msg"] = (f"restored from {os.path.basename(path)}: {total['created']} created, {total['updated']} "
                             f"updated, {total['unchanged']} unchanged, {total['skipped']} skipped (helm-owned)")

    def _secrets(self, manifest, files):
        """The archive's Secrets, decrypted with the run's vault password; never returned or logged."""
        if not (manifest.get("secrets") or {}).get("included") or "secrets.vault" not in files:
            raise backup.BackupError("kof_restore_secrets is true but this archive holds no Secrets (it was taken "
                                     "without kof_backup_include_secrets)")
        secrets = self.vault_secrets()
        if not secrets:
            raise AnsibleError("the archive's Secrets are vault-encrypted: run ansible-playbook with "
                               "--vault-password-file or --vault-id (in AWX: attach a Vault credential)")
        try:
            data = yaml.safe_load(VaultLib(secrets).decrypt(files["secrets.vault"]))
        except AnsibleError as err:
            raise AnsibleError(f"cannot decrypt the archive's Secrets with the given vault password: {err.message}")
        return data or {}

    @staticmethod
    def _values_drift(kube, cluster, manifest, files):
        out = []
        entry = (manifest.get("clusters") or {}).get(cluster) or {}
        if not entry.get("helm_releases"):
            return out
        namespaces = {r["namespace"] for r in entry["helm_releases"]}
        live = {}
        for ns in namespaces:
            try:
                for rel in backup.helm_releases(kube, ns):
                    live[(ns, rel["name"])] = rel
            except KubeError:
                continue
        for rec in entry["helm_releases"]:
            saved = yaml.safe_load(files[rec["file"]])
            cur = live.get((rec["namespace"], rec["name"]))
            if cur is None:
                out.append(f"{cluster}: helm release {rec['namespace']}/{rec['name']} is not installed: install it "
                           f"(chart {rec['chart']} {rec['version']}) with the values in {rec['file']} of the archive")
                continue
            drift = backup.values_drift(saved["values"], cur["values"])
            if drift or cur["version"] != rec["version"]:
                out.append(f"{cluster}: helm release {rec['namespace']}/{rec['name']} differs from the backup ("
                           + (f"chart {cur['version']} vs {rec['version']}" if cur["version"] != rec["version"] else "")
                           + ("; " if drift and cur["version"] != rec["version"] else "")
                           + (f"values: {', '.join(drift)}" if drift else "")
                           + "): a restore does not re-run helm; set the values in the inventory (kof_*_values) "
                           "and run site.yml if the backup is what you want")
        return out
