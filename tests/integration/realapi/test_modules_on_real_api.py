"""The management-tier modules (promxy_server_group, grafana_datasource and their _info modules, the generic
kube_objects) with the real ansible-playbook against the real kube-apiserver: create, a re-run that changes
nothing, --check that writes nothing, --diff, delete; and the server neither refused nor pruned anything the
modules sent (issue 14, item 5)."""
from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers import ansible_playbook, tool_env
from tests.integration.realapi.conftest import missing_fields

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources

PLAYBOOKS = Path(__file__).parent / "playbooks"


def run(real, tmp_path, name, *args):
    env = tool_env(home=tmp_path, extra={"K8S_AUTH_KUBECONFIG": real.kubeconfig, "ANSIBLE_PIPELINING": "1"})
    return ansible_playbook(PLAYBOOKS / name, "-i", "localhost,", "-c", "local",
                            "-e", f"ansible_python_interpreter={sys.executable}", *args, env=env, timeout=600)


def test_modules_create_rerun_check_diff_delete(real, api, tmp_path):
    status, body, _ = api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "kof"}})
    assert status in (201, 409), body
    # writes in check mode go through the server's dry run: the resourceVersions show nothing was stored
    created = run(real, tmp_path, "modules.yml")
    assert created.rc == 0 and not created.failed_hosts, created

    # nothing the modules sent was pruned or changed by the real server
    params = {"cluster_name": "real1", "targets": ["vmauth2.real1.kof.example.com:443"], "insecure_skip_verify": True}
    want = kof_resources.promxy_server_group(params)
    status, live, _ = api.call("GET", "/apis/kof.k0rdent.mirantis.com/v1alpha1/namespaces/kof/promxyservergroups/"
                                      "real1-metrics")
    assert status == 200 and missing_fields(want["spec"], live["spec"]) == []
    assert missing_fields(want["metadata"]["labels"], live["metadata"]["labels"]) == []
    want = kof_resources.grafana_datasource({"cluster_name": "real1", "regional_domain": "real1.kof.example.com",
                                             "json_data": {"tlsSkipVerify": False, "timeout": "60"}})
    status, live, _ = api.call("GET", "/apis/grafana.integreatly.org/v1beta1/namespaces/kof/grafanadatasources/"
                                      "real1-logs")
    assert status == 200 and missing_fields(want["spec"], live["spec"]) == [], missing_fields(want["spec"],
                                                                                              live["spec"])
    deleted = run(real, tmp_path, "delete.yml")
    assert deleted.rc == 0 and not deleted.failed_hosts, deleted
    assert "not-shown" not in created.stdout + deleted.stdout
