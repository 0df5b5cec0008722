"""kofsim's KOF 1.10.0 stand-in charts (kofsim/kofsim/charts-1.10, "KOF 1.10.0 stand-ins" in kofsim/CHARTS.md):
each renders with its defaults, the real chart's values.yaml validates against its schema, helm 3 refuses an
unknown key (top level and nested in a closed object) with its schema error, and the real 1.x keys the
collection will set are accepted. No cluster: `helm template` only."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
HELM3 = ROOT / ".tools" / "bin" / "helm3"
CHARTS = ROOT / "kofsim" / "kofsim" / "charts-1.10"
TOOL = ROOT / "kofsim" / "tools" / "chart_schemas_1x.py"
MIRROR = Path(os.environ.get("KOFSIM_MIRROR", "/work/.mirror"))
NAMES = ("kof", "kof-operators", "kof-mothership", "kof-regional", "kof-child", "kof-storage", "kof-collectors",
         "kof-dashboards")
HEADER = "Error: values don't meet the specifications of the schema(s) in the following chart(s):\n"

# a closed object nested in each chart's own keys (kof-operators has none: its keys are its dependencies')
NESTED = {
    "kof": "flux.install.remediation",
    "kof-operators": None,
    "kof-mothership": "kcm.kof.operator",
    "kof-regional": "cert-manager.cluster-issuer",
    "kof-child": "fromManagement.toRegionalCluster",
    "kof-storage": "victoriametrics.vmauth.vmuser.credentials",
    "kof-collectors": "kof.instrumentation",
    "kof-dashboards": "grafana.dashboard.datasource.current",
}

MCS = {"kof-aws-dns-secrets": {"matchLabels": {"k0rdent.mirantis.com/kof-aws-dns-secrets": "true"},
                               "secrets": ["external-dns-aws-credentials"]}}
# real 1.10 keys the collection will set for KOF 1.x, chart by chart
ACCEPTED = {
    "kof": {
        "global": {"namespace": "kof", "components": ["kof-operators", "kof-mothership", "kof-regional", "kof-child"],
                   "helmRepo": {"kofManaged": {"enabled": True, "url": "oci://ghcr.io/k0rdent/kof/charts"},
                                "chartVersion": "1.10.0"}},
        "regionless": {"enabled": False, "clusterName": "mothership", "domain": "kof.example.com",
                       "certEmail": "admin@example.com"},
        "tls": {"selfSigned": True},
        "kof-mothership": {"enabled": True, "values": {"global": {"storageClass": "gp2"},
                                                       "kcm": {"kof": {"mcs": MCS}}}},
        "kof-regional": {"values": {"storage": {"victoria-logs-cluster": {
            "vlstorage": {"persistentVolume": {"size": "50Gi"}}}}}},
        "kof-child": {"values": {"fromManagement": {"toRegionalCluster": {"name": "region1"}}}},
    },
    "kof-operators": {"grafana-operator": {"enabled": True}, "opentelemetry-operator": {"enabled": True},
                      "prometheus-operator-crds": {"enabled": False}},
    "kof-mothership": {
        "global": {"storageClass": "gp2", "clusterName": "mothership"},
        "kcm": {"namespace": "kcm-system", "kof": {"mcs": MCS, "operator": {"crossNamespace": True}}},
        "regionless": {"enabled": False},
        "victoriametrics": {"vmcluster": {"enabled": True, "spec": {"vmstorage": {"storage": {"volumeClaimTemplate": {
            "spec": {"storageClassName": "gp2"}}}}}}},
        "grafana": {"enabled": True},
        "kof-dashboards": {"grafana": {"dashboard": {"filters": {"cluster": "mothership"}}}},
        "cert-manager-service-template": {"enabled": False},
        "external-dns": {"enabled": True},
    },
    "kof-regional": {
        "global": {"registry": "registry.example.com", "storageClass": "gp2"},
        "cert-manager": {"enabled": True, "cluster-issuer": {"provider": "self-signed"}},
        "gateway": {"enabled": True, "name": "gateway", "namespace": "kof"},
        "istio": {"enabled": False},
        "storage": {"global": {"storageClass": "gp2"},
                    "victoria-logs-cluster": {"vlstorage": {"persistentVolume": {"size": "50Gi"}}}},
        "collectors": {"opencost": {"enabled": True}},
    },
    "kof-child": {
        "global": {"registry": "registry.example.com"},
        "fromManagement": {"toManagementCluster": {"enabled": False},
                           "toRegionalCluster": {"name": "region1", "namespace": "kcm-system"}},
        "collectors": {"opencost": {"enabled": True}},
        "operators": {"grafana-operator": {"enabled": False}},
        "istio": {"enabled": False},
    },
    "kof-storage": {
        "global": {"storageClass": "gp2", "clusterName": "region1"},
        "cert-manager": {"cluster-issuer": {"provider": "letsencrypt", "create": True}},
        "victoria-logs-cluster": {"enabled": True, "vlstorage": {"persistentVolume": {"storageClassName": "gp2"}}},
        "external-dns": {"enabled": True},
        "kof-dashboards": {"enabled": True},
    },
    "kof-collectors": {
        "global": {"clusterName": "child1", "clusterNamespace": "kcm-system"},
        "collectors": {"enabled": True},
        "opencost": {"enabled": True},
        "kcm": {"monitoring": True},
    },
    "kof-dashboards": {"grafana": {"dashboard": {"filters": {"cluster": "region1"}}}},
}

pytestmark = pytest.mark.skipif(not HELM3.exists(), reason=f"no helm 3 at {HELM3}")


def helm_template(chart, tmp_path, *args):
    env = dict(os.environ, HOME=str(tmp_path), PATH=f"{HELM3.parent}:{Path(sys.executable).parent}:"
                                                    f"{os.environ.get('PATH', '')}")
    env.pop("KUBECONFIG", None)
    return subprocess.run([str(HELM3), "template", "x", str(CHARTS / chart), "-n", "kof", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def defaults(chart):
    return yaml.safe_load((CHARTS / chart / "values.yaml").read_text())


def schema(chart):
    return json.loads((CHARTS / chart / "values.schema.json").read_text())


def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def rendered_values(stdout):
    docs = [d for d in yaml.safe_load_all(stdout) if d]
    if any(d["kind"] == "HelmRelease" for d in docs):  # the kof umbrella renders its Flux objects (test_flux_1x.py)
        return {d["metadata"]["name"]: d["spec"]["values"] for d in docs if d["kind"] == "HelmRelease"}
    assert len(docs) == 1 and docs[0]["kind"] == "ConfigMap" and docs[0]["metadata"] == {
        "name": "x-values", "namespace": "kof"}
    return yaml.safe_load(docs[0]["data"]["values"])


def test_every_chart_is_there():
    assert sorted(p.name for p in CHARTS.iterdir() if p.is_dir()) == sorted(NAMES)
    for chart in NAMES:
        for f in ("Chart.yaml", "values.yaml", "values.schema.json",
                  "templates/helmreleases.yaml" if chart == "kof" else "templates/values.yaml"):
            p = CHARTS / chart / f
            assert p.exists() and p.stat().st_size < 1_000_000, p
        meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
        assert meta["name"] == chart and meta["version"] == "1.10.0" and "stand-in" in meta["description"]
        assert schema(chart)["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("chart", NAMES)
def test_renders_with_its_defaults(chart, tmp_path):
    proc = helm_template(chart, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert rendered_values(proc.stdout) == (umbrella_values(defaults(chart)) if chart == "kof" else defaults(chart))


@pytest.mark.parametrize("chart", NAMES)
def test_real_values_validate(chart):
    Draft7Validator.check_schema(schema(chart))
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in Draft7Validator(schema(chart)).iter_errors(
        defaults(chart))]
    assert errors == []


@pytest.mark.parametrize("chart", NAMES)
def test_unknown_keys_are_refused(chart, tmp_path):
    v = Draft7Validator(schema(chart))
    assert not v.is_valid(merge(defaults(chart), {"bogusKey": 1}))
    args = ["--set", "bogusKey=1"]
    expected = [f"{HEADER}{chart}:\n", "- (root): Additional property bogusKey is not allowed"]
    nested = NESTED[chart]
    if nested:
        args += ["--set", f"{nested}.bogusNested=1"]
        expected.append(f"- {nested}: Additional property bogusNested is not allowed")
        over = {}
        cur = over
        for part in nested.split("."):
            cur = cur.setdefault(part, {})
        cur["bogusNested"] = 1
        assert not v.is_valid(merge(defaults(chart), over))
    proc = helm_template(chart, tmp_path, *args)
    assert proc.returncode != 0
    for line in expected:
        assert line in proc.stderr, proc.stderr


def test_unknown_key_in_local_dependency_is_refused(tmp_path):
    """kof-dashboards (a file:// dependency of kof-mothership) is closed with its own keys."""
    proc = helm_template("kof-mothership", tmp_path, "--set", "kof-dashboards.grafana.bogusDash=1")
    assert proc.returncode != 0
    assert "- kof-dashboards.grafana: Additional property bogusDash is not allowed" in proc.stderr, proc.stderr


@pytest.mark.parametrize("chart", NAMES)
def test_collection_keys_are_accepted(chart, tmp_path):
    values = ACCEPTED[chart]
    errors = [e.message for e in Draft7Validator(schema(chart)).iter_errors(merge(defaults(chart), values))]
    assert errors == []
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(values))
    proc = helm_template(chart, tmp_path, "-f", str(vf))
    assert proc.returncode == 0, proc.stderr
    got = rendered_values(proc.stdout)
    want = merge(defaults(chart), values)
    assert got == (umbrella_values(want) if chart == "kof" else want)


def umbrella_values(v):
    """The HelmReleases' values the kof umbrella renders for values v (no regionless, no insecureSkipVerify)."""
    out = {}
    for name in list(v["global"]["components"]) + ["victoria-metrics-operator"]:
        if v[name].get("enabled"):
            vals = copy.deepcopy(v[name].get("values") or {})
            if name == "kof-mothership":
                vals = merge(vals, {"kcm": {"kof": {"repo": {"name": v["global"]["helmRepo"]["name"]}}}})
                if v["tls"]["selfSigned"]:
                    vals = merge(vals, {"cert-manager": {"cluster-issuer": {"provider": "self-signed",
                                                                            "name": "selfsigned"}},
                                        "gateway": {"annotations": {"cert-manager.io/cluster-issuer": "selfsigned"}}})
            if name == "kof-regional" and v["tls"]["selfSigned"]:
                vals = merge(vals, {"cert-manager": {"cluster-issuer": {"provider": "self-signed"}},
                                    "storage": {"cert-manager": {"cluster-issuer": {"provider": "self-signed",
                                                                                    "name": "selfsigned"}},
                                                "gateway": {"annotations": {
                                                    "cert-manager.io/cluster-issuer": "selfsigned"}}}})
            out[name] = vals
    return out


def test_unknown_component_entry_key_is_refused(tmp_path):
    """The umbrella's component entries are closed (enabled, dependsOn, values, notes ...); `values` is free."""
    proc = helm_template("kof", tmp_path, "--set", "kof-regional.bogusEntry=1",
                         "--set", "kof-regional.values.anything.goes=1")
    assert proc.returncode != 0
    assert "- kof-regional: Additional property bogusEntry is not allowed" in proc.stderr, proc.stderr
    assert "anything" not in proc.stderr


def _mirror_missing() -> bool:
    """No mirror of k0rdent/kof where the generator looks (chart_schemas.mirror_dir, shared by both tools)."""
    sys.path.insert(0, str(TOOL.parent))
    try:
        from chart_schemas import mirror_dir  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.remove(str(TOOL.parent))
    return not mirror_dir(MIRROR, "k0rdent/kof").exists()


@pytest.mark.skipif(_mirror_missing(), reason="no mirror of k0rdent/kof (fetch it to check the generator)")
def test_generator_matches_committed_files():
    proc = subprocess.run([sys.executable, str(TOOL), "--mirror", str(MIRROR), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
