# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: regional_data_migration
short_description: Copy a regional cluster's stored metrics and logs into another regional cluster
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). The k0rdent docs' "Data Backup" and "Data migration to a new regional
    cluster" (admin/kof, kof-upgrade) - how KOF's data survives a move to a new regional cluster, for example from a
    KOF 0.1.1 fleet to a KOF 1.x one.
  - For each part of O(parts) - C(metrics) (VictoriaMetrics C(/api/v1/export) with O(match), into the target's
    C(/api/v1/import)) and C(logs) (VictoriaLogs C(/select/logsql/query) with O(logs_query), into the target's
    C(/insert/jsonline)) - streams the source's export into C(<dest>/kof-data-<source>-<UTC>/<part>.jsonl.gz)
    (mode 0600; the data backup the docs take first, kept), imports that file into the target, then checks the
    target over the same range (metrics exported again, log rows counted by VictoriaLogs) until it holds at least
    every series, sample and row exported (the target may hold more, such as live data), else fails within
    O(verify_timeout) seconds, keeping the file.
  - Each part done is recorded in the ConfigMap C(kof-migration-<target>) of O(namespace) on the management cluster
    (source, counts, file) - a re-run skips what was done and reports C(changed=false), so logs are not imported twice
    (VictoriaLogs would store them twice); a run that failed halfway resumes with the parts left. A target that
    holds a migration from another source is refused.
  - Endpoints of each side, merged in this order - O(source.domain) (the vmauth routes of a KOF 0.1.x or 1.x
    regional cluster), O(source.configmap) (KOF 1.x's regional ConfigMap C(kof-<regional>) made by kof-operator;
    the write endpoints lose their remote-write / OTLP suffixes), then O(source.endpoints).
  - Credentials come from a Secret of the management cluster (keys C(username), C(password)), never from the task;
    they go into the C(Authorization) header only and appear in no output. Default - KOF 0.1.x's
    C(storage-vmuser-credentials), KOF 1.x's admin VMUser Secret of the regional cluster
    (C(kof-vmuser-creds-admin-<adler32 of kof-<regional>/<cluster_namespace>>)), both in O(namespace).
  - Refused unless O(confirm) is true, before any request.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  source:
    description: The regional cluster the data is read from (read endpoints only).
    type: dict
    required: true
    suboptions: &side
      name:
        description: The regional cluster's name (ClusterDeployment / inventory host); names the files and the record.
        type: str
        required: true
      domain:
        description: Its domain, for the vmauth routes C(https://vmauth.<domain>/vm/select/0/prometheus), C(.../vm/insert/0/prometheus),
          C(.../vls) and (KOF 1.x) C(.../vli).
        type: str
        default: ""
      generation:
        description: The KOF generation it runs - the vmauth routes and the default credentials Secret follow it.
        type: str
        choices: ["0.1", "1.x"]
        default: "1.x"
      configmap:
        description: KOF 1.x's regional ConfigMap (C(<namespace>/kof-<regional>)) whose C(read_/write_metrics_endpoint) and
          C(read_/write_logs_endpoint) give the endpoints.
        type: str
        default: ""
      endpoints:
        description:
          - Explicit endpoints (override the others) - C(metrics_read) (before C(/api/v1/export)), C(metrics_write) (before
            C(/api/v1/import)), C(logs_read) (before C(/select/logsql/query)), C(logs_write) (before C(/insert/jsonline)).
        type: dict
        default: {}
      credentials_secret:
        description: C(<namespace>/<name>) of the Secret with the C(username) and C(password) keys (default above).
        type: str
        default: ""
      cluster_namespace:
        description: Namespace of its ClusterDeployment (names KOF 1.x's admin credentials Secret).
        type: str
        default: kcm-system
  target:
    description: The regional cluster the data is written to (read and write endpoints); same keys as O(source).
    type: dict
    required: true
    suboptions: *side
  parts:
    description: What to migrate.
    type: list
    elements: str
    choices: [metrics, logs]
    default: [metrics, logs]
  match:
    description: VictoriaMetrics series selectors of the metrics export (C(match[])).
    type: list
    elements: str
    default: ['{__name__!=""}']
  logs_query:
    description: LogsQL query of the logs export.
    type: str
    default: "*"
  logs_stream_fields:
    description: Fields the target files the imported rows' log streams under (C(_stream_fields) of C(/insert/jsonline));
      empty - the docs' import, one stream.
    type: list
    elements: str
    default: []
  start:
    description: Start of the exported range (RFC 3339 or Unix seconds); empty - from the first sample.
    type: str
    default: ""
  end:
    description: End of the exported range; empty - up to now. Set it to when the child clusters were moved to the
      target to keep their new data out of the copy.
    type: str
    default: ""
  dest:
    description: Directory of the data files (created 0700).
    type: path
    required: true
  namespace:
    description: Namespace of the record ConfigMap and of the default credentials Secrets on the management cluster.
    type: str
    default: kof
  endpoint_validate_certs:
    description: Verify the TLS certificates of the storage endpoints.
    type: bool
    default: true
  endpoint_ca_file:
    description: CA bundle for the storage endpoints.
    type: path
  timeout:
    description: Seconds one export or import request may take.
    type: int
    default: 3600
  verify_timeout:
    description: Seconds to wait for the target to hold everything imported.
    type: int
    default: 120
  confirm:
    description: Confirms the writes into the target's storage.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads the record, the endpoints and the credentials; exports, imports and writes nothing, and reports the
      parts it would migrate.
  diff_mode:
    support: full
    details: The record before and after (no credentials, no data).
  action:
    support: full
"""

EXAMPLES = r"""
- name: Copy the KOF 0.1.1 region's data into its KOF 1.x successor
  k0rdent.kof.regional_data_migration:
    source:
      name: aws-ue2-old
      domain: aws-ue2-old.kof.example.net
      generation: "0.1"
    target:
      name: aws-ue2
      configmap: kcm-system/kof-aws-ue2
    end: "2026-12-05T10:00:00Z"
    dest: /var/backups/kof
    confirm: true
  run_once: true
"""

RETURN = r"""
source:
  description: The source regional cluster.
  returned: always
  type: str
target:
  description: The target regional cluster.
  returned: always
  type: str
parts:
  description: The parts migrated (or, in check mode, that would be).
  returned: changed
  type: list
  elements: str
done:
  description: Every part recorded as migrated.
  returned: always
  type: list
  elements: str
record:
  description: The record - per part the exported and imported counts (series, samples, rows, time range) and the file.
  returned: always
  type: dict
folder:
  description: The directory of this run's data files.
  returned: when data was exported
  type: str
"""
