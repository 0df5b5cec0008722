# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The connection options of every k0rdent.kof module, action plugin and the inventory plugin: exactly
kubernetes.core's (6.2.0) names, types, aliases and K8S_AUTH_* environment variables, so one AWX credential and
one module_defaults block serve both collections. Implemented once, in module_utils/kube.py."""
from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the management cluster's kubeconfig (several joined by C(:) are merged, as in E(KUBECONFIG)), or
        the kubeconfig as a mapping. Defaults to E(K8S_AUTH_KUBECONFIG). Without it and without a host with whole
        credentials, the in-cluster configuration is tried, then E(KUBECONFIG) and C(~/.kube/config), as in
        kubernetes.core.
      - Not loaded at all when O(host) comes with O(api_key), O(username) and O(password), or O(client_cert) and
        O(client_key).
      - "Paths are read on the controller (the collection's plays run with C(connection: local))."
    type: raw
  context:
    description: Kubeconfig context. Defaults to E(K8S_AUTH_CONTEXT), then the kubeconfig's current context.
    type: str
  host:
    description: API server URL; overrides the kubeconfig's server. Defaults to E(K8S_AUTH_HOST).
    type: str
  api_key:
    description: Bearer token. Defaults to E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for HTTP basic authentication (sent only with O(password), and only when no O(api_key) is
        given). Defaults to E(K8S_AUTH_USERNAME). Kubernetes 1.19 and later have no basic authentication; use a
        token or a client certificate.
    type: str
  password:
    description: Password for O(username). Defaults to E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Verify the API server certificate. Defaults to E(K8S_AUTH_VALIDATE_CERTS), then E(K8S_AUTH_VERIFY_SSL),
        then the kubeconfig, then true. The controller-side plugins apply it to the workload clusters reached
        through their kubeconfig Secrets too. Turning it off prints a warning; only for test clusters.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: CA bundle of the API server. Defaults to E(K8S_AUTH_CA_CERT), then E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description: Client certificate. Defaults to E(K8S_AUTH_CLIENT_CERT), then E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description: Key of O(client_cert). Defaults to E(K8S_AUTH_CLIENT_KEY), then E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP(S) proxy to reach the API server through. Defaults to E(K8S_AUTH_PROXY), then the
        kubernetes library's reading of E(HTTPS_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains, IPs or CIDRs reached without O(proxy). Defaults to E(K8S_AUTH_NO_PROXY),
        then E(NO_PROXY).
    type: str
  proxy_headers:
    description: Headers sent to O(proxy) (urllib3's make_headers).
    type: dict
    suboptions:
      proxy_basic_auth:
        description: C(user:password) for the proxy's basic authentication. Defaults to E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description: C(user:password) for a basic authentication header. Defaults to E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description: User-Agent header. Defaults to E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Write refreshed tokens of the kubeconfig's auth provider back to the kubeconfig file. Defaults to
        E(K8S_AUTH_PERSIST_CONFIG), then false.
    type: bool
  impersonate_user:
    description:
      - User to act as (C(Impersonate-User)); the credentials must be allowed to impersonate. Only for the
        management cluster, not the workload clusters reached through their kubeconfig Secrets. Defaults to
        E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to act as (one C(Impersonate-Group) header each). Defaults to E(K8S_AUTH_IMPERSONATE_GROUPS), a
        comma-separated list.
    type: list
    elements: str
notes:
  - The connection options are kubernetes.core's, with the same environment variables; one C(module_defaults)
    block (C(group/k0rdent.kof.kof)) can serve both collections. An empty environment variable counts as unset.
  - M(k0rdent.kof.helm_release) passes them to helm's flags and refuses those helm has no flag for.
"""
