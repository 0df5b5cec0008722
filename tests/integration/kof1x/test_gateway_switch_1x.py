"""The docs' "Upgrade to v1.9.0" trap on kofsim serving kcm 1.x: KOF 1.9 replaces ingress-nginx with Envoy Gateway
on the regional clusters, so with kof_dns_mode none (the user's own DNS) an upgrade from 1.8 is refused before any
write until kof_upgrade_confirm_gateway_switch says the records will follow; keeping ingress-nginx in kof_values
needs no confirmation. The management tier only (--limit): kofsim's 1.8.0 and 1.9.0 charts are its 1.10.0 stand-ins
relabelled (catalog_1x.relabel), so what is judged here is the preflight, not the charts' defaults."""
from __future__ import annotations

import pytest

from kofsim.k0rdent import catalog_1x
from tests.integration.kof1x import flat, play, upgrade_fleet

HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"mgmt": None}},
    "kof_regional": {"hosts": {"emea": {"kof_regional_region": "eu-west-1"},
                               "apac": {"kof_regional_region": "ap-southeast-1"}}},
    "kof_child": {"hosts": {"emea-web": {"kof_regional": "emea"}}}}}}
KEEP_INGRESS = {"kof-regional": {"values": {"ingress-nginx": {"enabled": True}, "envoy-gateway": {"enabled": False}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    for f in upgrade_fleet(tmp_path_factory, "kofsim-gateway-switch-1x"):
        f["charts"]["1.8.0"] = str(catalog_1x.relabel(tmp_path_factory.mktemp("charts") / "charts-1.8.0", "1.8.0"))
        yield f


def mgmt(fleet, playbook, version, *args, **group_vars):
    fleet = dict(fleet, gv=dict(fleet["gv"], **group_vars))
    return play(fleet, HOSTS, playbook, version, "--limit", "mgmt", *args)


def test_1_install_kof_1_8(fleet):
    run = mgmt(fleet, "mothership.yml", "1.8.0")
    assert run.rc == 0 and not run.failed_hosts, run


def test_2_unmanaged_dns_is_refused_before_any_write(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = mgmt(fleet, "upgrade.yml", "1.9.0")
    assert run.rc != 0
    out = flat(run.stdout)
    assert "Upgrading KOF 1.8.0 to 1.9.0 replaces ingress-nginx with Envoy Gateway on every regional cluster (emea, " \
           "apac): their vmauth.<domain> endpoints move to the gateway address, and with kof_dns_mode none your " \
           "DNS records must follow" in out, out[-3000:]
    assert "Nothing was changed. Set kof_upgrade_confirm_gateway_switch=true" in out
    assert k.writes(since=seq) == []


@pytest.mark.parametrize("why", ["confirmed", "ingress-nginx kept"])
def test_3_confirmed_or_kept_goes_on(fleet, why):
    k = fleet["kofsim"]
    seq = k.last_seq()
    extra = {"kof_upgrade_confirm_gateway_switch": True} if why == "confirmed" else {"kof_values": KEEP_INGRESS}
    run = mgmt(fleet, "upgrade.yml", "1.9.0", "--check", **extra)
    assert run.rc == 0, run
    out = flat(run.stdout)
    assert ("replaces ingress-nginx with Envoy Gateway on the regional clusters: point their records at the gateway "
            "address now" in out) is (why == "confirmed"), out[-3000:]
    assert run.recap["mgmt"]["changed"] > 0, run.recap  # the umbrella upgrade is predicted
    assert k.writes(since=seq) == []
