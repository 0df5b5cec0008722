# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Connection options of the collection's controller-side plugins (module_utils/kube.py), the same names and
K8S_AUTH_* environment variables as kubernetes.core's, so one AWX credential and one module_defaults block serve
both. The resource modules use kubernetes.core.k8s_auth_options itself."""
from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the management cluster's kubeconfig, or the kubeconfig as a mapping. Defaults to
        E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG) and C(~/.kube/config), as in kubernetes.core.
    type: raw
  context:
    description: Kubeconfig context. Defaults to E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description: API server URL. Defaults to E(K8S_AUTH_HOST).
    type: str
  api_key:
    description: Bearer token. Defaults to E(K8S_AUTH_API_KEY).
    type: str
  validate_certs:
    description:
      - Verify the API server certificates - the management cluster's, and the workload clusters' reached through
        their kubeconfig Secrets. Defaults to E(K8S_AUTH_VERIFY_SSL), then true. Turning it off prints a warning;
        only for test clusters.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: CA bundle of the management cluster's API server. Defaults to E(K8S_AUTH_SSL_CA_CERT).
    type: path
  client_cert:
    description: Client certificate. Defaults to E(K8S_AUTH_CERT_FILE).
    type: path
  client_key:
    description: Client key. Defaults to E(K8S_AUTH_KEY_FILE).
    type: path
  proxy:
    description: HTTP(S) proxy URL. Defaults to E(K8S_AUTH_PROXY).
    type: str
"""
