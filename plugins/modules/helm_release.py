# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: helm_release
short_description: Install, upgrade or uninstall a helm release with helm 3 or helm 4
version_added: 0.1.0
description:
  - Manages a helm release through the C(helm) binary, whichever of helm 3 and helm 4 it is (kubernetes.core.helm
    6.2 builds helm-3-only command lines, which helm 4 rejects).
  - Runs on the controller (action plugin), which runs helm; helm and the connection settings see the controller's
    environment with the task's C(environment) over it (C(K8S_AUTH_*) variables included).
  - Idempotent without the helm-diff plugin - it compares the deployed release (status, chart name and version,
    and the user-supplied values from C(helm get values)) with the request, and runs C(helm upgrade --install)
    only when they differ or the release is not C(deployed).
  - Values are declarative - every upgrade passes C(--reset-values), so a key removed from O(values) is removed
    from the release. Values travel in a 0600 temporary file, never on the command line.
  - Check mode runs nothing that changes the cluster; diff mode shows the deployed and requested chart and values,
    with O(hidden_values) masked.
  - The connection options are the collection's (kubernetes.core's), passed to helm's global flags - O(kubeconfig)
    as C(--kubeconfig) (a mapping is written to a private temporary file), O(context) C(--kube-context), O(host)
    C(--kube-apiserver), O(api_key) C(--kube-token), O(ca_cert) C(--kube-ca-file), O(validate_certs=false)
    C(--kube-insecure-skip-tls-verify), O(impersonate_user) C(--kube-as-user), O(impersonate_groups)
    C(--kube-as-group); O(proxy) and O(no_proxy) become the C(HTTPS_PROXY), C(HTTP_PROXY) and C(NO_PROXY)
    environment of helm (which then also uses them for the chart repository).
  - Helm has no flag for O(username), O(password), O(client_cert), O(client_key) or O(proxy_headers), and always
    writes refreshed auth-provider tokens back (O(persist_config=false) cannot be honoured) - the module refuses
    them, from the task or the environment, before running helm; put such credentials in a kubeconfig.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - k0rdent.kof.kube_connection
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - k0rdent.kof.action_plugin
options:
  release_name:
    description: Release name.
    type: str
    required: true
    aliases: [name]
  release_namespace:
    description: Release namespace.
    type: str
    required: true
    aliases: [namespace]
  chart_ref:
    description:
      - Chart reference - an OCI reference (C(oci://ghcr.io/k0rdent/kof/charts/kof-mothership)), C(repo/chart),
        or a local chart directory. Required with O(state=present).
    type: str
  chart_version:
    description:
      - Chart version (no C(v) prefix). With a local directory the version is read from its C(Chart.yaml).
      - With a repository reference and no version, only values decide whether to upgrade.
    type: str
  values:
    description: Values (merged over O(values_files)).
    type: dict
    default: {}
  values_files:
    description: Values files on the controller, merged in order before O(values).
    type: list
    elements: path
    default: []
  hidden_values:
    description: Dotted paths of values to mask in the diff and in the returned values (for example C(grafana.password)).
    type: list
    elements: str
    default: []
  create_namespace:
    description: Create the release namespace if it does not exist.
    type: bool
    default: false
  state:
    description: V(present) installs or upgrades; V(absent) uninstalls.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait until the release's resources are ready (or deleted).
    type: bool
    default: true
  wait_timeout:
    description: Go duration helm waits for (C(--timeout)).
    type: str
    default: 10m
  atomic:
    description: Roll back on failure (C(--atomic) with helm 3, C(--rollback-on-failure) with helm 4).
    type: bool
    default: false
  take_ownership:
    description: Adopt existing resources that helm did not create (C(--take-ownership)).
    type: bool
    default: false
  server_side:
    description: Helm 4 only - server-side apply V(true), V(false) or V(auto). Fails with helm 3.
    type: str
    choices: ["true", "false", auto]
  skip_crds:
    description: Do not install the chart's CRDs.
    type: bool
    default: false
  cascade:
    description: Deletion cascade on uninstall (the guide uninstalls KOF with V(foreground)).
    type: str
    choices: [foreground, background, orphan]
    default: foreground
  plain_http:
    description: Use plain HTTP for the OCI registry (test registries only).
    type: bool
    default: false
  insecure_skip_tls_verify:
    description: Skip TLS verification of the chart repository (test registries only; a warning is printed).
    type: bool
    default: false
  retries:
    description:
      - How many times a helm command that failed transiently (API server 5xx or 429, a dropped or reset
        connection, a conflict) is run again, with exponential back-off (1 s, 2 s, 4 s... at most 16 s).
        Other failures (a bad chart, invalid values, a timeout waiting for resources) are not retried.
    type: int
    default: 3
  binary_path:
    description: The helm binary (helm 3 or 4).
    type: path
    default: helm
attributes:
  action_group:
    support: full
    membership: [k0rdent.kof.kof]
  check_mode:
    support: full
  diff_mode:
    support: full
  action:
    support: full
notes:
  - Without a chart version, a newer chart in the repository is not detected; pin O(chart_version).
  - Drift of the live objects is not detected (as helm itself, without the helm-diff plugin).
"""

EXAMPLES = r"""
- name: Install kof-operators
  k0rdent.kof.helm_release:
    release_name: kof-operators
    release_namespace: kof
    chart_ref: oci://ghcr.io/k0rdent/kof/charts/kof-operators
    chart_version: 0.1.1
    create_namespace: true

- name: Install kof-mothership with the guide's values, with helm 4
  k0rdent.kof.helm_release:
    release_name: kof-mothership
    release_namespace: kof
    chart_ref: oci://ghcr.io/k0rdent/kof/charts/kof-mothership
    chart_version: 0.1.1
    values:
      kcm:
        installTemplates: true
    binary_path: /usr/local/bin/helm4

- name: Uninstall as the guide does
  k0rdent.kof.helm_release:
    release_name: kof-mothership
    release_namespace: kof
    state: absent
    cascade: foreground
"""

RETURN = r"""
status:
  description: C(helm status -o json) of the release after the run (name, namespace, version, info.status, chart...).
  returned: when the release exists
  type: dict
values:
  description: The user-supplied values of the release, with O(hidden_values) masked.
  returned: when state is present
  type: dict
helm_version:
  description: Version of the helm binary used.
  returned: always
  type: str
retried:
  description: How many helm commands were run again after a transient failure (0 when none failed).
  returned: always
  type: int
command:
  description: The helm command run, if any (values are in a file; tokens are masked).
  returned: when a command ran
  type: str
"""
