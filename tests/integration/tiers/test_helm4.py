"""The management tier with helm 4 (kof_helm_binary=helm4): kubernetes.core.helm 6.2 speaks only helm 3, so
k0rdent.kof.helm_release drives either. Against a fresh kofsim: --check writes nothing and predicts both charts,
the first run installs kof-operators then kof-mothership as helm 4 releases, a re-run changes and writes
nothing, and a chart version bump upgrades both releases (a new revision each)."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from kofsim.testing import Kofsim
from tests.helpers import ansible_playbook, bumped_charts, tool_env
from tests.integration.tiers.conftest import base_inventory, write_inventory


@pytest.fixture(scope="module")
def mgmt(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-helm4"))
    k.start()
    env = tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
    hosts, gv = base_inventory()
    gv["kof_helm_binary"] = "helm4"
    inv = write_inventory(tmp_path_factory.mktemp("inventory"), hosts, gv)
    yield {"k": k, "env": env, "inv": inv, "tmp": tmp_path_factory.mktemp("charts")}
    k.stop()


def mothership(mgmt, *args):
    return ansible_playbook("-i", mgmt["inv"], "playbooks/mothership.yml", *args, env=mgmt["env"])


def releases(k: Kofsim) -> dict:
    """{release: (revision, status, chart version)} from helm's release Secrets in namespace kof."""
    out = {}
    for item in k.call("GET", "/api/v1/namespaces/kof/secrets?labelSelector=owner%3Dhelm")["items"]:
        labels = item["metadata"]["labels"]
        rel = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(item["data"]["release"]))))
        if labels["status"] == "deployed":
            out[labels["name"]] = (int(labels["version"]), labels["status"], rel["chart"]["metadata"]["version"])
    return out


def test_helm4_check_install_rerun_and_upgrade(mgmt):
    k = mgmt["k"]
    seq = k.last_seq()
    check = mothership(mgmt, "--check")
    assert check.rc == 0, check
    assert check.changed >= 1 and k.writes(since=seq) == [], check
    assert "kof-operators" in check.stdout and "kof-mothership" in check.stdout

    first = mothership(mgmt)
    assert first.rc == 0 and first.changed >= 1, first
    assert {name: rev for name, (rev, _, _) in releases(k).items()} == {"kof-operators": 1, "kof-mothership": 1}

    seq = k.last_seq()
    again = mothership(mgmt)
    assert again.rc == 0 and again.changed == 0, again
    assert k.writes(since=seq) == []

    charts = bumped_charts(mgmt["tmp"])
    upgrade = mothership(mgmt, "-e", f"kof_chart_repository={charts}", "-e", "kof_chart_version=0.1.2")
    assert upgrade.rc == 0 and upgrade.changed >= 1, upgrade
    assert releases(k) == {"kof-operators": (2, "deployed", "0.1.2"), "kof-mothership": (2, "deployed", "0.1.2")}
