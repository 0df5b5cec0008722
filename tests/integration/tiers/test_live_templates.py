"""Live ClusterDeployments keep their ClusterTemplate (issue 13, finding 5).

kcm v0.1.0's webhook refuses a spec.template change to a template that is not in the ClusterDeployment's
status.availableUpgrades. So a re-run with kof_cluster_template unset must not move live clusters to the newest
template, and a named template that kcm would refuse fails the batch before any write, listing what is offered."""
from __future__ import annotations

import json
import subprocess

import pytest

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.tiers.conftest import base_inventory, write_inventory

OLD, NEW = "aws-standalone-cp-0-1-0", "aws-standalone-cp-0-1-1"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-templates"))
    k.start()
    env = tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
    hosts, gv = base_inventory()
    # one region with one child is enough
    hosts["all"]["children"]["kof_regional"]["hosts"].pop("cloud1-region2")
    hosts["all"]["children"]["kof_child"]["children"].pop("kof_child_region2")
    hosts["all"]["children"]["kof_child"]["children"]["kof_child_region1"]["hosts"].pop("cloud1-region1-child2")
    gv["kof_report_dir"] = str(tmp_path_factory.mktemp("report"))
    gv["kof_verify_timeout"] = 60
    yield {"k": k, "env": env, "hosts": hosts, "gv": gv, "dir": tmp_path_factory.mktemp("inventory")}
    k.stop()


def run(small, playbook="playbooks/site.yml", **extra_gv):
    inv = write_inventory(small["dir"], small["hosts"], dict(small["gv"], **extra_gv))
    return ansible_playbook("-i", inv, playbook, env=small["env"])


def templates(small) -> dict:
    out = subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), "get", "clusterdeployments", "-n", "kcm-system",
                          "-o", "json"], capture_output=True, text=True, check=True,
                         env=small["env"] | {"KUBECONFIG": small["k"].kubeconfig})
    return {cd["metadata"]["name"]: cd["spec"]["template"] for cd in json.loads(out.stdout)["items"]}


def test_unset_template_keeps_the_live_one_and_a_refused_change_writes_nothing(small):
    first = run(small, kof_cluster_template=OLD)
    assert first.rc == 0 and not first.failed_hosts, first
    assert set(templates(small).values()) == {OLD}

    # kof_cluster_template unset: the newest valid template is aws-standalone-cp-0-1-1, but the live clusters stay
    k = small["k"]
    seq = k.last_seq()
    again = run(small)
    assert again.rc == 0 and again.changed == 0, again.recap
    assert k.writes(since=seq) == [] and set(templates(small).values()) == {OLD}

    # naming a template kcm would refuse fails before any write, with the upgrades on offer (none yet)
    seq = k.last_seq()
    refused = run(small, kof_cluster_template=NEW)
    assert refused.rc != 0
    assert f"ClusterDeployment kcm-system/cloud1-region1 runs ClusterTemplate {OLD} and kcm only allows a change to " \
           f"one of its status.availableUpgrades (none offered), not to {NEW}" in refused.stdout, refused.stdout[-3000:]
    assert [w for w in k.writes(since=seq) if "clusterdeployments" in w["path"]] == []
    assert set(templates(small).values()) == {OLD}


def test_a_named_available_upgrade_is_applied(small):
    chain = {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ClusterTemplateChain",
             "metadata": {"name": "aws-standalone-cp", "namespace": "kcm-system"},
             "spec": {"supportedTemplates": [{"name": OLD, "availableUpgrades": [{"name": NEW}]}, {"name": NEW}]}}
    subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), "apply", "-f", "-"], input=json.dumps(chain),
                   text=True, check=True, capture_output=True, env=small["env"] | {"KUBECONFIG": small["k"].kubeconfig})
    upgraded = run(small, kof_cluster_template=NEW)
    assert upgraded.rc == 0 and not upgraded.failed_hosts, upgraded
    assert set(templates(small).values()) == {NEW}
    assert upgraded.recap["cloud1-region1"]["changed"] and upgraded.recap["cloud1-region1-child1"]["changed"]
