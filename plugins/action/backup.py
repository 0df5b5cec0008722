# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.backup: export KOF's configuration from the management cluster and the
regional clusters into a timestamped archive on the controller. Read-only on every cluster. See the module file
for docs."""
from __future__ import annotations

import datetime
import os

import yaml
from ansible.errors import AnsibleError
from ansible.parsing.vault import VaultLib, match_encrypt_secret

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path
from ansible_collections.k0rdent.kof.plugins.plugin_utils import backup, day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction


class ActionModule(KofAction):
    ARGS = {
        "regional": {"type": "list", "elements": "str", "default": []},
        "management": {"type": "bool", "default": True},
        "dest": {"type": "path", "required": True},
        "namespace": {"type": "str", "default": "kof"},
        "kcm_namespace": {"type": "str", "default": "kcm-system"},
        "namespaces": {"type": "dict", "default": {}},
        "kcm_api_version": {"type": "str", "default": "k0rdent.mirantis.com/v1alpha1"},
        "kinds": {"type": "list", "elements": "str", "default": backup.DEFAULT_KINDS},
        "extra_kinds": {"type": "list", "elements": "str", "default": []},
        "secrets": {"type": "list", "elements": "str", "default": []},
        "include_secrets": {"type": "bool", "default": False},
        "vault_id": {"type": "str"},
        "force": {"type": "bool", "default": False},
        "kof_version": {"type": "str", "default": ""},
    }

    def act(self, args, result):
        result["changed"] = False
        try:
            kinds = list(dict.fromkeys(args["kinds"] + args["extra_kinds"]))
            for spec in kinds:
                backup.split_kind(spec)
            extra_refs = []
            for s in args["secrets"]:
                ns, _sep, name = s.partition("/")
                if not ns or not name:
                    raise backup.BackupError(f"secrets: {s!r} must be <namespace>/<name>")
                extra_refs.append((ns, name))
            vault = self._vault(args) if args["include_secrets"] else None
        except (backup.BackupError, AnsibleError) as err:
            raise ActionFailure(str(err)) from None
        dest = os.path.expanduser(args["dest"])
        mgmt = self.management(args)
        clusters, secrets_plain, skipped = {}, {} if vault else None, {}
        current = "management cluster"
        try:
            if args["management"]:
                data = backup.collect(mgmt, kinds, args["namespace"])
                data["secret_refs"], sec = backup.resolve_secrets(mgmt, data["refs"], extra_refs, vault is not None)
                clusters[backup.MANAGEMENT] = data
                if vault:
                    secrets_plain[backup.MANAGEMENT] = sec
            for name in dict.fromkeys(args["regional"]):
                current = f"regional cluster {name}"
                ns = day2.cluster_namespace(name, args["namespaces"], args["kcm_namespace"])
                cd = mgmt.get(object_path(args["kcm_api_version"], "clusterdeployments", ns, name))
                if cd is None:
                    skipped[name] = "no ClusterDeployment: never deployed or already removed"
                    continue
                kube = day2.workload_kube(mgmt, name, ns, args.get("validate_certs"))
                try:
                    data = backup.collect(kube, kinds, args["namespace"])
                    data["secret_refs"], sec = backup.resolve_secrets(kube, data["refs"], [], vault is not None)
                finally:
                    kube.close()
                clusters[name] = data
                if vault:
                    secrets_plain[name] = sec
        except (KubeError, backup.BackupError) as err:
            raise ActionFailure(f"backup of the {current} failed: {err} (nothing was written)") from None
        counts = {c: {"objects": len(d["objects"]), "helm_releases": len(d["releases"])} for c, d in clusters.items()}
        result.update(clusters=counts, skipped=skipped)
        if not any(c["objects"] or c["helm_releases"] for c in counts.values()):
            result["msg"] = "nothing to back up: no KOF configuration found (KOF is not installed)"
            return
        created = datetime.datetime.now(datetime.timezone.utc)
        meta = {"created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "kof_version": args["kof_version"],
                "management_api": mgmt.host, "kinds": kinds, "skipped": skipped}
        manifest, files = backup.build(clusters, secrets_plain, meta)
        result["digest"] = manifest["digest"]
        result["secrets"] = {"included": vault is not None,
                             "references": len(manifest["secrets"]["references"])}
        try:
            latest = backup.newest_archive(dest)
            if latest and not args["force"] and backup.read_manifest(latest).get("digest") == manifest["digest"]:
                result.update(archive=latest, msg=f"unchanged since the last backup {latest}")
                return
        except backup.BackupError as err:
            self.warn(f"ignoring the latest archive for comparison: {err}")
        path = os.path.join(dest, f"{backup.PREFIX}{created.strftime('%Y%m%dT%H%M%SZ')}.tar.gz")
        result.update(changed=True, archive=path, msg=f"backup written to {path}")
        if self.check_mode:
            result["msg"] = f"a backup would be written to {path}"
            return
        vault_text = None
        if vault:
            vault_id, secret = vault
            plain = yaml.safe_dump(backup.plain(secrets_plain), sort_keys=True, default_flow_style=False)
            vault_text = VaultLib().encrypt(plain, secret=secret, vault_id=vault_id)
        backup.write_archive(path, manifest, files, vault_text)

    def _vault(self, args):
        """The vault secret to encrypt with: from ansible-playbook --vault-id / --vault-password-file (or an AWX
        Vault credential). Checked before any request, so a missing password changes and writes nothing."""
        secrets = self.vault_secrets()
        if args.get("vault_id"):
            secrets = [s for s in secrets if s[0] == args["vault_id"]]
        if not secrets:
            raise AnsibleError(
                "kof_backup_include_secrets is true but no vault password is available"
                + (f" for vault id {args['vault_id']}" if args.get("vault_id") else "")
                + ": run ansible-playbook with --vault-password-file or --vault-id (in AWX: attach a Vault "
                  "credential), or set kof_backup_include_secrets=false to keep Secrets as references only")
        return match_encrypt_secret(secrets, args.get("vault_id"))
