"""Real clients against both backends, replaying the recorded client sequences
(/work/shared/reference/client-request-sequences): kubectl (its requests, from -v=6, and its output), helm 3 and
helm 4 (install, upgrade, list, uninstall: their output and the objects and release Secrets they leave), the
kubernetes Python client's DynamicClient, and kubernetes.core modules through ansible-playbook (first and second
run). What each client gets is compared; a client's own timing (ages, dates) is masked.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .cases import MERGE, _list_pick, strip_controlled
from .suite import ROOT, TOOLS_BIN

DATE_PATTERNS = [
    (re.compile(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( ?[+-]\d{4})?( [A-Z]{2,5})?Z?"), "<date>"),
    (re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d+ "
                r"\d\d:\d\d:\d\d \d{4}"), "<date>"),
    (re.compile(r"(?<=\s)\d+(\.\d+)?(ms|s|m|h|d)(\d+(s|m))?(?=\s|$)"), "<age>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "<server>"),
    (re.compile(r"hash=[0-9A-Fa-f]+"), "hash=<hash>"),
]


def mask_text(text: str, home: str | None = None) -> str:
    """A client's output without its clock (dates, ages), the server's address, and column padding (which follows
    the width of the dates)."""
    for pat, rep in DATE_PATTERNS:
        text = pat.sub(rep, text)
    if home:
        text = text.replace(home, "<home>")
    return "\n".join(re.sub(r"[ \t]+", " ", line).rstrip() for line in text.splitlines())


def _run(s, argv, *, input=None, timeout=120, env_extra=None):
    env = s.env()
    env.update(env_extra or {})
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, input=input, timeout=timeout,
                          cwd=str(s.workdir))
    return proc


REQ_LINE = re.compile(r'"Response" verb="(\w+)" url="https?://[^/"]+([^"]*)" status="(\d+)')


def kubectl(s, label, *args, input=None, requests=True, compare_out=True):
    """Runs kubectl -v=6; records its exit code, masked output and the requests it sent (method, path, status)."""
    proc = _run(s, [str(TOOLS_BIN / "kubectl"), "-v=6", *args], input=input)
    reqs = [f"{m.group(3)} {m.group(1)} {mask_text(m.group(2))}" for m in REQ_LINE.finditer(proc.stderr)]
    errors = [ln for ln in proc.stderr.splitlines() if not re.match(r"^[IWE]\d{4} ", ln)]
    value = {"rc": proc.returncode}
    if compare_out:
        value["stdout"] = mask_text(proc.stdout, str(s.home))
        value["stderr"] = mask_text("\n".join(errors), str(s.home))
    if requests:
        value["requests"] = reqs
    s.check(f"kubectl {label}", value, {"stdout": proc.stdout, "stderr": proc.stderr})
    return proc


# ------------------------------------------------------------------------------------------ kubectl
CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: c2
  namespace: cli-kubectl
  labels: {app: seq}
data:
  a: "1"
"""

PROFILE = """apiVersion: config.projectsveltos.io/v1beta1
kind: ClusterProfile
metadata:
  name: cli-profile
spec:
  clusterSelector:
    matchLabels: {env: cli}
  helmCharts:
  - repositoryURL: https://charts.example
    repositoryName: ex
    chartName: ex/app
    chartVersion: 1.0.0
    releaseName: app
    releaseNamespace: app
    helmChartAction: Install
"""


def case_kubectl(s):
    d = Path(tempfile.mkdtemp(dir=s.workdir))
    (d / "cm.yaml").write_text(CM)
    (d / "profile.yaml").write_text(PROFILE)
    # kubectl_create_ns_protobuf: kubectl create sends protobuf
    kubectl(s, "create namespace (protobuf body)", "create", "namespace", "cli-kubectl")
    s.wait("namespace initialized", lambda: s.get(
        "/api/v1/namespaces/cli-kubectl/configmaps/kube-root-ca.crt").status == 200)
    # kubectl_apply_create, kubectl_apply_again, kubectl_apply_ssa
    kubectl(s, "apply (create)", "apply", "-f", str(d / "cm.yaml"))
    s.req("object after client-side apply", "GET", "/api/v1/namespaces/cli-kubectl/configmaps/c2")
    kubectl(s, "apply again (unchanged)", "apply", "-f", str(d / "cm.yaml"))
    (d / "cm.yaml").write_text(CM.replace('a: "1"', 'a: "2"'))
    kubectl(s, "apply a change", "apply", "-f", str(d / "cm.yaml"))
    s.req("object after the change", "GET", "/api/v1/namespaces/cli-kubectl/configmaps/c2")
    kubectl(s, "apply --server-side (takes over)", "apply", "--server-side", "-f", str(d / "cm.yaml"))
    s.req("object after server-side apply", "GET", "/api/v1/namespaces/cli-kubectl/configmaps/c2")
    kubectl(s, "diff (server-side dry run)", "diff", "-f", str(d / "cm.yaml"))
    # kubectl_wait: a missing object
    kubectl(s, "wait for a missing deployment", "wait", "-n", "cli-kubectl", "deploy/none",
            "--for=condition=Available", "--timeout=2s")
    kubectl(s, "get configmaps (table)", "get", "configmaps", "-n", "cli-kubectl", "-l", "app=seq")
    kubectl(s, "get configmap -o json", "get", "configmap", "c2", "-n", "cli-kubectl", "-o",
            "jsonpath={.data}{.metadata.labels}")
    kubectl(s, "apply a custom resource", "apply", "-f", str(d / "profile.yaml"))
    kubectl(s, "apply a custom resource again", "apply", "-f", str(d / "profile.yaml"))
    kubectl(s, "get custom resources (table)", "get", "clusterprofiles", "-l", "!absent")
    kubectl(s, "explain (OpenAPI v3)", "explain", "clusterprofiles.spec.clusterSelector", requests=False)
    kubectl(s, "label", "label", "configmap", "c2", "-n", "cli-kubectl", "extra=yes")
    kubectl(s, "delete", "delete", "-f", str(d / "cm.yaml"), "--wait=false")
    kubectl(s, "delete the custom resource", "delete", "clusterprofile", "cli-profile", "--wait=false")
    kubectl(s, "get a missing object", "get", "configmap", "c2", "-n", "cli-kubectl")


# ------------------------------------------------------------------------------------------ helm
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: conf\nversion: 0.1.0\nappVersion: '1.0'\n",
    "values.yaml": "message: hello\nreplicas: 1\n",
    "crds/gizmos.yaml": yaml.safe_dump({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.conformance.kofsim.io"},
        "spec": {"group": "conformance.kofsim.io", "scope": "Namespaced",
                 "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {
                                       "size": {"type": "string", "default": "small"}}}}}}}]}}),
    "templates/cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
                          "  labels: {app: {{ .Release.Name }}}\ndata:\n  message: {{ .Values.message | quote }}\n"),
    "templates/svc.yaml": ("apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-svc\n"
                           "spec:\n  selector: {app: {{ .Release.Name }}}\n  ports:\n  - port: 80\n"
                           "    targetPort: 8080\n"),
    "templates/deploy.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n"
                              "spec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: "
                              "{app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: "
                              "{{ .Release.Name }}}\n    spec:\n      containers:\n      - name: web\n"
                              "        image: registry.example/web:1.0\n        env:\n        - name: MESSAGE\n"
                              "          value: {{ .Values.message | quote }}\n"),
    "templates/cd.yaml": ("apiVersion: k0rdent.mirantis.com/v1alpha1\nkind: ClusterDeployment\nmetadata:\n"
                          "  name: {{ .Release.Name }}-cd\nspec:\n  template: aws-standalone-cp-0-1-0\n"
                          "  credential: aws-cred\n  config:\n    message: {{ .Values.message | quote }}\n"),
    "templates/gizmo.yaml": ("apiVersion: conformance.kofsim.io/v1\nkind: Gizmo\nmetadata:\n"
                             "  name: {{ .Release.Name }}-gizmo\nspec: {}\n"),
}


def _chart(s) -> Path:
    d = Path(tempfile.mkdtemp(dir=s.workdir)) / "conf"
    for name, text in CHART.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return d


def helm(s, version, label, *args):
    proc = _run(s, [str(TOOLS_BIN / f"helm{version}"), *args], timeout=180)
    s.check(f"helm{version} {label}", {"rc": proc.returncode, "stdout": mask_text(proc.stdout, str(s.home)),
                                        "stderr": mask_text(proc.stderr, str(s.home))},
            {"stdout": proc.stdout, "stderr": proc.stderr})
    return proc


def _helm_objects(s, ns, rel, label):
    for path in (f"/api/v1/namespaces/{ns}/configmaps/{rel}-cm", f"/api/v1/namespaces/{ns}/services/{rel}-svc",
                 f"/apis/apps/v1/namespaces/{ns}/deployments/{rel}-web",
                 f"/apis/k0rdent.mirantis.com/v1alpha1/namespaces/{ns}/clusterdeployments/{rel}-cd",
                 f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/gizmos/{rel}-gizmo"):
        s.req(f"{label}: {path.rsplit('/', 2)[-2]}", "GET", path, pick=_list_pick)
    s.req(f"{label}: release secrets", "GET", f"/api/v1/namespaces/{ns}/secrets?labelSelector=owner%3Dhelm",
          pick=_release_secrets)


def _release_secrets(b):
    """helm's release Secrets: names, labels (their modifiedAt/createdAt are Unix times: masked), type, keys."""
    out = []
    for i in b.get("items", []):
        labels = {k: ("<time>" if k in ("modifiedAt", "createdAt") else v)
                  for k, v in (i["metadata"].get("labels") or {}).items()}
        out.append({"name": i["metadata"]["name"], "labels": labels, "type": i.get("type"),
                    "data keys": sorted((i.get("data") or {}).keys())})
    return out


def helm_case(version):
    def case(s):
        ns = f"cli-helm{version}"
        s.ensure_ns(ns)
        chart = _chart(s)
        rel = f"s{version}"
        # helm3_install / helm4_install
        helm(s, version, "install", "install", rel, str(chart), "-n", ns)
        _helm_objects(s, ns, rel, "after install")
        # helm3_upgrade / helm4_upgrade
        helm(s, version, "upgrade", "upgrade", rel, str(chart), "-n", ns, "--set", "message=changed",
             "--set", "replicas=2")
        _helm_objects(s, ns, rel, "after upgrade")
        helm(s, version, "upgrade, nothing changed", "upgrade", rel, str(chart), "-n", ns, "--set",
             "message=changed", "--set", "replicas=2")
        helm(s, version, "list", "list", "-n", ns)
        helm(s, version, "get values", "get", "values", rel, "-n", ns)
        helm(s, version, "template --validate (server-side checks)", "template", rel, str(chart), "-n", ns,
             "--validate", "--set", "message=templated")
        helm(s, version, "uninstall", "uninstall", rel, "-n", ns)
        s.req("after uninstall: configmap", "GET", f"/api/v1/namespaces/{ns}/configmaps/{rel}-cm")
        s.req("after uninstall: release secrets", "GET",
              f"/api/v1/namespaces/{ns}/secrets?labelSelector=owner%3Dhelm",
              pick=lambda b: [i["metadata"]["name"] for i in b.get("items", [])])
    return case


# ------------------------------------------------------------------------------------------ Python client
def case_python_client(s):
    from kubernetes import config as kconfig
    from kubernetes.client import ApiException
    from kubernetes.dynamic import DynamicClient

    api = kconfig.new_client_from_config(config_file=s.backend.kubeconfig)
    dyn = DynamicClient(api, cache_file=str(s.workdir / "python-discovery.json"))
    ns = "cli-python"
    s.ensure_ns(ns)

    def call(label, fn):
        try:
            out = fn()
            value = {"ok": out.to_dict() if hasattr(out, "to_dict") else out}
        except ApiException as err:
            value = {"status": err.status, "body": json.loads(err.body) if err.body else None}
        s.check(f"python {label}", value)
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cds = dyn.resources.get(api_version="k0rdent.mirantis.com/v1alpha1", kind="ClusterDeployment")
    s.check("python discovery of ClusterDeployment", {"name": cds.name, "namespaced": cds.namespaced,
                                                       "verbs": sorted(cds.verbs), "kind": cds.kind})
    # ansible_k8s_present_first / _second: get (404), create, get, strategic patch, list custom resources
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seq-cm"}, "data": {"a": "1"}}
    call("get missing", lambda: cms.get(name="seq-cm", namespace=ns))
    call("create", lambda: cms.create(body=body, namespace=ns))
    call("get", lambda: cms.get(name="seq-cm", namespace=ns))
    call("strategic merge patch", lambda: cms.patch(body={"data": {"b": "2"}}, name="seq-cm", namespace=ns,
                                                    content_type="application/strategic-merge-patch+json"))
    call("server-side apply", lambda: cms.server_side_apply(
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seq-cm", "namespace": ns},
              "data": {"c": "3"}}, name="seq-cm", namespace=ns, field_manager="py"))
    call("list ClusterDeployments", lambda: cds.get(namespace=ns))
    call("create ClusterDeployment", lambda: cds.create(body={
        "apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ClusterDeployment", "metadata": {"name": "py-cd"},
        "spec": {"template": "t-0-1-0", "credential": "c"}}, namespace=ns))
    call("strategic merge patch on a custom resource", lambda: cds.patch(
        body={"spec": {"dryRun": True}}, name="py-cd", namespace=ns,
        content_type="application/strategic-merge-patch+json"))
    call("merge patch on a custom resource", lambda: cds.patch(
        body={"spec": {"dryRun": True}}, name="py-cd", namespace=ns, content_type=MERGE))
    call("delete", lambda: cms.delete(name="seq-cm", namespace=ns))
    call("delete ClusterDeployment", lambda: cds.delete(name="py-cd", namespace=ns))


# ------------------------------------------------------------------------------------------ kubernetes.core
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: namespace
      kubernetes.core.k8s:
        definition: {apiVersion: v1, kind: Namespace, metadata: {name: cli-ansible}}
    - name: configmap (first run)
      kubernetes.core.k8s: &cm
        definition:
          {apiVersion: v1, kind: ConfigMap, metadata: {name: seq-cm, namespace: cli-ansible, labels: {a: b}},
           data: {msg: hello}}
    - name: list clusterdeployments (first run)
      kubernetes.core.k8s_info: &cds
        api_version: k0rdent.mirantis.com/v1alpha1
        kind: ClusterDeployment
        namespace: cli-ansible
    - name: configmap (second run)
      kubernetes.core.k8s: *cm
    - name: list clusterdeployments (second run)
      kubernetes.core.k8s_info: *cds
    - name: clusterdeployment
      kubernetes.core.k8s:
        definition:
          apiVersion: k0rdent.mirantis.com/v1alpha1
          kind: ClusterDeployment
          metadata: {name: ans-cd, namespace: cli-ansible}
          spec: {template: aws-standalone-cp-0-1-0, credential: aws-cred, config: {region: us-east-2}}
    - name: grafana datasource (server-side apply)
      kubernetes.core.k8s:
        apply: true
        definition:
          apiVersion: grafana.integreatly.org/v1beta1
          kind: GrafanaDatasource
          metadata: {name: ans-ds, namespace: cli-ansible}
          spec:
            instanceSelector: {matchLabels: {dashboards: grafana}}
            datasource: {name: prom, type: prometheus, access: proxy, url: "http://prom:9090"}
    - name: invalid object (422)
      kubernetes.core.k8s:
        definition:
          {apiVersion: v1, kind: ConfigMap, metadata: {name: Bad_Name, namespace: cli-ansible}}
      ignore_errors: true
"""


def _ansible_results(stdout: str):
    try:
        doc = json.loads(stdout[stdout.index("{"):])
    except (ValueError, json.JSONDecodeError):
        return {"unparsed": stdout[-2000:]}
    out = []
    for play in doc.get("plays", []):
        for task in play.get("tasks", []):
            res = task.get("hosts", {}).get("localhost", {})
            keep = {k: res.get(k) for k in ("changed", "failed", "msg", "status", "reason") if k in res}
            r = res.get("result") or res.get("resources")
            if isinstance(r, dict):
                r = strip_controlled({k: v for k, v in r.items() if k != "warnings"})
            keep["result"] = r
            out.append({"task": task.get("task", {}).get("name"), **keep})
    return out


def case_ansible(s):
    """ansible_k8s_present_first / _second: kubernetes.core.k8s creates, then finds the object unchanged."""
    pb = s.workdir / "play.yml"
    pb.write_text(PLAYBOOK)
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    exe = str(Path(sys.executable).with_name("ansible-playbook"))
    proc = _run(s, [exe, str(pb), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}"],
                env_extra=env, timeout=300)
    results = _ansible_results(proc.stdout)
    s.check("ansible-playbook rc", proc.returncode, {"stdout": proc.stdout[-5000:], "stderr": proc.stderr[-3000:]})
    for task in results if isinstance(results, list) else [results]:
        s.check(f"ansible task {task.get('task')}", task)
    s.req("ansible: the configmap", "GET", "/api/v1/namespaces/cli-ansible/configmaps/seq-cm")


def client_cases():
    return [("client kubectl", case_kubectl), ("client helm 3", helm_case(3)), ("client helm 4", helm_case(4)),
            ("client python", case_python_client), ("client kubernetes.core", case_ansible)]
