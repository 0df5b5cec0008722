"""validate_inventory's rules for KOF 1.10's regionless mode (kof_values.regionless), as pure functions: what the
umbrella kof chart (k0rdent/kof v1.10.0 charts/kof) and kof-operator would not make work, refused before any write.
The whole refusal through ansible-playbook: tests/integration/kof1x/test_regionless_1x.py."""
from __future__ import annotations

from ansible_collections.k0rdent.kof.plugins.action import validate_inventory as v

OK = {"enabled": True, "domain": "hub.example.net"}


def errors(regionless, version="1.10.0", found=None, **g):
    return v.check_regionless(dict(g, kof_version=version, kof_values={"regionless": regionless}),
                              v.kr.install_flow(version), found or {})


def test_a_complete_setting_passes():
    assert errors(OK, kof_admin_email="sre@example.net") == []
    assert errors(dict(OK, clusterName="hub", certEmail="ops@example.net")) == []
    # off: nothing of it is judged but its keys
    assert errors({"enabled": False}) == []


def test_kof_before_1_10_has_no_regionless_mode():
    assert errors(OK, version="1.9.0") == [
        "kof_values.regionless: KOF 1.9.0 has no regionless mode (the umbrella kof chart has it from 1.10.0)"]


def test_keys_and_values():
    errs = errors({"enabled": "maybe", "domian": "x"})
    assert errs[0].startswith("kof_values.regionless has an unknown key 'domian' (did you mean domain?)")
    assert "kof_values.regionless.enabled 'maybe' must be a boolean" in errs
    errs = errors(dict(OK, domain="Hub_Example", clusterName="Hub", certEmail="nobody"))
    assert any(e.startswith("kof_values.regionless.domain 'Hub_Example' is not a valid DNS domain") for e in errs)
    assert "kof_values.regionless.clusterName 'Hub' is not a valid cluster name (RFC 1123 label)" in errs
    assert "kof_values.regionless.certEmail 'nobody' is not a valid e-mail address" in errs


def test_cert_email_falls_back_to_kof_admin_email():
    assert errors(OK, kof_admin_email="")[0].startswith(
        "kof_admin_email '' is not a valid e-mail address: regionless mode gives it to cert-manager")


def test_children_outside_kcm_system_need_cross_namespace():
    found = {"outside_kcm_system": ["app-2 (team-r)"]}
    assert errors(OK, found=found, kof_cross_namespace=False)[0].startswith(
        "1 child cluster is outside namespace kcm-system (app-2 (team-r))")
    assert errors(OK, found=found, kof_cross_namespace=True) == []


def test_not_beside_the_management_cluster_modes_of_kof_child():
    g = {"kof_version": "1.10.0", "kof_values": {
        "regionless": OK, "kof-child": {"values": {"fromManagement": {"toManagementCluster": {"enabled": True}}}}}}
    assert v.check_regionless(g, "1.x", {}) == [
        "kof_values: only one of regionless.enabled, kof-child.values.fromManagement.toManagementCluster.enabled and "
        "kof-child.values.fromManagement.toRegionalCluster.name can be on (the kof chart refuses the others)"]


def test_hosts_regionless_has_no_regional_clusters_and_children_name_none():
    settings = {"c1": {"regional": "r1", "child_credential": "cred", "child_control_plane_number": 1,
                       "child_workers_number": 1, "child_control_plane_instance_type": "t3.large",
                       "child_worker_instance_type": "t3.large", "child_config": {},
                       "child_collectors_values": {}},
                "c2": {"regional": "", "child_credential": "cred", "child_control_plane_number": 1,
                       "child_workers_number": 1, "child_control_plane_instance_type": "t3.large",
                       "child_worker_instance_type": "t3.large", "child_config": {},
                       "child_collectors_values": {}}}
    assert v.check_hosts(["hub"], [], ["c2"], settings, regionless=True) == []
    errs = v.check_hosts(["hub"], [], ["c1", "c2"], settings, regionless=True)
    assert [e[:40] for e in errs] == ["host c1: kof_regional 'r1' is set, but i"]
    # without regionless, a child must name its regional cluster
    assert v.check_hosts(["hub"], [], ["c2"], settings)[0].startswith("host c2: kof_regional is not set")
