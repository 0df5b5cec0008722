# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cost_report
short_description: FinOps cost report of a KOF fleet from its own OpenCost data, read through promxy
version_added: 0.2.0
description:
  - Reads OpenCost's metrics of every child cluster through promxy in the management cluster (the API server's
    service proxy C(/api/v1/namespaces/kof/services/kof-mothership-promxy:8082/proxy), with the task's connection
    options; or O(promxy_url)), over O(period), and computes costs per cluster, region, namespace or pod label,
    split into CPU, RAM, GPU, storage (PV) and load balancers, with idle and shared costs and the change against
    the previous period of the same length. The cost model is in docs/finops.md.
  - A data-quality gate runs first. It fails the task when OpenCost series lack the cluster label (C(clusterName) for
    KOF 0.x, C(cluster) for 1.x), when a node has duplicate price or C(kube_node_labels) series, or when no pod
    carries a O(group_by) label. Inventory clusters without data for the period are listed as gaps (warnings, the
    report, O(fail_on_gap)), never counted as zero; allocations on unpriced nodes are reported.
  - Queries are bounded. The fleet is split by region, then into chunks of at most O(max_clusters) clusters. A
    chunk is split again when its label query would return more than O(max_series) series, and any answer larger
    than that fails the task.
  - Writes C(cost-report.csv), C(.json), C(.md) and C(.html) (charts as inline SVG, matplotlib) to O(report_dir),
    plus timestamped copies of which the newest O(report_keep) per format are kept. Check mode queries (reads only)
    and writes no file.
  - With O(prices), checks that every cluster's node and volume price series equal its price book.
  - With O(budgets), returns the budget alert rules (RV(budget_rules)); the role k0rdent.kof.finops applies them.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  clusters:
    description: Child cluster name -> its region (the regional cluster it writes to). The clusters reported on.
    type: dict
    required: true
  kof_version:
    description: KOF version; selects the cluster label (C(clusterName) before 1.0, C(cluster) from 1.0).
    type: str
    default: 0.1.1
  period:
    description:
      - "C({days: N}) (the last N whole UTC days), C({month: YYYY-MM|current|previous}), C({start, end}) (dates or
        RFC 3339 times on whole hours), or an int N."
    type: raw
    default: {days: 30}
  group_by:
    description: C(cluster), C(region), C(namespace) or a pod label key (C(team), C(cost-center)); a list for several.
    type: raw
    default: namespace
  idle:
    description: Idle (unallocated) cost as its own line, shared out over the cluster's groups by cost, or left out.
    type: str
    choices: [separate, share, hide]
    default: separate
  shared:
    description: C({namespaces, labels, method}) - costs spread over the other groups of the cluster, C(even) or C(weighted).
    type: dict
    default: {}
  currency:
    description: ISO 4217 code of the price book's currency (a label; nothing is converted).
    type: str
    default: USD
  retention_days:
    description: Retention of the regional storage in days (default 31 for KOF 0.x, 30 for 1.x); a longer period fails.
    type: float
  max_series:
    description: Most series one query may return.
    type: int
    default: 20000
  max_clusters:
    description: Most clusters one query covers.
    type: int
    default: 100
  opencost_job:
    description: Scrape job of OpenCost's series.
    type: str
    default: kof-collectors-opencost
  promxy_url:
    description: Read promxy at this URL instead of through the API server (a port-forward, an ingress).
    type: str
  promxy_namespace:
    description: Namespace of the promxy Service.
    type: str
    default: kof
  promxy_service:
    description: Name of the promxy Service.
    type: str
    default: kof-mothership-promxy
  promxy_port:
    description: Port of the promxy Service.
    type: int
    default: 8082
  prices:
    description: Cluster -> its price book C({cpu, ram, gpu, storage}) to check against the price series.
    type: dict
    default: {}
  budgets:
    description: C(kof_budgets); validated, and their alert rules returned.
    type: list
    elements: raw
    default: []
  report_dir:
    description: Directory of the report files; none written when unset.
    type: path
  report_keep:
    description: Timestamped reports kept per format (0 keeps only the stable C(cost-report.<ext>)).
    type: int
    default: 10
  fail_on_gap:
    description: Fail when an inventory cluster has no data for the period (after writing the report).
    type: bool
    default: false
  top:
    description: Groups shown in the play output's table (the files have all).
    type: int
    default: 25
  budgets_only:
    description:
      - Query nothing; validate O(budgets) and return their rules as RV(object) (a VMRule, KOF 0.x) or RV(values)
        (kof-mothership C(defaultAlertRules), KOF 1.x). Used by role k0rdent.kof.finops, render mode too.
    type: bool
    default: false
  rules_namespace:
    description: Namespace of the VMRule (the KOF namespace).
    type: str
    default: kof
attributes:
  check_mode:
    support: full
    details: Queries promxy (reads only) and writes no report file.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Cost per team over last month, idle shared, kube-system and kof spread by cost
  k0rdent.kof.cost_report:
    clusters: {child-1: regional-1, child-2: regional-1}
    period: {month: previous}
    group_by: team
    idle: share
    shared: {namespaces: [kube-system, kof], method: weighted}
    currency: EUR
    report_dir: ./out
"""

RETURN = r"""
totals:
  description: Totals by column (cpu, ram, gpu, pv, lb, idle, shared, total, previous, change).
  type: dict
  returned: success
rows:
  description: One row per group (and the idle / shared / no-label lines), largest first.
  type: list
  elements: dict
  returned: success
clusters:
  description: Per cluster its asset cost, allocated, idle, idle share and change; C(missing) for a gap.
  type: list
  elements: dict
  returned: success
quality:
  description: The data-quality gate (errors, warnings, missing, partial, extra, unpriced, duplicates).
  type: dict
  returned: always
stats:
  description:
    - The totals that role k0rdent.kof.finops publishes with set_stats as C(kof_cost_report) (total, currency,
      previous_total, period, idle_total, top, missing_clusters, quality_ok).
  type: dict
  returned: success
table:
  description: The report as Markdown lines.
  type: list
  elements: str
  returned: success
budget_rules:
  description: The budgets' alerting rules (alert, expr, for, labels, annotations).
  type: list
  elements: dict
  returned: when budgets are given
price_check:
  description: Per cluster and resource the book price and the min/max of the price series.
  type: dict
  returned: when prices are given
object:
  description: The budgets' VMRule C(kof-finops-budgets) (KOF 0.x; empty for 1.x).
  type: dict
  returned: with budgets_only
values:
  description: kof-mothership values C(defaultAlertRules.kof-finops-budgets) (KOF 1.x; empty for 0.x).
  type: dict
  returned: with budgets_only
report_files:
  description: Paths of the stable report files by format.
  type: dict
  returned: when report_dir is set and not in check mode
"""
