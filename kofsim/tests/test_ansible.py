"""kubernetes.core.k8s through a real ansible-playbook against kofsim: first run changes, the second changes
nothing (its no-op patches store nothing), --check --diff predicts a change without writing and shows no secret."""
from __future__ import annotations

import pytest
from tests.helpers import ansible_playbook, tool_env

PLAY = """
- name: kubernetes.core against kofsim
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    msg: hello
    password: s3cr3t-one
  tasks:
    - name: Namespace
      kubernetes.core.k8s:
        definition: {apiVersion: v1, kind: Namespace, metadata: {name: ans}}
    - name: ConfigMap (strategic merge patch when it differs)
      kubernetes.core.k8s:
        definition:
          {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg, namespace: ans, labels: {a: b}},
           data: {msg: "{{ msg }}"}}
    - name: Secret
      no_log: true
      kubernetes.core.k8s:
        definition:
          {apiVersion: v1, kind: Secret, metadata: {name: creds, namespace: ans},
           stringData: {password: "{{ password }}"}}
    - name: Deployment, waited on
      kubernetes.core.k8s:
        wait: true
        wait_sleep: 1
        wait_timeout: 60
        definition:
          apiVersion: apps/v1
          kind: Deployment
          metadata: {name: web, namespace: ans}
          spec:
            replicas: 2
            selector: {matchLabels: {app: web}}
            template:
              metadata: {labels: {app: web}}
              spec: {containers: [{name: web, image: nginx, env: [{name: MSG, value: "{{ msg }}"}]}]}
    - name: CRD, waited on until Established
      kubernetes.core.k8s:
        wait: true
        wait_sleep: 1
        wait_condition: {type: Established, status: "True"}
        definition:
          apiVersion: apiextensions.k8s.io/v1
          kind: CustomResourceDefinition
          metadata: {name: widgets.example.com}
          spec:
            group: example.com
            scope: Namespaced
            names: {kind: Widget, plural: widgets, singular: widget}
            versions:
              - name: v1
                served: true
                storage: true
                schema:
                  openAPIV3Schema:
                    type: object
                    properties:
                      spec: {type: object, properties: {msg: {type: string}, size: {type: integer, default: 1}}}
    - name: Custom resource (strategic merge is 415, the module falls back to merge patch)
      kubernetes.core.k8s:
        definition:
          {apiVersion: example.com/v1, kind: Widget, metadata: {name: w, namespace: ans}, spec: {msg: "{{ msg }}"}}
    - name: Client-side apply
      kubernetes.core.k8s:
        apply: true
        definition:
          {apiVersion: v1, kind: ConfigMap, metadata: {name: applied, namespace: ans}, data: {msg: "{{ msg }}"}}
    - name: Server-side apply
      kubernetes.core.k8s:
        server_side_apply: {field_manager: kof-test}
        definition:
          {apiVersion: v1, kind: ConfigMap, metadata: {name: ssa, namespace: ans}, data: {msg: "{{ msg }}"}}
"""


@pytest.fixture(scope="module")
def playbook(tmp_path_factory):
    p = tmp_path_factory.mktemp("play") / "play.yml"
    p.write_text(PLAY)
    return p


def test_k8s_module_idempotence_check_mode_and_no_secret_in_diff(bare, playbook):
    bare.reset()
    env = tool_env({"K8S_AUTH_KUBECONFIG": bare.kubeconfig}, home=bare.home)

    first = ansible_playbook(playbook, env=env)
    assert first.rc == 0, first
    assert first.recap["localhost"]["changed"] == 8, first
    dep = bare.call("GET", "/apis/apps/v1/namespaces/ans/deployments/web")
    assert dep["status"]["readyReplicas"] == 2  # wait: true returned once the pods were ready
    assert bare.call("GET", "/apis/example.com/v1/namespaces/ans/widgets/w")["spec"] == {"msg": "hello", "size": 1}

    seq = bare.last_seq()
    second = ansible_playbook(playbook, env=env)
    assert second.rc == 0 and second.changed == 0, second
    # kubernetes.core.k8s patches every object on every run (its `changed` compares before and after):
    # kofsim must answer each such patch as a no-op that stores nothing
    writes = bare.writes(since=seq)
    assert writes and {(r["method"], r["status"]) for r in writes} == {("PATCH", 200), ("PATCH", 415)}
    widget = [(r["status"], r["content_type"]) for r in writes if r["path"].endswith("/widgets/w")]
    assert widget == [(415, "application/strategic-merge-patch+json"), (200, "application/merge-patch+json")]
    assert bare.changes(since=seq) == []

    seq = bare.last_seq()
    check = ansible_playbook(playbook, "--check", "--diff", "-e", "msg=bye", "-e", "password=s3cr3t-two", env=env)
    assert check.rc == 0, check
    # cfg, secret, deployment, widget, applied, ssa would change; the module's check mode writes nothing
    assert check.recap["localhost"]["changed"] == 6, check
    assert bare.writes(since=seq) == []
    assert "-        msg: hello\n+        msg: bye" in check.stdout  # --diff shows the change
    assert "s3cr3t" not in check.stdout + check.stderr
    assert bare.call("GET", "/api/v1/namespaces/ans/configmaps/cfg")["data"] == {"msg": "hello"}
