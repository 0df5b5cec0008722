"""The budget alert rules (kof_budgets) applied to a management cluster like every other object of the collection:
the VMRule kof-finops-budgets is created, a re-run changes nothing, --check writes nothing and --diff shows the
change of a budget, and without budgets the rule is deleted (kofsim with the VMRule CRD kof-mothership installs)."""
from __future__ import annotations

import json
import time

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.finops.test_cost_report_playbook import inventory

VMRULE_CRD = ROOT / "kofsim" / "kofsim" / "data" / "crds" / "victoriametrics" / "vmrules.operator.victoriametrics.com.yaml"
RULE = "/apis/operator.victoriametrics.com/v1beta1/namespaces/kof/vmrules/kof-finops-budgets"


@pytest.fixture(scope="module")
def mgmt(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-finops"), bare=True)
    k.start()
    k.call("POST", "/api/v1/namespaces", {"metadata": {"name": "kof"}})
    crd = yaml.safe_load(VMRULE_CRD.read_text())
    k.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    deadline = time.monotonic() + 20
    while k.call("GET", RULE.rsplit("/", 1)[0], raw=True)[0] != 200:  # served once Established
        assert time.monotonic() < deadline, "VMRule CRD not served"
        time.sleep(0.1)
    yield k
    k.stop()


def run(fleet_vm, mgmt, tmp_path, budgets, *args):
    inv = inventory(fleet_vm, tmp_path / "hosts.yml", prices=False, budgets=budgets)
    ev = {"kof_cost_promxy_url": fleet_vm.vm.url, "kof_report_dir": str(tmp_path / "out"), "kof_render_dir": "",
          "kof_cost_period": {"start": fleet_vm.end - 2 * 86400, "end": fleet_vm.end}}
    env = tool_env(home=tmp_path, extra={"K8S_AUTH_KUBECONFIG": mgmt.kubeconfig})
    return ansible_playbook("-i", inv, "playbooks/cost_report.yml", "-e", json.dumps(ev), "--tags", "finops_budgets",
                            *args, env=env)


def test_budget_rules_are_objects_like_every_other(fleet_vm, mgmt, tmp_path):
    alpha = [{"team": "alpha", "amount": 5000}]
    seq = mgmt.last_seq()
    check = run(fleet_vm, mgmt, tmp_path, alpha, "--check")
    assert check.rc == 0 and check.changed == 1, check
    assert mgmt.writes(since=seq) == [], "check mode wrote"

    first = run(fleet_vm, mgmt, tmp_path, alpha)
    assert first.rc == 0 and first.changed == 1, first
    rule = mgmt.call("GET", RULE)
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {"KofBudgetSpend_team_alpha_80", "KofBudgetSpend_team_alpha_100",
                           "KofBudgetBurnRate_team_alpha", "KofBudgetForecast_team_alpha"}
    assert alerts["KofBudgetSpend_team_alpha_100"]["labels"]["team"] == "alpha"  # Alertmanager routes by team

    seq = mgmt.last_seq()
    again = run(fleet_vm, mgmt, tmp_path, alpha)
    assert again.rc == 0 and again.changed == 0, again
    assert mgmt.writes(since=seq) == []

    raised = run(fleet_vm, mgmt, tmp_path, [{"team": "alpha", "amount": 7000}], "--diff")
    assert raised.rc == 0 and raised.changed == 1, raised
    assert "7000" in raised.stdout and "5000" in raised.stdout  # the diff shows the old and the new amount

    gone = run(fleet_vm, mgmt, tmp_path, [])
    assert gone.rc == 0 and gone.changed == 1, gone
    assert mgmt.call("GET", RULE, raw=True)[0] == 404
