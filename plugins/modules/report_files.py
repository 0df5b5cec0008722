#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: report_files
short_description: Write a KOF report's files with retention
version_added: 0.1.0
description:
  - Writes the renderings of one report (Markdown, JSON, HTML, ...) into a directory on the controller, the way
    every report of the collection is written - the fleet report of M(k0rdent.kof.fleet_health), the cost report
    of M(k0rdent.kof.cost_report) and the DNS records report of role C(dns).
  - Each format is written twice, atomically (a reader never sees a partial file) - under the stable name
    C(<name>.<ext>), the latest, and as C(<name>-<UTC time>.<ext>); then only the newest O(keep) timestamped files
    of each format stay.
  - The task is C(changed) when the content of a stable file changes (or it is missing); an unchanged report is
    not written again, so a re-run writes nothing and the timestamped files are the report's history of changes.
    With C(--diff) it shows how the stable files change; in check mode nothing is written.
  - Runs in the controller process - no module start-up, no file transfer.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
options:
  dir:
    description: Directory of the report files, created when missing.
    type: path
    required: true
  name:
    description: The report's file name prefix (letters, digits, C(.), C(_), C(-)), for example C(dns-records).
    type: str
    required: true
  formats:
    description:
      - File extension -> the file's content; for example the keys C(md) and C(json).
      - The contents are written as given; they are not secrets (the task shows them at C(-vvv) and in C(--diff)).
    type: dict
    required: true
  keep:
    description: How many timestamped files are kept per format (the newest); C(0) keeps only the stable names.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Write the records report (Markdown and JSON)
  k0rdent.kof.report_files:
    dir: "{{ kof_report_dir }}"
    name: dns-records
    formats:
      md: "{{ lookup('ansible.builtin.template', 'dns-records.md.j2') }}"
      json: "{{ dns_report | to_nice_json(indent=2) }}"
    keep: "{{ kof_report_keep | int }}"
"""

RETURN = r"""
files:
  description: Extension -> the path of the stable file C(<dir>/<name>.<ext>).
  returned: success
  type: dict
  sample: {"md": "/srv/kof/out/dns-records.md", "json": "/srv/kof/out/dns-records.json"}
"""
