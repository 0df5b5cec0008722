# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: restore
short_description: Restore the objects of a KOF backup archive, idempotently
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). Puts the objects of an archive written by M(k0rdent.kof.backup) back
    on the management cluster and on each regional cluster (through its C(<name>-kubeconfig) Secret).
  - Each object is read first and written only when it differs (server-side apply, field manager
    C(k0rdent.kof.restore)) - or, with O(mode=missing), only when it does not exist. A second restore sends no
    write request.
  - Objects a helm release renders (annotation C(meta.helm.sh/release-name)) are skipped unless O(helm_owned) -
    re-installing the release brings them back. The releases' backed-up values are compared with the deployed
    ones and differences are reported as warnings (a restore does not run helm).
  - With O(secrets), the archive's vault-encrypted Secrets are decrypted with the run's vault password and
    applied first; their values never appear in results or diffs.
  - Everything that can be checked before touching a cluster (archive format, clusters, vault password) is.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
  - k0rdent.kof.cluster_namespaces
options:
  archive:
    description: Path of a C(kof-backup-*.tar.gz) archive.
    type: path
    required: true
  clusters:
    description: Clusters of the archive to restore (C(management) and regional cluster names); all by default.
    type: list
    elements: str
    default: []
  mode:
    description: V(apply) makes each backed-up object match the backup; V(missing) only re-creates objects that do not exist.
    type: str
    choices: [apply, missing]
    default: apply
  helm_owned:
    description: Also restore objects rendered by a helm release.
    type: bool
    default: false
  secrets:
    description: Restore the archive's Secrets (needs an archive taken with C(include_secrets) and the vault password).
    type: bool
    default: false
  kcm_namespace:
    description: Namespace of the regional clusters' kubeconfig Secrets.
    type: str
    default: kcm-system
  max_diffs:
    description: At most this many object diffs are returned in diff mode.
    type: int
    default: 20
attributes:
  check_mode:
    support: full
    details: Server-side dry run of every write.
  diff_mode:
    support: full
    details: Up to O(max_diffs) objects; Secret values masked.
  action:
    support: full
"""

EXAMPLES = r"""
- name: Restore the newest backup
  k0rdent.kof.restore:
    archive: "{{ query('ansible.builtin.fileglob', '/var/backups/kof/kof-backup-*.tar.gz') | sort | last }}"
  run_once: true
"""

RETURN = r"""
clusters:
  description: Per cluster, objects created, updated, unchanged, skipped and failed.
  returned: always
  type: dict
failures:
  description: Objects that could not be restored, with the reason.
  returned: on failure
  type: list
  elements: str
archive:
  description: The archive restored.
  returned: success
  type: str
created:
  description: When the archive was taken.
  returned: success
  type: str
"""
