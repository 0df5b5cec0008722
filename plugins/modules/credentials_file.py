# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: credentials_file
short_description: Copy keys of a Secret into a private (0600) file on the controller
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). Reads a Secret of the management cluster and writes the requested
    keys, decoded, to O(dest) with mode C(0600) (its directory is created C(0700)), atomically.
  - The values never become task variables, results or log lines, at any verbosity; diff mode only says the
    credentials changed. The guide's "Access to Grafana" step 1 (C(kubectl get secret ... | yq ... @base64d))
    without printing the password.
  - Idempotent - the file is rewritten only when its content or mode differs.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  secret:
    description: Name of the Secret.
    type: str
    required: true
  namespace:
    description: Namespace of the Secret.
    type: str
    required: true
  keys:
    description: "Output name -> Secret key, for example C({user: GF_SECURITY_ADMIN_USER})."
    type: dict
    required: true
  dest:
    description: File to write (C(~) is expanded).
    type: path
    required: true
  format:
    description: V(yaml) (one C(name) per line with its value), V(json), or V(env) (C(NAME="value") lines).
    type: str
    choices: [yaml, json, env]
    default: yaml
attributes:
  check_mode:
    support: full
    details: Reads the Secret, writes nothing, reports whether the file would change.
  diff_mode:
    support: partial
    details: Reports that the credentials file changes, never its content.
  action:
    support: full
"""

EXAMPLES = r"""
- name: Grafana admin credentials into a private file
  k0rdent.kof.credentials_file:
    secret: grafana-admin-credentials
    namespace: kof
    keys:
      user: GF_SECURITY_ADMIN_USER
      password: GF_SECURITY_ADMIN_PASSWORD
    dest: ~/.kof/grafana-admin.yml
"""

RETURN = r"""
dest:
  description: The file written.
  returned: success
  type: str
keys:
  description: The output names written (never the values).
  returned: success
  type: list
  elements: str
"""
