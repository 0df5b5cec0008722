"""render.yml for KOF 1.10, judged by the real sources: the umbrella kof release's values against the kof 1.10
chart's values schema (the stand-in's values.schema.json carries the real chart's keys), and every rendered
ClusterDeployment through a server-side dry run on a real kube-apiserver serving kcm v1.10.0's upstream CRDs
(k0rdent.mirantis.com/v1beta1) with fieldValidation=Strict and no field pruned. Nothing contacts a cluster while
rendering; kof-operator's objects (PromxyServerGroups, ConfigMaps) are not rendered - it makes them."""
from __future__ import annotations

import json
import os

import jsonschema
import pytest
import yaml

from kofsim import realapi
from kofsim.testing import RealKube
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.realapi.conftest import Api, missing_fields

CHART = ROOT / "kofsim" / "kofsim" / "charts-1.10" / "kof"
P = "k0rdent.mirantis.com/"
REGIONS = {"eu-store": ("logs.eu.acme-corp.io", "gp3-encrypted", "eu-central-1"),
           "us-store": ("obs-us.acme-corp.io", "", "us-west-2")}
CHILDREN = {"eu-payments": "eu-store", "us-batch": "us-store"}
EMAIL = "sre-oncall@acme-corp.io"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    inv = tmp_path_factory.mktemp("inventory")
    hosts = {"all": {"children": {
        "kof_management": {"hosts": {"mgmt": None}},
        "kof_regional": {"hosts": {name: {"kof_regional_domain": dom, "kof_regional_region": region,
                                          **({"kof_regional_storage_class": sc} if sc else {})}
                                   for name, (dom, sc, region) in REGIONS.items()}},
        "kof_child": {"hosts": {c: {"kof_regional": r} for c, r in CHILDREN.items()}}}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inv / "group_vars").mkdir()
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "kof_version": "1.10.0", "kof_admin_email": EMAIL, "kof_base_domain": "unused.acme-corp.io",
        "kof_storage_class": "standard-rwo", "kof_cluster_template": "aws-standalone-cp-1-0-28"}))
    out = tmp_path_factory.mktemp("render")
    # no kubeconfig at all: rendering must not need a cluster
    env = {k: v for k, v in tool_env(home=tmp_path_factory.mktemp("home")).items()
           if not k.startswith("K8S_AUTH_") and k != "KUBECONFIG"}
    run = ansible_playbook("-i", inv, "playbooks/render.yml", "-e", f"kof_render_dir={out}", env=env)
    assert run.rc == 0 and not run.failed_hosts, run
    cds = {f.stem.split("--", 1)[1]: yaml.safe_load(f.read_text())
           for f in sorted((out / "clusterdeployments").glob("*.yaml"))}
    return {"dir": out, "cds": cds, "run": run}


def test_the_management_tier_is_the_umbrella_release(rendered):
    out = rendered["dir"]
    assert sorted(p.name for p in (out / "helm").iterdir()) == ["kof.values.yaml", "releases.yaml"]
    assert not (out / "promxyservergroups").exists() and not (out / "grafanadatasources").exists()
    releases = yaml.safe_load((out / "helm" / "releases.yaml").read_text())["releases"]
    assert releases == [{"release": "kof", "namespace": "kof", "chart": "oci://ghcr.io/k0rdent/kof/charts/kof",
                         "version": "1.10.0", "values_file": "helm/kof.values.yaml"}]
    assert "--reset-values" in (out / "helm" / "releases.yaml").read_text()
    values = yaml.safe_load((out / "helm" / "kof.values.yaml").read_text())
    jsonschema.validate(values, json.loads((CHART / "values.schema.json").read_text()))
    assert values["kof-mothership"]["values"]["global"]["storageClass"] == "standard-rwo"
    assert values["kof-mothership"]["values"]["kcm"]["namespace"] == "kcm-system"


def test_the_clusters_say_what_they_are(rendered):
    cds = rendered["cds"]
    assert set(cds) == set(REGIONS) | set(CHILDREN)
    for name, (domain, sc, region) in REGIONS.items():
        cd = cds[name]
        assert cd["apiVersion"] == "k0rdent.mirantis.com/v1beta1"
        assert cd["metadata"]["labels"][P + "kof-cluster-role"] == "regional"
        assert cd["metadata"]["labels"][P + "kof-version"] == "1.10.0"
        ann = cd["spec"]["config"]["clusterAnnotations"]
        assert ann[P + "kof-regional-domain"] == domain and ann[P + "kof-cert-email"] == EMAIL
        assert ann.get(P + "kof-storage-class", "") == sc
        assert cd["spec"]["config"]["region"] == region and "serviceSpec" not in cd["spec"]
    for child, regional in CHILDREN.items():
        labels = cds[child]["metadata"]["labels"]
        assert labels[P + "kof-cluster-role"] == "child" and labels[P + "kof-regional-cluster-name"] == regional


@pytest.fixture(scope="module")
def api_1x(tmp_path_factory):
    reason = realapi.missing()
    if reason and not os.environ.get("KOFSIM_REQUIRE_REAL"):
        pytest.skip(f"the real API backend is not built: {reason}")
    k = RealKube(tmp_path_factory.mktemp("real-1x"), kcm_api_version="v1beta1")
    k.start()
    yield Api(k.kubeconfig, tmp_path_factory.mktemp("pki"))
    k.stop()


@pytest.mark.slow
def test_every_clusterdeployment_passes_a_strict_dry_run_without_pruning(rendered, api_1x):
    status, body, _ = api_1x.call("POST", "/api/v1/namespaces", {"metadata": {"name": "kcm-system"}})
    assert status in (201, 409), body
    path = "/apis/k0rdent.mirantis.com/v1beta1/namespaces/kcm-system/clusterdeployments"
    for name, obj in rendered["cds"].items():
        status, got, warnings = api_1x.call("POST", path + "?dryRun=All&fieldValidation=Strict", obj)
        assert status == 201, (name, got.get("message", got))
        assert not warnings, (name, warnings)
        sent = {k: v for k, v in obj.items() if k != "metadata"}
        assert missing_fields(sent, got) == [], (name, missing_fields(sent, got))
        assert missing_fields(obj["metadata"].get("labels") or {}, got["metadata"].get("labels") or {}) == []
    status, lst, _ = api_1x.call("GET", path)
    assert status == 200 and lst["items"] == []
