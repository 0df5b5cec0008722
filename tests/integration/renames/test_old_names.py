"""The renamed role and inventory plugin keep their old names until 2.0.0, with a deprecation warning: role
k0rdent.kof.kof (now k0rdent.kof.common) and inventory plugin k0rdent.kof.clusterdeployments (now
k0rdent.kof.management_cluster). The old names do what the new ones do."""
from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import VENV_BIN, ansible_playbook, flat, tool_env

ROLE_DEPRECATION = ("[DEPRECATION WARNING]: The role k0rdent.kof.kof is deprecated: it is now called "
                    "k0rdent.kof.common")
PLUGIN_DEPRECATION = "[DEPRECATION WARNING]: k0rdent.kof.clusterdeployments has been deprecated."


def playbook(role: str) -> list:
    """The three ways the role is used: roles:, include_role with public: true, and an entry point."""
    common = {"hosts": "kof_management", "connection": "local", "gather_facts": False,
              "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}}
    show = {"name": "Show the defaults", "ansible.builtin.debug": {
        "msg": "defaults namespace={{ kof_namespace }} release={{ kof_mothership_release }} "
               "valid={{ kof_inventory_valid | default(false) }}"}}
    return [
        dict(common, name="roles keyword", roles=[{"role": role}], post_tasks=[show]),
        dict(common, name="include_role", tasks=[
            {"name": "Include the baseline", "ansible.builtin.include_role": {"name": role, "public": True}},
            {"name": "TLS warning entry point",
             "ansible.builtin.include_role": {"name": role, "tasks_from": "tls_warning"}},
            show]),
    ]


@pytest.mark.parametrize("role", ["k0rdent.kof.kof", "k0rdent.kof.common"])
def test_the_old_role_name_runs_common_with_a_deprecation_warning(role, tmp_path):
    book = tmp_path / "play.yml"
    book.write_text(yaml.safe_dump(playbook(role), sort_keys=False))
    env = tool_env(home=tmp_path)
    run = ansible_playbook(book, "-e", "kof_validate_certs=false", env=env, timeout=300)
    out = flat(run.stdout + run.stderr)
    assert run.rc == 0, out[-4000:]
    # the defaults are loaded and public, the inventory was validated once, the entry point ran
    assert out.count("defaults namespace=kof release=kof-mothership valid=True") == 2, out[-4000:]
    assert out.count("TASK [k0rdent.kof.common : Validate the KOF inventory (all tiers, every host)]") == 2
    assert "WARNING: kof_validate_certs is false" in out
    if role == "k0rdent.kof.kof":
        assert ROLE_DEPRECATION in out and "removed from collection 'k0rdent.kof' version 2.0.0" in out, out[-4000:]
    else:
        assert "DEPRECATION" not in out, out[-4000:]

    # the validation still runs under the old name: a bad value fails before anything else
    bad = ansible_playbook(book, "-e", "kof_namespace=Not_A_Namespace", env=env, timeout=300)
    assert bad.rc != 0 and "kof_namespace" in flat(bad.stdout), flat(bad.stdout)[-4000:]


@pytest.fixture(scope="module")
def kofsim(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim"))
    k.start()
    yield k
    k.stop()


def inventory(path, env) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(path), "--list"], capture_output=True,
                          text=True, env=dict(env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"), timeout=300)


@pytest.mark.slow
def test_the_old_inventory_plugin_name_still_reads_the_management_cluster(kofsim, tmp_path):
    env = tool_env(home=tmp_path, extra={"K8S_AUTH_KUBECONFIG": kofsim.kubeconfig})
    new = tmp_path / "fleet.management_cluster.yml"
    new.write_text(yaml.safe_dump({"plugin": "k0rdent.kof.management_cluster", "management_host": "mgmt"}))
    current = inventory(new, env)
    assert current.returncode == 0, current.stderr
    assert "DEPRECATION" not in current.stderr, current.stderr
    expected = json.loads(current.stdout)
    assert expected["kof_management"]["hosts"] == ["mgmt"]

    # an old file: the old plugin name and the old file name ending
    old = tmp_path / "fleet.clusterdeployments.yml"
    old.write_text(yaml.safe_dump({"plugin": "k0rdent.kof.clusterdeployments", "management_host": "mgmt"}))
    legacy = inventory(old, env)
    assert legacy.returncode == 0, legacy.stderr
    assert json.loads(legacy.stdout) == expected
    warnings = flat(legacy.stderr)
    assert PLUGIN_DEPRECATION in warnings, warnings
    assert "clusterdeployments.yml is the old ending" in warnings, warnings

    # only the new plugin enabled (no auto) and a file that still names the old one: ansible-core's own error
    # names the plugin the file asks for (no private ansible-core attribute is touched to accept it)
    only_new = inventory(old, dict(env, ANSIBLE_INVENTORY_ENABLED="k0rdent.kof.management_cluster"))
    assert "Incorrect plugin name in file: k0rdent.kof.clusterdeployments" in flat(only_new.stderr), only_new.stderr

    # enabled under the old name (an old ansible.cfg): the redirect loads the new plugin
    old_cfg = inventory(new, dict(env, ANSIBLE_INVENTORY_ENABLED="k0rdent.kof.clusterdeployments"))
    assert old_cfg.returncode == 0, old_cfg.stderr
    assert json.loads(old_cfg.stdout) == expected
    assert PLUGIN_DEPRECATION in flat(old_cfg.stderr), old_cfg.stderr
