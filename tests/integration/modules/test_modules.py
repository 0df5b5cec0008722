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
