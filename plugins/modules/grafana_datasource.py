#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: grafana_datasource
short_description: Manage a grafana-operator GrafanaDatasource, with credentials only by Secret reference
version_added: 0.1.0
description:
  - Creates, updates or deletes a C(GrafanaDatasource) (C(grafana.integreatly.org/v1beta1)) of the central
    Grafana that kof-mothership runs (grafana-operator instance C(grafana-vm), labelled C(dashboards=grafana)).
  - Given only O(cluster_name) and O(regional_domain) it builds the install guide's logs datasource - object
    C(<cluster>-logs) in namespace C(kof), datasource name C(<cluster>), URL C(https://vmauth.<domain>/vls), type
    C(victoriametrics-logs-datasource), access C(proxy), not default, basic auth from Secret
    C(storage-vmuser-credentials), instance selector C(dashboards=grafana), resync period C(5m).
  - Credentials are never literal. O(basic_auth) renders C(valuesFrom) Secret key references and the
    C(${<key>}) placeholders grafana-operator expands (C(basicAuthUser), C(secureJsonData.basicAuthPassword)). The
    Secret must be in the datasource's namespace. There is no option that takes a password.
  - Labels the object C(app.kubernetes.io/managed-by=k0rdent.kof) (the guide's C(Helm) would be untrue).
  - Applies with server-side apply (field manager C(k0rdent.kof)) only when the live object differs, so a re-run
    sends one GET and no write; a field removed from the task is removed from the object.
  - Returned objects and diffs mask literal secrets that an object written by someone else may hold
    (C(secureJsonData) values other than C(${...}) placeholders).
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
      - Regional cluster name; the default of O(name) (C(<cluster_name>-logs)) and O(datasource_name), and turns
        on the default O(basic_auth).
    type: str
  regional_domain:
    description: The regional cluster's DNS domain; derives O(url) as C(https://vmauth.<regional_domain>/vls).
    type: str
  name:
    description: Object name (a DNS-1123 subdomain). Required unless O(cluster_name) is given.
    type: str
  namespace:
    description: Namespace of the object, of the Grafana instance and of the credentials Secret.
    type: str
    default: kof
  datasource_name:
    description: Datasource name shown in Grafana. Defaults to O(cluster_name), else O(name).
    type: str
  type:
    description: Datasource type (a Grafana plugin id; KOF's Grafana installs the VictoriaMetrics plugins).
    type: str
    choices: [victoriametrics-logs-datasource, prometheus, victoriametrics-metrics-datasource, loki, jaeger,
              alertmanager]
    default: victoriametrics-logs-datasource
  url:
    description:
      - Datasource URL (C(http) or C(https), no credentials in it). Defaults to
        C(https://vmauth.<regional_domain>/vls).
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
    description:
      - C(jsonData) settings, for example C(tlsSkipVerify), C(timeout) or C(timeInterval). Not secret - Grafana
        shows them; credentials go through O(basic_auth).
    type: dict
  basic_auth:
    description:
      - Basic auth from a Secret in O(namespace). Defaults to C(storage-vmuser-credentials) when O(cluster_name)
        is given; set O(basic_auth.secret_name) to an empty string for none.
    type: dict
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
  instance_selector:
    description:
      - Labels of the Grafana instances that get the datasource (C(instanceSelector.matchLabels)). Must not be
        empty.
      - Immutable once the object exists (grafana-operator's CRD refuses a change); to select other instances,
        delete the datasource (O(state=absent)) and create it again.
    type: dict
    default: {dashboards: grafana}
  resync_period:
    description: How often grafana-operator re-applies the datasource (a Go duration).
    type: str
    default: 5m
  allow_cross_namespace_import:
    description: Allow Grafana instances in other namespaces to import it.
    type: bool
    default: false
  wait:
    description:
      - Wait until grafana-operator applied the object's current content to its Grafana instances, read from the
        status its version writes. grafana-operator 5.13-5.15 (KOF 0.1.1 ships v5.13.0) - C(NoMatchingInstances)
        not true, C(lastMessage) empty, C(hash) and C(uid) set, after a change of C(spec.datasource) a
        C(hash) other than the previous content's, and (as that status has no generation) a Grafana that
        matches C(spec.instanceSelector) in the datasource's namespace (any, with O(allow_cross_namespace_import))
        whose stage is complete. grafana-operator 5.16 and later - a
        C(DatasourceSynchronized=True) condition whose C(observedGeneration) is the object's C(generation).
      - A timeout reports the operator's last message, or, for 5.13-5.15, which report nothing for a missing
        valuesFrom Secret or a Grafana that is not ready, says to check both.
      - With O(state=absent), wait until the object is gone.
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
    details: Shows the object before and after (server-managed fields and status left out, literal secrets masked).
  platform:
    platforms: posix
  action_group:
    support: full
    membership: [k0rdent.kof.kof]
notes:
  - Sends no discovery request. A run that changes nothing sends one GET; a create or update sends a GET, the
    Secret check (see O(missing_secret)) and one server-side apply.
  - KOF 0.2 to 1.6 create a C(<cluster>-logs) datasource themselves for each regional ClusterDeployment; this
    module is for the 0.1.x manual flow and for datasources the operator does not create.
seealso:
  - module: k0rdent.kof.grafana_datasource_info
  - module: k0rdent.kof.promxy_server_group
"""

EXAMPLES = r"""
- name: The regional cluster's logs in the central Grafana, as in the install guide
  k0rdent.kof.grafana_datasource:
    cluster_name: cloud1-region1
    regional_domain: cloud1-region1.kof.example.com
    wait: true

- name: A metrics datasource through the regional vmauth, credentials from a Secret
  k0rdent.kof.grafana_datasource:
    name: region1-metrics
    datasource_name: region1 metrics
    type: prometheus
    url: https://vmauth.region1.example.com/vm/select/0/prometheus
    json_data: {timeInterval: 30s}
    basic_auth:
      secret_name: storage-vmuser-credentials
    missing_secret: fail

- name: Remove it
  k0rdent.kof.grafana_datasource:
    name: region1-metrics
    state: absent
"""

RETURN = r"""
result:
  description:
    - The object as the API returned it after the change (in check mode, the server's dry-run answer), or the
      live object when nothing changed. Empty after a delete. Literal secrets are masked.
  returned: always
  type: dict
  sample:
    apiVersion: grafana.integreatly.org/v1beta1
    kind: GrafanaDatasource
    metadata: {name: cloud1-region1-logs, namespace: kof}
    spec:
      datasource: {name: cloud1-region1, type: victoriametrics-logs-datasource, basicAuthUser: "${username}"}
method:
  description: What was done - V(create), V(update), V(delete) or V(none).
  returned: always
  type: str
  sample: none
api_version:
  description: The API version used.
  returned: always
  type: str
  sample: grafana.integreatly.org/v1beta1
observed:
  description: What the wait ended on - the status fields C(hash), C(uid), C(lastResync) (grafana-operator
    5.13-5.15), or the C(DatasourceSynchronized) condition (5.16 and later).
  returned: when O(wait) is true, O(state=present) and not in check mode
  type: dict
  sample: {hash: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, uid: 6f0d7a4e-2c1b-4f8e-9a51-2b7f3c1d9e0a}
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import (
    DATASOURCE_TYPES, PLURALS, datasource_synchronized, grafana_datasource, grafana_datasource_id,
    instance_label_selector)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import object_path


def argument_spec():
    spec = kof_module.auth_argument_spec()
    spec.update(kof_module.wait_argument_spec())
    spec.update(kof_module.metadata_argument_spec())
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
        instance_selector=dict(type="dict", default={"dashboards": "grafana"}),
        resync_period=dict(type="str", default="5m"),
        allow_cross_namespace_import=dict(type="bool", default=False),
    )
    return spec


def synchronized(kube, obj, before=None):
    """Wait probe: grafana-operator applied the current content to its Grafana instances."""
    meta = obj["metadata"]
    live = kube.get(object_path(obj["apiVersion"], PLURALS[obj["kind"]], meta["namespace"], meta["name"]))
    grafanas = None
    if live and not (live.get("status") or {}).get("conditions"):
        # grafana-operator 5.13-5.15 reports no generation: look at the Grafanas it would import into ourselves
        grafanas = (kube.list(object_path(obj["apiVersion"], "grafanas", None),
                              {"labelSelector": instance_label_selector(live)}) or {}).get("items") or []
    done, observed, why = datasource_synchronized(live, before, grafanas)
    return done, why, observed


def awaited(obj):
    return f"grafana-operator synchronized {kof_module.ref(obj)} with a Grafana instance"


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_one_of=[("name", "cluster_name")])
    kof_module.run(module, grafana_datasource, grafana_datasource_id, observe=synchronized, awaited=awaited)


if __name__ == "__main__":
    main()
