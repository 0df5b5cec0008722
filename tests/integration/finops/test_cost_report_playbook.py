"""playbooks/cost_report.yml end to end with real ansible-playbook: the 60-cluster fleet as an inventory, promxy's
API answered by the session's real VictoriaMetrics (kof_cost_promxy_url), the report files, set_stats, the price
check, check mode (no file) and the budget rules rendered (kof_render_dir)."""
import json
import os

import yaml

from tests.helpers import ansible_playbook, tool_env


def inventory(fv, path, prices=True, budgets=None):
    regions = sorted({c["region"] for c in fv.clusters})
    children = {}
    for r in regions:
        hosts = {c["name"]: ({"kof_cost_prices": c["prices"]} if prices else None)
                 for c in fv.clusters if c["region"] == r}
        children[f"kof_child_{r}"] = {"hosts": hosts, "vars": {"kof_regional": r}}
    inv = {"all": {"vars": {"kof_base_domain": "kof.example.com", "kof_admin_email": "ops@example.com",
                            "kof_dns_mode": "manual", "kof_budgets": budgets or [],
                            "kof_cluster_template": "aws-standalone-cp-0-1-0"},
                   "children": {"kof_management": {"hosts": {"mothership": None}},
                                "kof_regional": {"hosts": {r: None for r in regions}},
                                "kof_child": {"children": children}}}}
    path.write_text(yaml.safe_dump(inv))
    return path


def test_cost_report_playbook(fleet_vm, tmp_path):
    fv = fleet_vm
    inv = inventory(fv, tmp_path / "hosts.yml", budgets=[{"team": "alpha", "amount": 5000}])
    out = tmp_path / "out"
    env = tool_env({"ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit", "ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    period = {"start": fv.end - 14 * 86400, "end": fv.end}
    ev = {"kof_cost_promxy_url": fv.vm.url, "kof_report_dir": str(out), "kof_cost_group_by": "team",
          "kof_cost_period": period, "kof_cost_currency": "EUR", "kof_render_dir": ""}
    # the budget VMRule needs a management cluster: the report alone here (the rules are rendered below)
    skip = ("--skip-tags", "finops_budgets")
    run = ansible_playbook("-i", inv, "playbooks/cost_report.yml", "-e", json.dumps(ev), "--check", *skip, env=env)
    assert run.rc == 0, run.failures
    assert not out.exists()  # check mode: queries, no file
    run = ansible_playbook("-i", inv, "playbooks/cost_report.yml", "-e", json.dumps(ev), *skip, env=env)
    assert run.rc == 0, run.failures
    assert sorted(os.listdir(out)) and {f"cost-report.{e}" for e in ("csv", "json", "md", "html")} <= set(os.listdir(out))
    rep = json.load(open(out / "cost-report.json"))
    import kofvm
    hand = sum(kofvm.expected(c, 720 - 14 * 24, 720)["total"] for c in fv.clusters)
    assert round(rep["totals"]["total"], 2) == round(hand, 2)
    assert "| alpha |" in run.stdout and "kof_cost_report" in run.stdout
    # the budget rules as a file (render mode queries nothing)
    rdir = tmp_path / "render"
    rdir.mkdir()
    run = ansible_playbook("-i", inv, "playbooks/cost_report.yml", "-e", json.dumps(dict(ev, kof_render_dir=str(rdir))),
                           env=env)
    assert run.rc == 0, run.failures
    obj = yaml.safe_load((rdir / "finops-budgets.yml").read_text())
    assert obj["kind"] == "VMRule" and {r["alert"] for r in obj["spec"]["groups"][0]["rules"]} == {
        "KofBudgetSpend_team_alpha_80", "KofBudgetSpend_team_alpha_100", "KofBudgetBurnRate_team_alpha",
        "KofBudgetForecast_team_alpha"}


def test_bad_budget_fails_before_any_query(fleet_vm, tmp_path):
    fv = fleet_vm
    inv = inventory(fv, tmp_path / "hosts.yml", prices=False, budgets=[{"team": "alpha", "amount": -3}])
    ev = {"kof_cost_promxy_url": "http://127.0.0.1:9", "kof_report_dir": str(tmp_path / "out")}
    run = ansible_playbook("-i", inv, "playbooks/cost_report.yml", "-e", json.dumps(ev), env=tool_env())
    assert run.rc != 0 and "amount: -3 must be a number > 0" in run.stdout, run.stdout[-3000:]


def test_cost_report_through_the_api_servers_service_proxy(fleet_vm, tmp_path):
    """The default path (no kof_cost_promxy_url): promxy's API through the management API server's
    services/proxy with the play's kubeconfig. kofsim forwards kof/kof-mothership-promxy:8082 to the real
    VictoriaMetrics (`kofsim expose`); before that the Service has no endpoints, which is a one-line error."""
    from kofsim.testing import Kofsim

    fv = fleet_vm
    inv = inventory(fv, tmp_path / "hosts.yml")
    out = tmp_path / "out"
    ev = {"kof_report_dir": str(out), "kof_cost_period": {"start": fv.end - 2 * 86400, "end": fv.end},
          "kof_render_dir": ""}
    with Kofsim(tmp_path / "sim", bare=True) as k:
        k.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kof"}})
        k.call("POST", "/api/v1/namespaces/kof/services",
               {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kof-mothership-promxy"},
                "spec": {"ports": [{"name": "http", "port": 8082}]}})
        env = tool_env({"K8S_AUTH_KUBECONFIG": k.kubeconfig, "KUBECONFIG": k.kubeconfig}, home=tmp_path)
        args = ("-i", inv, "playbooks/cost_report.yml", "-e", json.dumps(ev), "--skip-tags", "finops_budgets")
        run = ansible_playbook(*args, env=env)
        assert run.rc != 0 and 'no endpoints available for service' in run.stdout + run.stderr, run.stdout[-3000:]
        assert not out.exists()
        k.call("PUT", "/kofsim/services", {"cluster": "", "namespace": "kof", "name": "kof-mothership-promxy",
                                           "port": 8082, "url": fv.vm.url})
        run = ansible_playbook(*args, env=env)
        assert run.rc == 0, run.failures
        paths = [r["path"] for r in k.requests() if "/proxy/" in r["path"]]
        assert paths and all(p.startswith("/api/v1/namespaces/kof/services/kof-mothership-promxy:8082/proxy/api/v1/")
                             for p in paths)
    rep = json.load(open(out / "cost-report.json"))
    import kofvm
    hand = sum(kofvm.expected(c, 720 - 2 * 24, 720)["total"] for c in fv.clusters)
    assert round(rep["totals"]["total"], 2) == round(hand, 2)


def test_kof_1x_budget_rules_are_kof_mothership_values(fleet_vm, tmp_path):
    """KOF 1.x: the budget rules are kof-mothership values (defaultAlertRules), published as
    finops_mothership_values and rendered as a file; nothing is queried or written."""
    inv = inventory(fleet_vm, tmp_path / "hosts.yml", prices=False, budgets=[{"namespace": "ml", "amount": 500}])
    rdir = tmp_path / "render"
    rdir.mkdir()
    ev = {"kof_version": "1.10.0", "kof_render_dir": str(rdir), "kof_dns_mode": "none",
          "kof_cluster_template": "aws-standalone-cp-1-0-28"}
    run = ansible_playbook("-i", inv, "playbooks/cost_report.yml", "-e", json.dumps(ev), "--tags", "finops_budgets",
                           "-v", env=tool_env())
    assert run.rc == 0, run.stdout[-3000:]
    values = yaml.safe_load((rdir / "finops-budgets.yml").read_text())
    rules = values["defaultAlertRules"]
    assert "kof-finops-budgets" in rules, values
    assert "KofBudgetSpend_namespace_ml_100" in json.dumps(rules)
    assert "finops_mothership_values" in run.stdout
