#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: promxy_server_group
short_description: Manage a KOF PromxyServerGroup, so promxy aggregates a regional cluster's metrics
version_added: 0.1.0
description:
  - Creates, updates or deletes the C(PromxyServerGroup) that registers a regional cluster's VictoriaMetrics with
    the management cluster's promxy (the KOF install guide's "Regional Cluster", step 3). The promxy-operator
    renders every group labelled for O(promxy_secret) into that Secret's C(config.yaml) and reloads promxy.
  - Given only O(cluster_name) and O(regional_domain) it builds the guide's object - name C(<cluster>-metrics)
    in namespace C(kof), target C(vmauth.<domain>:443), path prefix C(/vm/select/0/prometheus/), C(https), dial
    timeout C(5s), basic auth from Secret C(storage-vmuser-credentials) keys C(username)/C(password), label
    C(k0rdent.mirantis.com/promxy-secret-name=kof-mothership-promxy-config) - except that
    O(insecure_skip_verify) defaults to V(false) (the guide sets it to true).
  - KOF-version aware through O(kof_version) - 0.1 to 0.3 use C(kof.k0rdent.mirantis.com/v1alpha1) and the label
    C(k0rdent.mirantis.com/promxy-secret-name); 1.0 to 1.7 C(v1beta1) with the same label; 1.8 and later
    C(v1beta1) with C(k0rdent.mirantis.com/secret-name).
  - Applies with server-side apply (field manager C(k0rdent.kof)) only when the live object differs, so a re-run
    sends one GET and no write; a field or label removed from the task is removed from the object.
  - Credentials are referenced by Secret name and keys only; the module never returns their values.
  - There is no TLS CA option - the PromxyServerGroup API (every KOF version) has only
    C(tls_config.insecure_skip_verify), and promxy verifies the targets against its system trust store. Give the
    regional endpoints publicly trusted certificates (the guide's cert-manager + Let's Encrypt) rather than
    turning verification off.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - k0rdent.kof.kube_connection
  - k0rdent.kof.kof_resource
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  cluster_name:
    description:
      - Regional cluster name (C(spec.cluster_name)); promxy labels the cluster's series C(promxyCluster=<name>).
      - A DNS-1123 label (lowercase, at most 63 characters).
    type: str
    required: true
  regional_domain:
    description: The regional cluster's DNS domain; derives O(targets) as C(vmauth.<regional_domain>:443).
    type: str
  name:
    description: Object name. Defaults to C(<cluster_name>-metrics).
    type: str
  namespace:
    description:
      - Namespace of the object. The KOF 0.1.x promxy-operator renders only the groups of its own namespace and
        reads the credentials Secret and writes O(promxy_secret) there.
    type: str
    default: kof
  targets:
    description:
      - C(host:port) of the regional metrics endpoint(s). Defaults to C(vmauth.<regional_domain>:443).
    type: list
    elements: str
  path_prefix:
    description:
      - Path of the Prometheus query API on the targets (C(/select/0/prometheus) for an in-cluster vmselect).
    type: str
    default: /vm/select/0/prometheus/
  scheme:
    description: Scheme of the targets.
    type: str
    choices: [http, https]
    default: https
  dial_timeout:
    description: Connection timeout of promxy to the targets (a Go duration such as C(5s) or C(1m30s)).
    type: str
    default: 5s
  insecure_skip_verify:
    description:
      - Make promxy skip TLS verification of the targets. Only for test endpoints; a warning is printed.
      - The KOF 1.x template renders it only for groups with basic auth.
    type: bool
    default: false
  basic_auth:
    description:
      - Basic auth from a Secret in O(namespace), by reference (the operator copies the values into the promxy
        config; this module never reads them).
      - The KOF 0.1.x promxy-operator requires it. From 0.2 on, set O(basic_auth.secret_name) to an empty string
        to send no credentials.
    type: dict
    default: {}
    suboptions:
      secret_name:
        description: Name of the Secret.
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
  promxy_secret:
    description:
      - The promxy config Secret the operator renders this group into - the value of the label the operator keys
        on. It is C(<kof-mothership release name>-promxy-config).
    type: str
    default: kof-mothership-promxy-config
  kof_version:
    description:
      - The KOF version installed on the management cluster; selects the API version and the label key (see the
        description). Sends no discovery request.
    type: str
    default: 0.1.1
  wait:
    description:
      - Wait until the operator rendered the group. A PromxyServerGroup has no status, so this reads the
        O(promxy_secret) Secret in O(namespace) and waits for a server group labelled
        C(promxyCluster=<cluster_name>) with the object's current targets, path prefix and scheme (so a wait after
        an update does not return on the previous render). The Secret holds every region's credentials; they
        are parsed in memory and never returned.
      - With O(state=absent), wait until the object is gone (the 0.1.x operator does not re-render the config when
        the last group is removed, so the config is not awaited).
      - Never waits in check mode.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - A server-side dry run of the apply or delete. When the CRD is not served yet (a check run before
        kof-mothership is installed) it predicts a create and warns.
  diff_mode:
    support: full
    details: Shows the object before and after (server-managed fields left out); it holds no secret value.
  platform:
    platforms: posix
  action_group:
    support: full
    membership: [k0rdent.kof.kof]
notes:
  - Sends no discovery request (the REST path follows from O(kof_version)). A run that changes nothing sends one
    GET; a create or update sends a GET, the Secret check (see O(missing_secret)) and one server-side apply.
  - From KOF 0.2 the kof-operator creates C(<cluster>-metrics) groups itself for ClusterDeployments labelled
    C(k0rdent.mirantis.com/kof-cluster-role=regional); this module is for the 0.1.x manual flow or for groups the
    operator does not create. It applies with C(force), so it takes over fields another manager set.
seealso:
  - module: k0rdent.kof.promxy_server_group_info
  - module: k0rdent.kof.grafana_datasource
"""

EXAMPLES = r"""
- name: Register the regional cluster's metrics with promxy, as in the install guide
  k0rdent.kof.promxy_server_group:
    cluster_name: cloud1-region1
    regional_domain: cloud1-region1.kof.example.com

- name: Explicit targets on KOF 1.8, waiting for the operator to render the group
  k0rdent.kof.promxy_server_group:
    cluster_name: cloud1-region2
    targets: ["vmauth.region2.example.com:443"]
    kof_version: 1.8.0
    wait: true
    wait_timeout: 300

- name: All modules of the collection through one kubeconfig
  module_defaults:
    group/k0rdent.kof.kof:
      kubeconfig: "{{ kof_kubeconfig }}"
      context: k0rdent-management
  block:
    - name: Remove the registration of a retired region
      k0rdent.kof.promxy_server_group:
        cluster_name: cloud1-region1
        regional_domain: cloud1-region1.kof.example.com
        state: absent
"""

RETURN = r"""
result:
  description:
    - The object as the API returned it after the change (in check mode, the server's dry-run answer), or the
      live object when nothing changed. Empty after a delete.
  returned: always
  type: dict
  sample:
    apiVersion: kof.k0rdent.mirantis.com/v1alpha1
    kind: PromxyServerGroup
    metadata: {name: cloud1-region1-metrics, namespace: kof}
    spec: {cluster_name: cloud1-region1, targets: ["vmauth.cloud1-region1.kof.example.com:443"]}
method:
  description: What was done - V(create), V(update), V(delete) or V(none).
  returned: always
  type: str
  sample: create
api_version:
  description: The PromxyServerGroup API version used (from O(kof_version)).
  returned: always
  type: str
  sample: kof.k0rdent.mirantis.com/v1alpha1
observed:
  description: True once the operator rendered the group (O(wait) with O(state=present)).
  returned: when O(wait) is true, O(state=present) and not in check mode
  type: bool
duration:
  description: Seconds the module spent, when it waited.
  returned: when O(wait) is true and not in check mode
  type: float
api_requests:
  description: HTTP requests the module sent to the Kubernetes API (retries included).
  returned: always
  type: int
  sample: 1
diff:
  description: Before and after, in diff mode.
  returned: when changed and in diff mode
  type: dict
"""

import base64
import binascii

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import (
    promxy_rendered, promxy_server_group, promxy_server_group_id)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False


def argument_spec():
    spec = kof_module.auth_argument_spec()
    spec.update(kof_module.wait_argument_spec())
    spec.update(kof_module.metadata_argument_spec())
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
        promxy_secret=dict(type="str", default="kof-mothership-promxy-config", no_log=False),
        kof_version=dict(type="str", default="0.1.1"),
    )
    return spec


def config_secret_name(obj):
    return next(v for k, v in obj["metadata"]["labels"].items()
                if k in ("k0rdent.mirantis.com/promxy-secret-name", "k0rdent.mirantis.com/secret-name"))


def rendered(kube, obj, before=None):  # pylint: disable=unused-argument
    """Wait probe: the operator rendered this group's current spec into the promxy config Secret."""
    ns, secret_name = obj["metadata"]["namespace"], config_secret_name(obj)
    secret = kube.get(object_path("v1", "secrets", ns, secret_name))
    if not secret:
        return False, f"Secret {ns}/{secret_name} does not exist yet", None
    try:
        text = base64.b64decode((secret.get("data") or {}).get("config.yaml", ""))
        config = yaml.safe_load(text) if text else {}
    except (binascii.Error, ValueError, yaml.YAMLError):
        return False, f"Secret {ns}/{secret_name} does not hold a readable config.yaml", None
    # only the verdict leaves this function: the config holds every region's credentials in plain text
    if promxy_rendered(obj, config if isinstance(config, dict) else {}):
        return True, "", True
    return False, ("no server group for the current spec in it yet (the 0.1.x operator renders nothing while "
                   "any group's credentials Secret is missing)"), None


def awaited(obj):
    return (f"the promxy-operator rendered {kof_module.ref(obj)} into Secret "
            f"{obj['metadata']['namespace']}/{config_secret_name(obj)}")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_YAML:
        module.fail_json(msg="PyYAML is required")
    if module.params["insecure_skip_verify"] and module.params["state"] == "present":
        module.warn("insecure_skip_verify is true: promxy will not verify the regional endpoint's certificate")
    kof_module.run(module, promxy_server_group, promxy_server_group_id, observe=rendered, awaited=awaited)


if __name__ == "__main__":
    main()
