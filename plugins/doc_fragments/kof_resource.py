# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Options shared by the k0rdent.kof resource modules (promxy_server_group, grafana_datasource)."""
from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
options:
  labels:
    description:
      - Extra labels of the object. Values must be strings.
      - Labels this module applied before and no longer lists are removed (server-side apply ownership);
        labels set by others are kept.
    type: dict
    default: {}
  annotations:
    description:
      - Annotations of the object. Values must be strings. Removed like O(labels) when no longer listed.
    type: dict
    default: {}
  missing_secret:
    description:
      - What to do when the credentials Secret the object references (O(basic_auth.secret_name)) does not exist
        in O(namespace). It is looked up only before a create or an update, so a run that changes nothing sends
        a single request.
      - V(fail) fails before anything is written; V(warn) writes the object and warns; V(ignore) does not look.
    type: str
    choices: [fail, warn, ignore]
    default: warn
  state:
    description:
      - V(present) creates the object or updates it when it differs; V(absent) deletes it. Both are idempotent.
      - V(absent) uses only what identifies the object (O(name) or O(cluster_name), O(namespace), and the
        KOF version for a PromxyServerGroup); the other options are ignored.
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description: Seconds to wait when O(wait) is true.
    type: int
    default: 120
  wait_sleep:
    description: Seconds between two checks when O(wait) is true.
    type: int
    default: 2
"""
