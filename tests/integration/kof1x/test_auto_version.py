"""kof_version auto (the default): the KOF the management cluster runs, else the newest for the kcm it serves.
A new install on kcm 1.x gets KOF 1.10.0 without naming it; the same inventory on kcm 0.1.x gets 0.1.1 (the rest of
the suite, which leaves kof_version unset); an installed release is kept (never upgraded by omission, see
test_upgrade_1x); `-e kof_version=auto` (as an AWX survey passes it) resolves the same; a cluster without kcm is
refused before any write, naming what was found."""
from __future__ import annotations

import json

import pytest

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.kof1x import flat, kubectl_json
from tests.integration.tiers.conftest import write_inventory

NS = "kcm-system"
HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"ops": None}},
    "kof_regional": {"hosts": {"latam": {"kof_regional_region": "sa-east-1"}}},
    "kof_child": {"hosts": {"latam-pay": {"kof_regional": "latam"}}}}}}
# no kof_version, no kof_dns_mode: both follow what the management cluster runs
GROUP_VARS = {"kof_chart_repository": str(ROOT / "kofsim" / "kofsim" / "charts-1.10"),
              "kof_base_domain": "obs.example.com", "kof_admin_email": "sre@example.com",
              "kof_verify_timeout": 90, "kof_wait_timeout": 300}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-auto"), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    gv = dict(GROUP_VARS, kof_report_dir=str(tmp_path_factory.mktemp("report")))
    inv = write_inventory(tmp_path_factory.mktemp("inventory"), json.loads(json.dumps(HOSTS)), gv)
    env = tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
    yield {"kofsim": k, "env": env, "inv": inv}
    k.stop()


def site(fleet, *args):
    return ansible_playbook("-i", fleet["inv"], "playbooks/site.yml", *args, env=fleet["env"])


def test_a_new_install_on_kcm_1x_gets_kof_1_10(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    check = site(fleet, "--check")
    assert check.rc == 0 and not check.failed_hosts, check
    assert k.writes(since=seq) == [], "check mode wrote to the API"
    assert "no KOF installed yet and kcm serves k0rdent.mirantis.com/v1beta1: the newest KOF for it" in \
        flat(check.stdout), check
    run = site(fleet)
    assert run.rc == 0 and not run.failed_hosts, run
    assert {h for h, r in run.recap.items() if r["changed"]} == {h for h, r in check.recap.items() if r["changed"]}
    releases = {r["metadata"]["name"]: r for r in kubectl_json(fleet, "get", "helmreleases", "-n", "kof")["items"]}
    assert releases["kof-mothership"]["status"]["lastAttemptedRevision"] == "1.10.0"
    cds = kubectl_json(fleet, "get", "clusterdeployments", "-n", NS)["items"]
    assert {cd["metadata"]["labels"]["k0rdent.mirantis.com/kof-version"] for cd in cds} == {"1.10.0"}


def test_the_installed_release_decides_then(fleet):
    """The re-run reads the umbrella release it installed (not kcm's API any more) and changes nothing; so does an
    explicit -e kof_version=auto, which is what an AWX survey left at its default passes."""
    k = fleet["kofsim"]
    for extra in ((), ("-e", "kof_version=auto")):
        seq = k.last_seq()
        run = site(fleet, *extra)
        assert run.rc == 0 and run.changed == 0, (extra, run.recap)
        assert "the installed release kof (chart version 1.10.0)" in flat(run.stdout), run
        assert k.writes(since=seq) == []


def test_a_version_of_the_other_generation_is_refused_before_any_write(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = ansible_playbook("-i", fleet["inv"], "playbooks/mothership.yml", "-e", "kof_version=0.1.1",
                           env=fleet["env"])
    assert run.rc != 0, run
    assert ("KOF 1.10.0 is installed (helm release kof in namespace kof) and kof_version is 0.1.1: going back from "
            "KOF 1.x to 0.1.x is not supported. Nothing was changed") in flat(run.stdout), run
    assert k.writes(since=seq) == []


def test_a_cluster_without_kcm_is_refused_before_any_write(tmp_path):
    with Kofsim(tmp_path / "bare", bare=True) as bare:
        env = tool_env(home=tmp_path / "home", extra={"K8S_AUTH_KUBECONFIG": bare.kubeconfig})
        inv = write_inventory(tmp_path / "inv", json.loads(json.dumps(HOSTS)), dict(GROUP_VARS))
        seq = bare.last_seq()
        run = ansible_playbook("-i", inv, "playbooks/mothership.yml", env=env)
        assert run.rc != 0, run
        assert ("kof_version auto: nothing to go by (no KOF installed and k0rdent.mirantis.com is not served: not a "
                "k0rdent management cluster (or kcm is not installed yet)); name the KOF version to install in "
                "kof_version") in flat(run.stdout), run
        assert bare.writes(since=seq) == []
