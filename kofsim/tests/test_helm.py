"""helm 3 and helm 4 against kofsim: install, upgrade, --wait, lookup-preserved secrets, uninstall."""
import base64
import json

import pytest

from kofsim_clients import helm, kubectl

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\nmsg: hello\nextra: true\n",
    "crds/widgets.yaml": """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {size: {type: integer}}}}}}
""",
    "templates/all.yaml": """apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-cm}
data:
  msg: {{ .Values.msg | quote }}
  {{- if .Values.extra }}
  extra: "yes"
  {{- end }}
---
{{- $old := lookup "v1" "Secret" .Release.Namespace (printf "%s-sec" .Release.Name) }}
apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-sec}
data:
  pw: {{ if $old }}{{ index $old.data "pw" }}{{ else }}{{ randAlpha 12 | b64enc }}{{ end }}
---
apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}-svc}
spec: {selector: {app: {{ .Release.Name }}}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-web}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: {{ .Release.Name }}-w}
spec: {size: 3}
""",
}


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    d = tmp_path_factory.mktemp("chart")
    for rel, text in CHART.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return d


@pytest.mark.parametrize("v", [3, 4])
def test_install_upgrade_wait_uninstall(bare, chart, v):
    ns = f"h{v}"
    rel = f"r{v}"
    seq = bare.last_seq()
    out = helm(bare, v, "install", rel, str(chart), "-n", ns, "--create-namespace", "--wait", "--timeout", "60s").stdout
    assert "STATUS: deployed" in out
    dep = json.loads(kubectl(bare, "get", "deploy", f"{rel}-web", "-n", ns, "-o", "json").stdout)
    assert dep["status"]["readyReplicas"] == 1  # --wait returned only once the pods were Ready
    reqs = bare.requests(since=seq)
    if v == 4:
        # helm 4 applies server-side and waits with WatchList watches (sendInitialEvents + bookmark)
        watches = [r for r in reqs if "watch=true" in r["query"] and r["path"].endswith("/deployments")]
        assert watches and all("sendInitialEvents=true" in r["query"] and "resourceVersionMatch=NotOlderThan"
                               in r["query"] and r["status"] == 200 for r in watches)
        assert any(r["method"] == "PATCH" and r["content_type"] == "application/apply-patch+yaml" for r in reqs)
    else:
        # helm 3 creates with POST and polls the Deployment's ReplicaSets and Pods
        assert any(r["method"] == "POST" and r["path"].endswith("/deployments") for r in reqs)
        assert any(r["path"].endswith("/replicasets") for r in reqs)
    pw1 = json.loads(kubectl(bare, "get", "secret", f"{rel}-sec", "-n", ns, "-o", "json").stdout)["data"]["pw"]
    helm(bare, v, "upgrade", rel, str(chart), "-n", ns, "--set", "replicas=2", "--set", "msg=bye",
         "--set", "extra=false", "--wait", "--timeout", "60s")
    cm = json.loads(kubectl(bare, "get", "cm", f"{rel}-cm", "-n", ns, "-o", "json").stdout)
    assert cm["data"] == {"msg": "bye"}  # the key dropped from the template is gone
    pw2 = json.loads(kubectl(bare, "get", "secret", f"{rel}-sec", "-n", ns, "-o", "json").stdout)["data"]["pw"]
    assert pw1 == pw2 and len(base64.b64decode(pw1)) == 12  # lookup preserved the random value
    rows = json.loads(helm(bare, v, "list", "-n", ns, "-o", "json").stdout)
    assert rows[0]["status"] == "deployed" and rows[0]["revision"] == "2"
    # an upgrade that changes nothing writes only helm's release records, and no resourceVersion moves
    before = json.loads(kubectl(bare, "get", "deploy,cm,svc,widgets", "-n", ns, "-o", "json").stdout)["items"]
    seq = bare.last_seq()
    helm(bare, v, "upgrade", rel, str(chart), "-n", ns, "--set", "replicas=2", "--set", "msg=bye",
         "--set", "extra=false", "--wait", "--timeout", "60s")
    after = json.loads(kubectl(bare, "get", "deploy,cm,svc,widgets", "-n", ns, "-o", "json").stdout)["items"]
    assert [o["metadata"]["resourceVersion"] for o in after] == [o["metadata"]["resourceVersion"] for o in before]
    changed = [r for r in bare.writes(since=seq) if "sh.helm.release" not in r["path"] and r["path"] !=
               f"/api/v1/namespaces/{ns}/secrets"]
    # helm 3 sends no patch for built-ins (three-way strategic patch is empty) but a merge patch re-adding its
    # labels for custom resources; helm 4 re-applies everything. Each of these is a no-op.
    assert changed and {r["status"] for r in changed} == {200}
    if v == 3:
        assert [r["path"] for r in changed] == [f"/apis/example.com/v1/namespaces/{ns}/widgets/{rel}-w"]
    helm(bare, v, "uninstall", rel, "-n", ns, "--wait")
    left = json.loads(kubectl(bare, "get", "deploy,cm,svc,secret", "-n", ns, "-o", "json").stdout)["items"]
    assert [i["metadata"]["name"] for i in left if i["metadata"]["name"].startswith(rel)] == []


@pytest.mark.parametrize("v", [3, 4])
def test_install_into_missing_namespace_fails(bare, chart, v):
    res = helm(bare, v, "install", f"m{v}", str(chart), "-n", f"missing{v}", check=False)
    assert res.returncode != 0 and "not found" in res.stderr
