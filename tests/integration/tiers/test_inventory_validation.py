"""Bad input fails before anything is changed, with a message naming the variable (issues 5 and 8).

Every case runs the real site.yml against kofsim and asserts that kofsim received no request at all."""
from __future__ import annotations

import pytest

from tests.helpers import ansible_playbook

REG = ("all", "children", "kof_regional", "hosts")
CH1 = ("all", "children", "kof_child", "children", "kof_child_region1", "hosts")


def _get(d, path):
    for p in path:
        d = d.setdefault(p, {}) if isinstance(d, dict) else d
    return d


def host_var(path, host, var, value):
    def f(hosts, gv):
        node = _get(hosts, path)
        node[host] = dict(node.get(host) or {}, **{var: value})
    return f


def global_var(var, value):
    def f(hosts, gv):
        gv[var] = value
    return f


def global_vars(**values):
    def f(hosts, gv):
        gv.update(values)
    return f


def rename_regional(new):
    def f(hosts, gv):
        regs = _get(hosts, REG)
        regs[new] = regs.pop("cloud1-region1")
        hosts["all"]["children"]["kof_child"]["children"]["kof_child_region1"]["vars"]["kof_regional"] = new
    return f


def duplicate_across_tiers(hosts, gv):
    _get(hosts, CH1)["cloud1-region2"] = {}


def two_managers(hosts, gv):
    hosts["all"]["children"]["kof_management"]["hosts"]["mothership2"] = None


def no_manager(hosts, gv):
    hosts["all"]["children"]["kof_management"]["hosts"] = {}


def child_without_region(hosts, gv):
    _get(hosts, CH1)["orphan-child"] = {}
    hosts["all"]["children"]["kof_child"]["children"]["kof_child_region1"]["vars"].pop("kof_regional")


CASES = {
    "uppercase cluster name": (rename_regional("Cloud1-Region1"), "RFC 1123 label"),
    "underscore cluster name": (rename_regional("cloud1_region1"), "RFC 1123 label"),
    "cluster name too long": (rename_regional("r" * 64), "RFC 1123 label"),
    "child without kof_regional": (child_without_region, "kof_regional is not set"),
    "child pointing at an unknown region": (host_var(CH1, "cloud1-region1-child1", "kof_regional", "cloud9"),
                                            "kof_regional 'cloud9' is not a host of group kof_regional"),
    "missing domain": (global_var("kof_base_domain", ""), "kof_regional_domain"),
    "domain with a space": (host_var(REG, "cloud1-region1", "kof_regional_domain", "bad domain.com"),
                            "kof_regional_domain"),
    "domain ending with a dot": (host_var(REG, "cloud1-region2", "kof_regional_domain", "r2.example.com."),
                                 "kof_regional_domain"),
    "bad admin e-mail": (global_var("kof_admin_email", "not-an-email"), "kof_admin_email"),
    "empty admin e-mail": (global_var("kof_admin_email", ""), "kof_admin_email"),
    "cluster in two tiers": (duplicate_across_tiers, "both kof_regional and kof_child"),
    "two management hosts": (two_managers, "exactly one host"),
    "no management host": (no_manager, "kof_management"),
    "kof_version not a version": (global_var("kof_version", "latest"), "kof_version"),
    # KOF 0.2-1.7 (no umbrella chart) and 1.11+ have no install flow here
    "KOF 1.7 has no install flow": (global_var("kof_version", "1.7.0"),
                                    "kof_version '1.7.0': this collection installs KOF 0.1.x"),
    "KOF 1.x on the kcm 0.1 API": (global_vars(kof_version="1.10.0", kof_kcm_api_version="k0rdent.mirantis.com/v1alpha1"),
                                   "kof_kcm_api_version 'k0rdent.mirantis.com/v1alpha1' does not match kof_version"),
    # node_role on 1.x is for regional clusters: in regionless mode external-dns is kof-regional's (kof_values)
    "KOF 1.x regionless with the node-role DNS mode": (
        global_vars(kof_version="1.10.0", kof_dns_mode="node_role",
                    kof_values={"regionless": {"enabled": True, "domain": "obs.example.net"}}),
        "kof_dns_mode 'node_role' is for regional clusters"),
    "KOF 1.x with kof_mothership_values": (global_vars(kof_version="1.10.0", kof_mothership_values={"a": 1}),
                                           "kof_values['kof-mothership']['values']"),
    # kof-operator 1.10 finds a child's regional cluster in the child's namespace unless crossNamespace is on
    "KOF 1.x child in another namespace than its regional": (
        lambda hosts, gv: (gv.update(kof_version="1.10.0"),
                           host_var(CH1, "cloud1-region1-child2", "kof_kcm_namespace", "team-a")(hosts, gv)),
        "1 child cluster is in another namespace than its regional cluster (cloud1-region1-child2 (team-a) -> "
        "cloud1-region1 (kcm-system)): KOF 1.x's kof-operator looks for a child's regional cluster in the child's "
        "own namespace only; set kof_cross_namespace: true"),
    "KOF 1.x crossNamespace in kof_values": (
        global_vars(kof_version="1.10.0", kof_values={"kof-mothership": {"values": {"kcm": {"kof": {"operator": {
            "crossNamespace": True}}}}}}),
        "kof_values sets kof-mothership.values.kcm.kof.operator.crossNamespace: set kof_cross_namespace instead"),
    "unknown regional endpoint": (host_var(REG, "cloud1-region1", "kof_regional_endpoints",
                                           {"metric_read": "https://m.example.com/vm/select/0/prometheus"}),
                                  "host cloud1-region1: kof_regional_endpoints has an unknown endpoint 'metric_read' "
                                  "(did you mean metrics_read?)"),
    "regional endpoint not a URL": (host_var(REG, "cloud1-region1", "kof_regional_endpoints",
                                             {"logs_write": "logs.example.com"}),
                                    "kof_regional_endpoints.logs_write 'logs.example.com' is not an http(s) URL"),
    "regional endpoints on KOF 0.1.x": (
        lambda hosts, gv: (gv.update(kof_version="0.1.1"), host_var(
            REG, "cloud1-region2", "kof_regional_endpoints", {"logs_write": "https://l.example.com/insert"})(hosts, gv)),
        "kof_regional_endpoints (host cloud1-region2) is for KOF 1.x"),
    "regional ConfigMap flag not a boolean": (host_var(REG, "cloud1-region1", "kof_regional_configmap_only", "perhaps"),
                                              "host cloud1-region1: kof_regional_configmap_only 'perhaps' must be a "
                                              "boolean"),
    "cluster settings on a ConfigMap-only region": (
        lambda hosts, gv: (gv.update(kof_version="1.10.0"),
                           host_var(REG, "cloud1-region1", "kof_regional_configmap_only", True)(hosts, gv),
                           host_var(REG, "cloud1-region1", "kof_regional_storage_values", {"a": 1})(hosts, gv)),
        "host cloud1-region1: kof_regional_storage_values has no effect on a regional cluster that is only a "
        "ConfigMap"),
    "cross_namespace on KOF 0.1.x": (global_vars(kof_version="0.1.1", kof_cross_namespace=True),
                                     "kof_cross_namespace is for KOF 1.x"),
    "cross_namespace not a boolean": (global_var("kof_cross_namespace", "sometimes"),
                                      "kof_cross_namespace"),
    "chart version not a version": (global_var("kof_chart_version", "1.x"), "kof_chart_version"),
    "unknown DNS mode": (global_var("kof_dns_mode", "auto"), "kof_dns_mode"),
    "uppercase namespace": (global_var("kof_namespace", "KOF"), "kof_namespace"),
    "kcm namespace with underscore": (global_var("kof_kcm_namespace", "kcm_system"), "kof_kcm_namespace"),
    "renamed mothership release": (global_var("kof_mothership_release", "my-mothership"), "kof_mothership_release"),
    "bad kcm API version": (global_var("kof_kcm_api_version", "v1"), "kof_kcm_api_version"),
    "bad storage class": (global_var("kof_storage_class", "Fast SSD"), "kof_storage_class"),
    "even control plane": (host_var(REG, "cloud1-region1", "kof_regional_control_plane_number", 2),
                           "kof_regional_control_plane_number"),
    "zero workers": (host_var(REG, "cloud1-region2", "kof_regional_workers_number", 0), "kof_regional_workers_number"),
    "workers not a number": (host_var(CH1, "cloud1-region1-child2", "kof_child_workers_number", "three"),
                             "kof_child_workers_number"),
    "empty instance type": (host_var(REG, "cloud1-region1", "kof_regional_worker_instance_type", ""),
                            "kof_regional_worker_instance_type"),
    "region with spaces": (host_var(REG, "cloud1-region1", "kof_regional_region", "US East"), "kof_regional_region"),
    "child region with underscore": (host_var(CH1, "cloud1-region1-child1", "kof_child_region", "us_east_2"),
                                     "kof_child_region"),
    "bad template name": (host_var(REG, "cloud1-region2", "kof_regional_template", "Bad Template"),
                          "kof_regional_template"),
    "empty child credential": (host_var(CH1, "cloud1-region1-child2", "kof_child_credential", ""),
                               "kof_child_credential"),
    "external-dns not a boolean": (host_var(REG, "cloud1-region1", "kof_regional_external_dns", "maybe"),
                                   "kof_regional_external_dns"),
    "storage values not a mapping": (host_var(REG, "cloud1-region1", "kof_regional_storage_values", "x: 1"),
                                     "kof_regional_storage_values"),
    "collectors values a list": (host_var(CH1, "cloud1-region1-child1", "kof_child_collectors_values", [1]),
                                 "kof_child_collectors_values"),
    "zero wait timeout": (global_var("kof_wait_timeout", 0), "kof_wait_timeout"),
    "concurrency not a number": (global_var("kof_concurrency", "many"), "kof_concurrency"),
    "service template with a space": (global_var("kof_service_templates", {
        "cert_manager": "cert manager", "ingress_nginx": "ingress-nginx-4-11-3", "kof_storage": "kof-storage-0-1-1",
        "kof_operators": "kof-operators-0-1-1", "kof_collectors": "kof-collectors-0-1-1"}),
        "kof_service_templates.cert_manager"),
    "cluster config not a mapping": (host_var(REG, "cloud1-region2", "kof_regional_config", "region: x"),
                                     "kof_regional_config"),
    "validate_certs not a boolean": (global_var("kof_validate_certs", "sometimes"), "kof_validate_certs"),
    # a typo would otherwise do nothing at all (issue 13: an unread kof_promxy_insecure_skip_verify)
    "misspelt host variable": (host_var(REG, "cloud1-region1", "kof_promxy_insecure_skip_verfy", True),
                               "unknown variable kof_promxy_insecure_skip_verfy (host cloud1-region1): did you mean "
                               "kof_promxy_insecure_skip_verify?"),
    "unknown group variable": (global_var("kof_regional_storageclass", "gp3"),
                               "unknown variable kof_regional_storageclass (every host): did you mean "
                               "kof_regional_storage_class?"),
    "custom variables not a list": (global_var("kof_custom_variables", "kof_team"), "kof_custom_variables must be"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_before_any_request(case, inventory, kofsim_k0rdent, env_for):
    mutate, expected = CASES[case]
    hosts, gv, write = inventory
    mutate(hosts, gv)
    inv = write(hosts, gv)
    before = kofsim_k0rdent.last_seq()
    run = ansible_playbook("-i", inv, "playbooks/site.yml", env=env_for(kofsim_k0rdent))
    assert run.rc != 0, run
    assert expected in run.stdout + run.stderr, run
    sent = kofsim_k0rdent.requests(since=before)
    assert sent == [], f"{case}: requests were sent before validation failed: {sent[:3]}"


def test_valid_inventory_passes_validation(inventory, kofsim_k0rdent, env_for):
    hosts, gv, write = inventory
    inv = write(hosts, gv)
    run = ansible_playbook("-i", inv, "playbooks/site.yml", "--tags", "kof_validate", "-v", env=env_for(kofsim_k0rdent))
    assert run.rc == 0, run
    assert "inventory valid: 1 management, 2 regional, 3 child clusters" in run.stdout


def test_custom_variables_are_kept(inventory, kofsim_k0rdent, env_for):
    """The user's own kof_* variables pass once listed in kof_custom_variables (names or patterns)."""
    hosts, gv, write = inventory
    gv.update(kof_team_owner="sre", kof_cost_center="c-1", kof_custom_variables=["kof_team_*", "kof_cost_center"])
    run = ansible_playbook("-i", write(hosts, gv), "playbooks/site.yml", "--tags", "kof_validate",
                           env=env_for(kofsim_k0rdent))
    assert run.rc == 0, run


# Playbooks whose KOF 1.x flow does not exist yet refuse a 1.x kof_version before any request, naming themselves
# (kof_resources.install_flow; validate_inventory's flows option).
ZERO_ONE_ONLY = {"sveltos_access.yml": []}


@pytest.mark.parametrize("playbook", sorted(ZERO_ONE_ONLY))
def test_zero_one_only_playbooks_refuse_kof_1x(playbook, inventory, kofsim_k0rdent, env_for):
    hosts, gv, write = inventory
    gv["kof_version"] = "1.10.0"
    before = kofsim_k0rdent.last_seq()
    run = ansible_playbook("-i", write(hosts, gv), f"playbooks/{playbook}", *ZERO_ONE_ONLY[playbook],
                           env=env_for(kofsim_k0rdent))
    assert run.rc != 0, run
    assert "kof_version '1.10.0' is KOF 1.8-1.10 (the umbrella kof chart): " in run.stdout, run
    assert "is implemented for KOF 0.1.x (the install guide) only so far" in run.stdout, run
    assert kofsim_k0rdent.requests(since=before) == [], f"{playbook} sent requests before refusing"
