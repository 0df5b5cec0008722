"""k0rdent.kof.promxy_server_group, grafana_datasource and their _info modules, run by the real ansible-playbook
against kofsim. Two playbook runs: failures (no KOF CRDs) and the lifecycle of both modules; the assertions on
each step's results and on kofsim's request log are in the playbooks, the secret checks on the output here."""
from __future__ import annotations

import base64

import yaml

from tests.integration.modules.conftest import SECRET_PASSWORD, SECRET_USER


def test_failures_are_single_lines_before_any_write(fresh, run_playbook, kofsim):
    seq = kofsim.last_seq()
    run = run_playbook("errors.yml")
    assert run.rc == 0 and not run.failed_hosts, run
    assert run.recap["localhost"]["ok"] > 10, run
    assert kofsim.writes(seq) == [], "a failing module wrote to the API"
    assert "Traceback" not in run.stdout + run.stderr


def test_lifecycle(fresh, run_playbook, kofsim):
    fresh.install()
    # a datasource someone wrote by hand with the password in clear text: the modules must never echo it
    fresh.client.CustomObjectsApi(fresh.api).create_namespaced_custom_object(
        "grafana.integreatly.org", "v1beta1", "kof", "grafanadatasources",
        {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDatasource",
         "metadata": {"name": "foreign-logs"},
         "spec": {"instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                  "datasource": {"name": "foreign", "type": "victoriametrics-logs-datasource", "access": "proxy",
                                 "url": "https://vmauth.foreign.kof.example.com/vls", "basicAuth": True,
                                 "basicAuthUser": SECRET_USER,
                                 "secureJsonData": {"basicAuthPassword": SECRET_PASSWORD}}}})

    run = run_playbook("lifecycle.yml", "--diff", "-vvv")
    assert run.rc == 0 and not run.failed_hosts, run
    output = run.stdout + run.stderr
    assert "PLAY RECAP" in output and "TASK [Create (check mode)]" in output
    # the credentials were there to leak: promxy-operator renders them into the config the wait reads
    config = fresh.secret("kof-mothership-promxy-config")
    if config is not None and (config.data or {}).get("config.yaml"):
        rendered = yaml.safe_load(base64.b64decode(config.data["config.yaml"])) or {}
        for group in (rendered.get("promxy") or {}).get("server_groups") or []:
            assert group["http_client"]["basic_auth"]["password"] == SECRET_PASSWORD
    assert SECRET_PASSWORD not in output, "the storage password appeared in the output"
    assert SECRET_USER not in output, "the storage user appeared in the output"
    # end state: both regions' objects gone, the taken-over datasource holds references only
    assert fresh.get("kof.k0rdent.mirantis.com", "v1alpha1", "promxyservergroups", "region1-metrics") is None
    assert fresh.get("grafana.integreatly.org", "v1beta1", "grafanadatasources", "region1-logs") is None
    foreign = fresh.get("grafana.integreatly.org", "v1beta1", "grafanadatasources", "foreign-logs")
    assert foreign["spec"]["datasource"]["secureJsonData"] == {"basicAuthPassword": "${password}"}


def test_the_task_environment_reaches_the_controller_side_plugins(fresh, kofsim, tmp_path):
    """K8S_AUTH_* in a task's `environment` keyword, not in the controller's: the action plugins (which run in the
    controller process) read it as a module process would, and helm_release hands it to helm."""
    from tests.helpers import ansible_playbook, tool_env  # pylint: disable=import-outside-toplevel
    playbook = tmp_path / "task_environment.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "The task's environment", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Without a kubeconfig anywhere, a read fails",
             "k0rdent.kof.kube_objects_info": {"server_version": True},
             "register": "without", "ignore_errors": True},
            {"name": "With the kubeconfig in the task's environment, it succeeds",
             "k0rdent.kof.kube_objects_info": {"server_version": True},
             "environment": {"K8S_AUTH_KUBECONFIG": kofsim.kubeconfig}, "register": "read"},
            {"name": "helm gets it too (a release that is not installed: nothing to uninstall)",
             "k0rdent.kof.helm_release": {"release_name": "not-here", "release_namespace": "kof", "state": "absent"},
             "environment": {"K8S_AUTH_KUBECONFIG": kofsim.kubeconfig}, "register": "helm"},
            {"name": "Check", "ansible.builtin.assert": {"that": [
                "without is failed", "read.server_version.gitVersion is match('v1[.]')",
                "helm is not failed and helm is not changed", "helm.helm_version is match('v[34][.]')"]}},
        ]}]))
    env = tool_env(home=tmp_path / "home")
    env.pop("K8S_AUTH_KUBECONFIG", None)
    env.pop("KUBECONFIG", None)
    seq = kofsim.last_seq()
    run = ansible_playbook("-i", "localhost,", "-c", "local", str(playbook), env=env, timeout=300)
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    assert any(r["user_agent"].startswith("Helm/") for r in kofsim.requests(since=seq)), "helm did not reach kofsim"
