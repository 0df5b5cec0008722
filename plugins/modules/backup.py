# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup
short_description: Back up KOF's configuration from the management and regional clusters into an archive
version_added: 0.1.0
description:
  - Runs on the controller (action plugin); read-only on every cluster. The guide's "Backup Requirements" -
    Grafana configurations, alert definitions, custom dashboards, retention policies.
  - Exports, from the management cluster and from each regional cluster of O(regional) (reached through its
    C(<name>-kubeconfig) Secret), every object of O(kinds) in all namespaces (Grafana, GrafanaFolder,
    GrafanaDatasource, GrafanaDashboard, Grafana alerting, VMRule, VMAlertmanager(Config), VMAlert, VMCluster,
    VMSingle, PrometheusRule by default) stripped of server fields, plus the chart, version and user-supplied
    values of the helm releases in O(namespace) (credential-looking values are redacted) and a summary of every
    C(retentionPeriod).
  - Writes C(<dest>/kof-backup-<UTC timestamp>.tar.gz) (mode 0600) with a C(manifest.yaml). When nothing changed
    since the newest archive in O(dest) (same content digest), nothing is written and the task reports
    C(changed=false); O(force) writes anyway.
  - Secrets are referenced (cluster, namespace, name, key names, who refers to them), not exported. With
    O(include_secrets) they are exported into C(secrets.vault), encrypted with the run's ansible-vault password;
    without one the task fails before any request.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
  - k0rdent.kof.cluster_namespaces
options:
  regional:
    description: Regional clusters to back up; one that has no ClusterDeployment is reported in RV(skipped).
    type: list
    elements: str
    default: []
  management:
    description: Back up the management cluster.
    type: bool
    default: true
  dest:
    description: Directory of the archives (created 0700).
    type: path
    required: true
  namespace:
    description: Namespace of the KOF helm releases (on every cluster).
    type: str
    default: kof
  kcm_namespace:
    description: Namespace of the ClusterDeployments and their kubeconfig Secrets.
    type: str
    default: kcm-system
  kcm_api_version:
    description: API version of ClusterDeployment.
    type: str
    default: k0rdent.mirantis.com/v1alpha1
  kinds:
    description: Kinds to export, as C(<group>/<version>/<Kind>), in restore order. Kinds a cluster does not serve are skipped.
    type: list
    elements: str
    default:
      - grafana.integreatly.org/v1beta1/Grafana
      - grafana.integreatly.org/v1beta1/GrafanaFolder
      - grafana.integreatly.org/v1beta1/GrafanaDatasource
      - grafana.integreatly.org/v1beta1/GrafanaDashboard
      - grafana.integreatly.org/v1beta1/GrafanaContactPoint
      - grafana.integreatly.org/v1beta1/GrafanaNotificationPolicy
      - grafana.integreatly.org/v1beta1/GrafanaAlertRuleGroup
      - operator.victoriametrics.com/v1beta1/VMRule
      - operator.victoriametrics.com/v1beta1/VMAlertmanagerConfig
      - operator.victoriametrics.com/v1beta1/VMAlertmanager
      - operator.victoriametrics.com/v1beta1/VMAlert
      - operator.victoriametrics.com/v1beta1/VMCluster
      - operator.victoriametrics.com/v1beta1/VMSingle
      - monitoring.coreos.com/v1/PrometheusRule
  extra_kinds:
    description: More kinds to export, after O(kinds).
    type: list
    elements: str
    default: []
  secrets:
    description: Secrets of the management cluster (C(<namespace>/<name>)) to reference even when no exported object names them.
    type: list
    elements: str
    default: []
  include_secrets:
    description: Export the referenced Secrets, ansible-vault encrypted (needs C(--vault-id) / C(--vault-password-file) or an AWX Vault credential).
    type: bool
    default: false
  vault_id:
    description: Vault id to encrypt with (default - the first vault secret of the run).
    type: str
  force:
    description: Write an archive even when nothing changed since the newest one.
    type: bool
    default: false
  kof_version:
    description: KOF version recorded in the manifest.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: Reads everything, writes no archive, reports whether one would be written.
  diff_mode:
    support: none
  action:
    support: full
"""

EXAMPLES = r"""
- name: Back up the management cluster and two regions
  k0rdent.kof.backup:
    regional: [cloud1-region1, cloud1-region2]
    dest: /var/backups/kof
  run_once: true
"""

RETURN = r"""
archive:
  description: The archive written (or, when unchanged, the newest existing one).
  returned: when there is something to back up
  type: str
digest:
  description: Content digest (sha256) recorded in the manifest.
  returned: when there is something to back up
  type: str
clusters:
  description: Per cluster, the number of objects and helm releases exported.
  returned: success
  type: dict
skipped:
  description: Regional clusters not backed up, with the reason.
  returned: success
  type: dict
secrets:
  description: Whether Secrets were included, and how many are referenced.
  returned: when there is something to back up
  type: dict
"""
