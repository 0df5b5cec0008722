"""The stand-in charts' values.schema.json (kofsim/CHARTS.md): helm 3 and helm 4 refuse what the real KOF 0.1.1
charts lack, accept the real defaults and the guide's example values, and catalog.py (what Sveltos installs on
the virtual clusters) refuses the same values with helm 3's message; the objects that carry storage classes and
the ClusterIssuer's e-mail are the ones the real charts would render."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from kofsim.k0rdent import catalog
from kofsim_clients import BIN, kubectl
from test_k0rdent import NS, apply, install_management, regional_cd, summaries, wait_for

CHARTS = Path(__file__).resolve().parents[1] / "kofsim" / "charts"
TOOL = Path(__file__).resolve().parents[1] / "tools" / "chart_schemas.py"
KOF_CHARTS = ("kof-operators", "kof-mothership", "kof-storage", "kof-collectors")
DOMAIN = "region1.kof.example.com"

# the guide's example values (/work/shared/reference/kof-install-guide.md), chart by chart
GUIDE_MOTHERSHIP = {"kcm": {"installTemplates": True, "kof": {"clusterProfiles": {"kof-aws-dns-secrets": {
    "matchLabels": {"k0rdent.mirantis.com/kof-aws-dns-secrets": "true"},
    "secrets": ["external-dns-aws-credentials"]}}}},
    "global": {"storageClass": "gp2"}}
GUIDE_STORAGE = {  # Regional Cluster, step 3; victoriametrics.security is a key kof-storage 0.1.1 lacks
    "external-dns": {"enabled": True},
    "victoriametrics": {"vmauth": {"ingress": {"host": f"vmauth.{DOMAIN}"}},
                        "security": {"username_key": "username", "password_key": "password",
                                     "credentials_secret_name": "storage-vmuser-credentials"}},
    "grafana": {"ingress": {"host": f"grafana.{DOMAIN}"},
                "security": {"credentials_secret_name": "grafana-admin-credentials"}},
    "cert-manager": {"email": "admin@example.com"}}
GUIDE_STORAGE_FIXED = {k: v for k, v in GUIDE_STORAGE.items() if k != "victoriametrics"} | {
    "victoriametrics": {"vmauth": GUIDE_STORAGE["victoriametrics"]["vmauth"]}}
GUIDE_STORAGE_CLASS = {  # Regional Cluster, step 4
    "global": {"storageClass": "gp2"},
    "victoria-logs-single": {"server": {"storage": {"storageClassName": "gp2"}}}}
GUIDE_COLLECTORS = {  # Child Cluster, step 3
    "global": {"clusterName": "child1"},
    "opencost": {"enabled": True, "opencost": {
        "prometheus": {"username_key": "username", "password_key": "password",
                       "existingSecretName": "storage-vmuser-credentials",
                       "external": {"url": f"https://vmauth.{DOMAIN}/vm/select/0/prometheus"}},
        "exporter": {"defaultClusterId": "child1"}}},
    "kof": {kind: {"username_key": "username", "password_key": "password",
                   "credentials_secret_name": "storage-vmuser-credentials", "endpoint": url}
            for kind, url in (("logs", f"https://vmauth.{DOMAIN}/vls/insert/opentelemetry/v1/logs"),
                              ("metrics", f"https://vmauth.{DOMAIN}/vm/insert/0/prometheus/api/v1/write"))}}

# one key each real chart lacks (in its own tree, and in a dependency's subtree): (values, field, property)
UNKNOWN = {
    "kof-operators": [({"bogus": True}, "(root)", "bogus"),
                      # opentelemetry-operator 0.75.1's own schema
                      ({"opentelemetry-operator": {"manager": {"bogus": 1}}}, "opentelemetry-operator.manager",
                       "bogus")],
    "kof-mothership": [({"grafana": {"bogus": 1}}, "grafana", "bogus"),
                       ({"victoria-metrics-operator": {"crds": {"bogus": 1}}}, "victoria-metrics-operator.crds",
                        "bogus")],
    "kof-storage": [({"victoriametrics": {"security": {"credentials_secret_name": "x"}}}, "victoriametrics",
                     "security"),
                    ({"victoria-logs-single": {"server": {"storage": {"size": "10Gi"}}}},
                     "victoria-logs-single.server.storage", "size"),
                    ({"grafana": {"storage": {"size": "1Gi"}}}, "grafana", "storage"),
                    ({"global": {"lint": True}, "external-dns": {"bogus": 1}}, "external-dns", "bogus")],
    "kof-collectors": [({"kof": {"basic_auth": False}}, "kof", "basic_auth"),
                       ({"opencost": {"opencost": {"prometheus": {"bogus": 1}}}}, "opencost.opencost.prometheus",
                        "bogus")],
}
HEADER = "values don't meet the specifications of the schema(s) in the following chart(s):\n"


def helm_template(version, chart, values, tmp_path, *extra):
    vf = tmp_path / f"values-{chart}.yaml"
    vf.write_text(yaml.safe_dump(values))
    env = dict(os.environ, HOME=str(tmp_path), PATH=f"{BIN}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("KUBECONFIG", None)
    return subprocess.run([str(BIN / f"helm{version}"), "template", chart, str(CHARTS / chart), "-n", "kof",
                           "-f", str(vf), *extra], capture_output=True, text=True, env=env, timeout=120)


def defaults(chart) -> dict:
    return yaml.safe_load((CHARTS / chart / "values.yaml").read_text())


def catalog_error(chart, values) -> str | None:
    try:
        catalog.validate_values(chart, catalog.merge(defaults(chart), values))
    except catalog.RenderError as err:
        return str(err)
    return None


def vmuser_lookup(_api, kind, _ns, name):
    if kind == "Secret" and name == "storage-vmuser-credentials":
        return {"data": {"username": "dXNlcg==", "password": "cGFzcw=="}}
    return None


@pytest.mark.parametrize("chart", KOF_CHARTS)
def test_schemas_are_draft07_closed_objects(chart):
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    # the real chart's defaults (the stand-in's values.yaml) meet it
    assert not catalog.schema_errors(chart, defaults(chart))


@pytest.mark.parametrize("chart", KOF_CHARTS)
@pytest.mark.parametrize("v", [3, 4])
def test_helm_refuses_what_the_real_chart_lacks(chart, v, tmp_path):
    for values, field, prop in UNKNOWN[chart]:
        res = helm_template(v, chart, values, tmp_path)
        assert res.returncode != 0, (values, res.stdout)
        expected = catalog_error(chart, values)
        # catalog.py (the Sveltos path) words it as helm 3 does
        assert expected == f"{HEADER}{chart}:\n- {field}: Additional property {prop} is not allowed\n"
        if v == 3:
            assert res.stderr.endswith(f"Error: {expected}\n"), res.stderr
        else:  # helm 4 validates with another library: same header, its own wording
            pointer = "" if field == "(root)" else "/" + field.replace(".", "/")
            assert f"Error: {HEADER}{chart}:\n- at '{pointer}': additional properties '{prop}' not allowed\n" \
                in res.stderr, res.stderr


@pytest.mark.parametrize("v", [3, 4])
def test_helm_accepts_the_real_defaults_and_the_guides_values(v, tmp_path):
    lint = {"global": {"lint": True}}  # the real charts' switch that skips the credentials lookup (no cluster)
    cases = [("kof-operators", {}), ("kof-mothership", {}), ("kof-mothership", GUIDE_MOTHERSHIP),
             ("kof-storage", lint), ("kof-collectors", lint),
             ("kof-storage", catalog.merge(catalog.merge(lint, GUIDE_STORAGE_FIXED), GUIDE_STORAGE_CLASS)),
             ("kof-collectors", catalog.merge(lint, GUIDE_COLLECTORS))]
    for chart, values in cases:
        res = helm_template(v, chart, values, tmp_path)
        assert res.returncode == 0, (chart, values, res.stderr)
        if chart != "kof-mothership":  # kof-mothership is installed with helm, never through Sveltos
            catalog.objects_for(chart, chart, "kof", values, vmuser_lookup)


def test_the_guides_regional_values_are_refused_for_victoriametrics_security(tmp_path):
    """The guide puts `security` under `victoriametrics`: kof-storage 0.1.1 has no such key (its templates read
    victoriametrics.vmauth.credentials); the real chart ignores it silently, the stand-in refuses it."""
    res = helm_template(3, "kof-storage", GUIDE_STORAGE, tmp_path)
    assert res.returncode != 0
    assert res.stderr == (f"Error: {HEADER}kof-storage:\n"
                          "- victoriametrics: Additional property security is not allowed\n\n")
    with pytest.raises(catalog.RenderError) as err:
        catalog.objects_for("kof-storage", "kof-storage", "kof", GUIDE_STORAGE, vmuser_lookup)
    assert res.stderr == f"Error: {err.value}\n"


def test_catalog_lists_what_helm3_lists(tmp_path):
    """Type errors, enums, oneOf (opentelemetry-operator's schema), several properties at once: the same lines
    (helm 3 orders them at random: gojsonschema walks Go maps)."""
    cases = [
        ("kof-storage", {"global": {"lint": True}, "victoriametrics": "yes",
                         "external-dns": {"provider": 5, "service": {"port": "x", "ipFamilies": ["IPv5"]},
                                          "extraArgs": [1], "secretConfiguration": {"enabled": "no"}},
                         "victoria-logs-single": {"zz": 1, "yy": 2, "server": {"persistentVolume": {"sz": 1}}}}),
        ("kof-operators", {"opentelemetry-operator": {"pdb": {"minAvailable": True}, "replicaCount": "2",
                                                      "manager": {"env": {"A": 1}}}}),
        ("kof-mothership", {"kcm": {"kof": {"charts": {"x": {"version": "1"}, "other": "z"},
                                            "clusterProfiles": {"p": {"secrets": ["s"], "bad": 1}}}}}),
        ("kof-collectors", {"kof": {"logs": {"x": 1}}, "opencost": {"opencost": {"exporter": []}}}),
    ]
    for chart, values in cases:
        res = helm_template(3, chart, values, tmp_path)
        lines = sorted(line[2:] for line in res.stderr.splitlines() if line.startswith("- "))
        assert res.returncode != 0 and lines, res.stderr
        assert sorted(catalog.schema_errors(chart, catalog.merge(defaults(chart), values))) == lines, chart


def _objects(res):
    assert res.returncode == 0, res.stderr
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(res.stdout) if o}


def test_storage_classes_volumes_and_email_as_the_real_charts(tmp_path):
    """Every PVC kof-storage 0.1.1 creates, with the class the real templates use: vmselect and vmstorage
    (VMCluster) and Grafana from global.storageClass; VictoriaLogs from
    victoria-logs-single.server.persistentVolume (off by default: an emptyDir). The ClusterIssuer's e-mail comes
    from the key "email " only. helm template and catalog.py render the same objects."""
    base = {"global": {"lint": True, "storageClass": "gp2"}}
    cases = {
        "defaults": base,
        "guide": catalog.merge(base, GUIDE_STORAGE_CLASS),
        "vls-pvc": catalog.merge(base, {"victoria-logs-single": {"server": {"persistentVolume": {
            "enabled": True, "storageClassName": "gp3", "size": "20Gi"}}}, "cert-manager": {"email ": "a@b.c"}}),
        "vls-deployment": catalog.merge(base, {"victoria-logs-single": {"server": {
            "statefulSet": {"enabled": False}, "persistentVolume": {"enabled": True, "storageClassName": "gp3"}}}}),
    }
    kinds = {"StatefulSet", "Deployment", "PersistentVolumeClaim", "VMCluster", "Grafana", "ClusterIssuer"}
    for case, values in cases.items():
        helm = _objects(helm_template(3, "kof-storage", values, tmp_path))
        cat = {(o["kind"], o["metadata"]["name"]): o
               for o in catalog.objects_for("kof-storage", "kof-storage", "kof", values, vmuser_lookup)[1]}
        for key in [k for k in helm if k[0] in kinds]:
            assert json.loads(json.dumps(helm[key])) == cat.get(key), (case, key)
        vls = helm.get(("StatefulSet", "kof-storage-victoria-logs-single-server"), {}).get("spec", {})
        claims = {c["metadata"]["name"]: c["spec"] for c in vls.get("volumeClaimTemplates", [])}
        vmc = helm[("VMCluster", "cluster")]["spec"]
        assert vmc["vmselect"]["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp2"
        assert vmc["vmstorage"]["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp2"
        assert (vmc["replicationFactor"], vmc["vmstorage"]["replicaCount"]) == (2, 3)  # the template's defaults
        assert helm[("Grafana", "grafana-vm")]["spec"]["persistentVolumeClaim"]["spec"]["storageClassName"] == "gp2"
        email = helm[("ClusterIssuer", "letsencrypt-prod")]["spec"]["acme"]["email"]
        if case in ("defaults", "guide"):  # the guide's server.storage.storageClassName has no effect
            assert claims == {} and email == ""  # cert-manager.email (mail@example.net) is not what it reads
        elif case == "vls-pvc":
            assert claims == {"server-volume": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                                                "resources": {"requests": {"storage": "20Gi"}}}}
            assert email == "a@b.c"
        else:
            pvc = helm[("PersistentVolumeClaim", "kof-storage-victoria-logs-single-server")]["spec"]
            assert pvc == {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                           "resources": {"requests": {"storage": "3Gi"}}}


def test_sveltos_reports_the_schema_error(k0rdent, tmp_path):
    """Through a ClusterDeployment, as the guide does it: the service fails with helm's message."""
    k = k0rdent
    k.reset()
    install_management(k, 3, tmp_path)
    cd = regional_cd("schema")
    for svc in cd["spec"]["serviceSpec"]["services"]:
        if svc["name"] == "kof-storage":
            svc["values"] = yaml.safe_dump(GUIDE_STORAGE)
    apply(k, cd)
    message = catalog_error("kof-storage", GUIDE_STORAGE)
    got = wait_for(lambda: (summaries(k).get("p--schema-capi-schema") or {}).get("Helm"), "a Helm summary")
    assert got == ("Failed", f"kof-storage: Error: {message}"), got
    # without the key, the same service installs
    fixed = yaml.safe_dump(GUIDE_STORAGE_FIXED)
    kubectl(k, "patch", "cld", "-n", NS, "schema", "--type", "json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/serviceSpec/services/2/values", "value": fixed}]))
    wait_for(lambda: (summaries(k).get("p--schema-capi-schema") or {}).get("Helm", ("",))[0] == "Provisioned",
             "Provisioned")


def _missing_mirrors() -> list:
    """The upstream repositories the generator reads that have no mirror here (kofsim/CHARTS.md)."""
    spec = importlib.util.spec_from_file_location("chart_schemas", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    root = os.environ.get("KOFSIM_MIRROR", "/work/.mirror")
    return [r for r in tool.UPSTREAM if not tool.mirror_dir(root, r).exists()]


@pytest.mark.skipif(bool(_missing_mirrors()), reason="needs the upstream mirrors (kofsim/CHARTS.md)")
def test_committed_schemas_are_the_generated_ones():
    res = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
