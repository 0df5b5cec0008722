#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: grafana_datasource
short_description: Manage a grafana-operator GrafanaDatasource, with credentials only by Secret reference
version_added: 0.1.0
description:
  - Creates, updates or deletes a C(GrafanaDatasource) (C(grafana.integreatly.org/v1beta1)) for the central
    Grafana of KOF.
  - Given only O(cluster_name) and O(regional_domain) it builds the guide's logs datasource - name
    C(<cluster>-logs), datasource name C(<cluster>), URL C(https://vmauth.<domain>/vls), type
    C(victoriametrics-logs-datasource), access C(proxy), not default, basic auth from Secret
    C(storage-vmuser-credentials), instance selector C(dashboards=grafana), resync period C(5m).
  - Credentials are never literal - O(basic_auth) renders C(valuesFrom) Secret references with the
    C(${<key>}) placeholders the operator expands (the Secret must be in the datasource's namespace).
  - Labels the object C(app.kubernetes.io/managed-by=k0rdent.kof) (the guide's C(Helm) value would be untrue).
  - Applies with server-side apply only when the live object differs.
author:
  - k0rdent.kof maintainers
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  cluster_name:
    description: Regional cluster name; default for O(name) (C(<cluster>-logs)) and O(datasource_name).
    type: str
  regional_domain:
    description: Regional cluster's DNS domain; derives O(url) as C(https://vmauth.<domain>/vls).
    type: str
  name:
    description: Object name.
    type: str
  namespace:
    description: Namespace (with the Grafana instance and the credentials Secret).
    type: str
    default: kof
  datasource_name:
    description: Datasource name shown in Grafana.
    type: str
  type:
    description: Datasource type.
    type: str
    choices: [victoriametrics-logs-datasource, prometheus, victoriametrics-metrics-datasource, loki, jaeger, alertmanager]
    default: victoriametrics-logs-datasource
  url:
    description: Datasource URL.
    type: str
  access:
    description: Grafana access mode.
    type: str
    choices: [proxy, direct]
    default: proxy
  is_default:
    description: Make it Grafana's default datasource.
    type: bool
    default: false
  json_data:
    description: C(jsonData) settings (no secrets - use O(basic_auth)).
    type: dict
  basic_auth:
    description:
      - Basic auth from a Secret in O(namespace). Defaults to C(storage-vmuser-credentials) when O(cluster_name)
        is given; set O(basic_auth.secret_name) empty for none.
    type: dict
    suboptions:
      secret_name:
        description: Secret name.
        type: str
        default: storage-vmuser-credentials
      username_key:
        description: Key of the user name.
        type: str
        default: username
      password_key:
        description: Key of the password.
        type: str
        default: password
  missing_secret:
    description: When the referenced Secret does not exist - V(fail) (before any write), V(warn) or V(ignore).
    type: str
    choices: [fail, warn, ignore]
    default: warn
  instance_selector:
    description: Labels of the Grafana instances (C(instanceSelector.matchLabels)).
    type: dict
    default: {dashboards: grafana}
  resync_period:
    description: How often the operator re-applies it (Go duration).
    type: str
    default: 5m
  allow_cross_namespace_import:
    description: Allow Grafana instances of other namespaces to import it.
    type: bool
    default: false
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
      - Wait until grafana-operator applied it to a matching instance - a C(DatasourceSynchronized=True)
        condition for the current generation and C(NoMatchingInstances) false. With O(state=absent), until gone.
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
  diff_mode:
    support: full
seealso:
  - module: k0rdent.kof.grafana_datasource_info
  - module: k0rdent.kof.promxy_server_group
"""

EXAMPLES = r"""
- name: The regional cluster's logs in the central Grafana, as in the guide
  k0rdent.kof.grafana_datasource:
    cluster_name: cloud1-region1
    regional_domain: cloud1-region1.kof.example.com
    wait: true

- name: A metrics datasource with TLS settings
  k0rdent.kof.grafana_datasource:
    name: region1-metrics
    datasource_name: region1 metrics
    type: prometheus
    url: https://vmauth.region1.example.com/vm/select/0/prometheus
    json_data: {timeInterval: 30s}
    basic_auth: {secret_name: storage-vmuser-credentials}
"""

RETURN = r"""
result:
  description: The object as the API returned it.
  returned: always
  type: dict
method:
  description: V(create), V(update), V(delete) or V(none).
  returned: always
  type: str
api_version:
  description: API version used.
  returned: always
  type: str
observed:
  description: The synchronized condition, when O(wait).
  returned: when wait and state=present
  type: dict
api_requests:
  description: API requests the module sent.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import DATASOURCE_TYPES, grafana_datasource


def argument_spec():
    spec = kof_module.auth_argument_spec()
    spec.update(kof_module.wait_argument_spec())
    spec.update(
        cluster_name=dict(type="str"),
        regional_domain=dict(type="str"),
        name=dict(type="str"),
        namespace=dict(type="str", default="kof"),
        datasource_name=dict(type="str"),
        type=dict(type="str", choices=list(DATASOURCE_TYPES), default="victoriametrics-logs-datasource"),
        url=dict(type="str"),
        access=dict(type="str", choices=["proxy", "direct"], default="proxy"),
        is_default=dict(type="bool", default=False),
        json_data=dict(type="dict"),
        basic_auth=dict(type="dict", options=dict(
            secret_name=dict(type="str", default="storage-vmuser-credentials", no_log=False),
            username_key=dict(type="str", default="username", no_log=False),
            password_key=dict(type="str", default="password", no_log=False))),
        missing_secret=dict(type="str", choices=["fail", "warn", "ignore"], default="warn"),
        instance_selector=dict(type="dict", default={"dashboards": "grafana"}),
        resync_period=dict(type="str", default="5m"),
        allow_cross_namespace_import=dict(type="bool", default=False),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    return spec


def synchronized(kube, obj):
    """grafana-operator applied the current generation to at least one instance."""
    from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path
    live = kube.get(object_path(obj["apiVersion"], "grafanadatasources", obj["metadata"]["namespace"],
                                obj["metadata"]["name"]))
    if not live:
        return False
    st = live.get("status") or {}
    gen = live["metadata"].get("generation", 1)
    cond = next((c for c in st.get("conditions") or [] if c.get("type") == "DatasourceSynchronized"), None)
    if st.get("NoMatchingInstances") is False and cond and cond.get("status") == "True" and \
            cond.get("observedGeneration", gen) >= gen:
        return cond
    return False


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_one_of=[("name", "cluster_name")])
    kof_module.run(module, grafana_datasource, observe=synchronized)


if __name__ == "__main__":
    main()
