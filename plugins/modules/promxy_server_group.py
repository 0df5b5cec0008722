#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: promxy_server_group
short_description: Manage a KOF PromxyServerGroup, so promxy aggregates a regional cluster's metrics
version_added: 0.1.0
description:
  - Creates, updates or deletes the C(PromxyServerGroup) that registers a regional cluster's VictoriaMetrics with
    the management cluster's promxy (the install guide's "Regional Cluster", step 3).
  - Given only O(cluster_name) and O(regional_domain) it builds the guide's object - name C(<cluster>-metrics),
    target C(vmauth.<domain>:443), path prefix C(/vm/select/0/prometheus/), C(https), dial timeout C(5s), basic
    auth from Secret C(storage-vmuser-credentials) keys C(username)/C(password), in namespace C(kof) - except
    that O(insecure_skip_verify) defaults to V(false) (the guide sets it to true).
  - KOF-version aware (O(kof_version)) - V(0.x) uses C(kof.k0rdent.mirantis.com/v1alpha1) and the label
    C(k0rdent.mirantis.com/promxy-secret-name); 1.0-1.7 C(v1beta1) with the same label; 1.8 and later C(v1beta1)
    with C(k0rdent.mirantis.com/secret-name).
  - Applies with server-side apply (field manager C(k0rdent.kof)) only when the live object differs, so a
    re-run sends no write, and a field removed from the task is removed from the object.
  - Credentials are referenced by Secret name and keys only; the module never reads or returns their values.
author:
  - k0rdent.kof maintainers
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  cluster_name:
    description: Regional cluster name (C(spec.cluster_name); promxy labels its series C(promxyCluster=<name>)).
    type: str
    required: true
  regional_domain:
    description: Regional cluster's DNS domain; derives O(targets) as C(vmauth.<domain>:443).
    type: str
  name:
    description: Object name. Default C(<cluster_name>-metrics).
    type: str
  namespace:
    description: Namespace (the promxy-operator's, next to the credentials Secret).
    type: str
    default: kof
  targets:
    description: C(host:port) targets. Default from O(regional_domain).
    type: list
    elements: str
  path_prefix:
    description: Path prefix of the Prometheus API on the targets.
    type: str
    default: /vm/select/0/prometheus/
  scheme:
    description: Scheme of the targets.
    type: str
    choices: [http, https]
    default: https
  dial_timeout:
    description: Connection timeout (Go duration).
    type: str
    default: 5s
  insecure_skip_verify:
    description: Skip TLS verification of the targets. Only for test endpoints; a warning is printed.
    type: bool
    default: false
  basic_auth:
    description:
      - Basic auth by Secret reference (in O(namespace)). Required by the KOF 0.1.x promxy-operator.
      - Set O(basic_auth.secret_name) to an empty string to send no credentials (KOF 0.2 and later only).
    type: dict
    default: {}
    suboptions:
      secret_name:
        description: Secret name.
        type: str
        default: storage-vmuser-credentials
      username_key:
        description: Key of the user name in the Secret.
        type: str
        default: username
      password_key:
        description: Key of the password in the Secret.
        type: str
        default: password
  missing_secret:
    description: What to do when the referenced Secret does not exist - V(fail) (before any write), V(warn) or V(ignore).
    type: str
    choices: [fail, warn, ignore]
    default: warn
  promxy_secret:
    description: The promxy config Secret the operator renders into (C(<kof-mothership release>-promxy-config)), the label's value.
    type: str
    default: kof-mothership-promxy-config
  kof_version:
    description: KOF version; selects the API version and label key.
    type: str
    default: 0.1.1
  labels:
    description: Extra labels.
    type: dict
    default: {}
  annotations:
    description: Annotations.
    type: dict
    default: {}
  state:
    description: V(present) or V(absent).
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait until the object is observed. A PromxyServerGroup has no status, so "observed" means the operator
        rendered it into the O(promxy_secret) Secret (a server group labelled C(promxyCluster=<cluster_name>)).
        With O(state=absent), wait until the object is gone.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 120
  wait_sleep:
    description: Seconds between checks.
    type: int
    default: 2
attributes:
  check_mode:
    support: full
    details: Server-side dry run; when the CRD is not installed yet (a check run before kof-mothership) it predicts a create.
  diff_mode:
    support: full
notes:
  - Sends no discovery request - the REST path is known from O(kof_version).
seealso:
  - module: k0rdent.kof.promxy_server_group_info
  - module: k0rdent.kof.grafana_datasource
"""

EXAMPLES = r"""
- name: Register the regional cluster's metrics with promxy, as in the guide
  k0rdent.kof.promxy_server_group:
    cluster_name: cloud1-region1
    regional_domain: cloud1-region1.kof.example.com

- name: KOF 1.8+, explicit targets, through an AWX kubeconfig credential (K8S_AUTH_KUBECONFIG)
  k0rdent.kof.promxy_server_group:
    cluster_name: cloud1-region2
    targets: ["vmauth.r2.example.com:443"]
    kof_version: 1.8.0
    wait: true

- name: Remove it
  k0rdent.kof.promxy_server_group:
    cluster_name: cloud1-region1
    regional_domain: cloud1-region1.kof.example.com
    state: absent
"""

RETURN = r"""
result:
  description: The object as the API returned it (after the change, or the live one when unchanged).
  returned: always
  type: dict
method:
  description: What was done - V(create), V(update), V(delete) or V(none).
  returned: always
  type: str
api_version:
  description: The PromxyServerGroup API version used.
  returned: always
  type: str
observed:
  description: True when the operator rendered the group (O(wait)).
  returned: when wait and state=present
  type: bool
api_requests:
  description: API requests the module sent.
  returned: success
  type: int
"""

import base64

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import promxy_server_group
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path


def argument_spec():
    spec = kof_module.auth_argument_spec()
    spec.update(kof_module.wait_argument_spec())
    spec.update(
        cluster_name=dict(type="str", required=True),
        regional_domain=dict(type="str"),
        name=dict(type="str"),
        namespace=dict(type="str", default="kof"),
        targets=dict(type="list", elements="str"),
        path_prefix=dict(type="str", default="/vm/select/0/prometheus/"),
        scheme=dict(type="str", choices=["http", "https"], default="https"),
        dial_timeout=dict(type="str", default="5s"),
        insecure_skip_verify=dict(type="bool", default=False),
        basic_auth=dict(type="dict", default={}, options=dict(
            secret_name=dict(type="str", default="storage-vmuser-credentials", no_log=False),
            username_key=dict(type="str", default="username", no_log=False),
            password_key=dict(type="str", default="password", no_log=False))),
        missing_secret=dict(type="str", choices=["fail", "warn", "ignore"], default="warn"),
        promxy_secret=dict(type="str", default="kof-mothership-promxy-config", no_log=False),
        kof_version=dict(type="str", default="0.1.1"),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    return spec


def rendered(kube, obj):
    """The operator rendered this group: a server group labelled with the cluster in the promxy config."""
    import yaml
    label_value = next(v for k, v in obj["metadata"]["labels"].items() if k.endswith("secret-name"))
    sec = kube.get(object_path("v1", "secrets", obj["metadata"]["namespace"], label_value))
    if not sec:
        return False
    try:
        cfg = yaml.safe_load(base64.b64decode((sec.get("data") or {}).get("config.yaml", "")) or b"") or {}
    except (ValueError, yaml.YAMLError):
        return False
    groups = (cfg.get("promxy") or {}).get("server_groups") or []
    return any((g.get("labels") or {}).get("promxyCluster") == obj["spec"]["cluster_name"] for g in groups)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if module.params["insecure_skip_verify"]:
        module.warn("insecure_skip_verify is true: promxy will not verify the regional cluster's certificate")
    kof_module.run(module, promxy_server_group, observe=rendered)


if __name__ == "__main__":
    main()
