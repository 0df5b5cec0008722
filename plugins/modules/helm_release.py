#!/usr/bin/python
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
  platform:
    platforms: posix
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

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k0rdent.kof.plugins.module_utils.core_internals import diff_mode
from ansible_collections.k0rdent.kof.plugins.module_utils.helm_cli import (
    GO_DURATION, Helm, HelmConnectionError, HelmError, helm_connection, local_chart, mask, merge, normalise, uninstall_args, upgrade_args)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import AUTH_ARG_SPEC, connection_settings


def argument_spec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        release_name=dict(type="str", required=True, aliases=["name"]),
        release_namespace=dict(type="str", required=True, aliases=["namespace"]),
        chart_ref=dict(type="str"),
        chart_version=dict(type="str"),
        values=dict(type="dict", default={}),
        values_files=dict(type="list", elements="path", default=[]),
        hidden_values=dict(type="list", elements="str", default=[], no_log=False),
        create_namespace=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="str", default="10m"),
        atomic=dict(type="bool", default=False),
        take_ownership=dict(type="bool", default=False),
        server_side=dict(type="str", choices=["true", "false", "auto"]),
        skip_crds=dict(type="bool", default=False),
        cascade=dict(type="str", choices=["foreground", "background", "orphan"], default="foreground"),
        plain_http=dict(type="bool", default=False),
        insecure_skip_tls_verify=dict(type="bool", default=False),
        retries=dict(type="int", default=3),
        binary_path=dict(type="path", default="helm"),
    )
    return spec


def _dump(obj):
    import yaml
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False) if obj else ""


def run_module(module):
    p = module.params
    if not GO_DURATION.match(p["wait_timeout"]):
        module.fail_json(msg=f"wait_timeout {p['wait_timeout']!r} is not a Go duration like 5m or 300s")
    if p["state"] == "present" and not p["chart_ref"]:
        module.fail_json(msg="chart_ref is required with state=present")
    settings = connection_settings(p)
    if settings.get("validate_certs") is False:
        module.warn("validate_certs is false: the API server certificate is not verified")
    if p["insecure_skip_tls_verify"]:
        module.warn("insecure_skip_tls_verify is set: the chart repository certificate is not verified")
    binary = module.get_bin_path(p["binary_path"]) if "/" not in p["binary_path"] else p["binary_path"]
    if not binary:
        module.fail_json(msg=f"helm not found ({p['binary_path']}): set binary_path or install helm 3 or helm 4")
    if p["retries"] < 0:
        module.fail_json(msg=f"retries {p['retries']} must be 0 or more")
    helm = Helm(module, binary, retries=p["retries"])
    kube, environ = helm_connection(settings, p, helm.private_file)
    helm.environ.update(environ)
    major = helm.detect()
    name, ns = p["release_name"], p["release_namespace"]
    result = dict(changed=False, helm_version=helm.version)
    current = helm.status(name, ns, kube)

    if p["state"] == "absent":
        if current is None:
            result["retried"] = helm.retried
            module.exit_json(**result)
        result["changed"] = True
        if diff_mode(module):
            result["diff"] = dict(before=_dump({"release": name, "chart": current.get("chart") or
                                                (current.get("info") or {}).get("description")}), after="")
        if not module.check_mode:
            args = uninstall_args(name, ns, wait=p["wait"], timeout=p["wait_timeout"], cascade=p["cascade"])
            helm.run(args + kube)
            result["command"] = " ".join(["helm"] + args)
        result["retried"] = helm.retried
        module.exit_json(**result)

    # desired state
    wanted = {}
    for f in p["values_files"]:
        import yaml
        try:
            with open(f) as fh:
                wanted = merge(wanted, yaml.safe_load(fh) or {})
        except (OSError, yaml.YAMLError) as err:
            module.fail_json(msg=f"cannot read values file {f}: {err}")
    wanted = normalise(merge(wanted, p["values"]))
    chart_meta = local_chart(p["chart_ref"])
    version = p["chart_version"]
    chart_name = p["chart_ref"].rstrip("/").split("/")[-1]
    if chart_meta is not None:
        version = str(chart_meta.get("version", "")) or version
        chart_name = chart_meta.get("name", chart_name)
        pass_version = None  # a local chart takes no --version
    else:
        pass_version = version

    before = {}
    reasons = []
    if current is None:
        reasons.append("not installed")
    else:
        deployed = normalise(helm.user_values(name, ns, kube))
        chart = (current.get("chart") or "")
        if not chart:
            # helm status -o json has no chart field in helm 3; read it from helm list
            out = helm.run(["list", "--namespace", ns, "--filter", f"^{name}$", "-o", "json"] + kube)[1]
            import json
            rows = [r for r in json.loads(out or "[]") if r.get("name") == name]
            chart = rows[0].get("chart", "") if rows else ""
        state = (current.get("info") or {}).get("status")
        before = {"chart": chart, "status": state, "values": mask(deployed, p["hidden_values"])}
        if state != "deployed":
            reasons.append(f"release status is {state}")
        if version and chart != f"{chart_name}-{version}":
            reasons.append(f"chart {chart} -> {chart_name}-{version}")
        if deployed != wanted:
            reasons.append("values differ")
    after = {"chart": f"{chart_name}-{version}" if version else chart_name, "status": "deployed",
             "values": mask(wanted, p["hidden_values"])}
    result["values"] = after["values"]
    if reasons:
        result["changed"] = True
        result["reasons"] = reasons
    if diff_mode(module) and result["changed"]:
        result["diff"] = dict(before=_dump(before), after=_dump(after),
                              before_header=f"helm release {ns}/{name} (deployed)",
                              after_header=f"helm release {ns}/{name} (requested)")
    if result["changed"] and not module.check_mode:
        values_file = helm.values_file(wanted)
        args = upgrade_args(major, name, p["chart_ref"], ns, version=pass_version, values_file=values_file,
                            create_namespace=p["create_namespace"], wait=p["wait"], timeout=p["wait_timeout"],
                            atomic=p["atomic"], take_ownership=p["take_ownership"], server_side=p["server_side"],
                            skip_crds=p["skip_crds"], plain_http=p["plain_http"],
                            insecure_skip_tls_verify=p["insecure_skip_tls_verify"])
        helm.run(args + kube)
        result["command"] = " ".join(["helm"] + [a if a != values_file else "<values file>" for a in args])
        current = helm.status(name, ns, kube)
    if current is not None:
        current.pop("config", None)      # user values live in result.values, masked
        current.pop("manifest", None)
        current.pop("hooks", None)       # hook manifests may hold Secrets
        result["status"] = current
    result["retried"] = helm.retried
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("state", "present", ("chart_ref",))])
    try:
        run_module(module)
    except HelmConnectionError as err:
        module.fail_json(msg=str(err))
    except HelmError as err:
        module.fail_json(msg=f"helm failed: {err}", retried=getattr(err, "retried", 0))
    except Exception as err:  # pragma: no cover - a bug: keep the traceback for the report
        module.fail_json(msg=f"unexpected error: {err}", exception=traceback.format_exc())


if __name__ == "__main__":
    main()
