# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
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
  kubeconfig:
    description:
      - Path to the management cluster's kubeconfig, or the kubeconfig as a mapping. Defaults to
        E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG) and C(~/.kube/config), as kubernetes.core.
    type: raw
  context:
    description: Kubeconfig context (default E(K8S_AUTH_CONTEXT)).
    type: str
  host:
    description: API server URL (default E(K8S_AUTH_HOST)).
    type: str
  api_key:
    description: Bearer token (default E(K8S_AUTH_API_KEY)).
    type: str
  validate_certs:
    description:
      - Verify API server certificates (also of the regional clusters reached through their kubeconfig
        Secrets). Default E(K8S_AUTH_VERIFY_SSL), then true.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: CA bundle of the management cluster API.
    type: path
  client_cert:
    description: Client certificate.
    type: path
  client_key:
    description: Client key.
    type: path
  proxy:
    description: HTTP(S) proxy URL.
    type: str
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
