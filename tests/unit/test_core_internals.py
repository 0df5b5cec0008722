"""The ansible-core internals adapter (module_utils/core_internals.py) on the ansible-core it runs with: `make
matrix` runs this file (with the other unit tests) in one virtual env per supported ansible-core (2.17, 2.18,
2.19, 2.20). Each call is checked on real ansible-core objects, and end to end through ansible-playbook: a fleet
plugin resolving a variable per host (host, group, play, role default and extra vars, with Ansible's precedence)
and backup / restore reading the run's vault secrets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.k0rdent.kof.plugins.module_utils import core_internals

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_this_ansible_core_is_a_tested_one():
    assert core_internals.core_version() in core_internals.TESTED, (
        f"ansible-core {core_internals.CORE_VERSION} is not in core_internals.TESTED: run the adapter's tests on it "
        "(make matrix) and add it")
    minimum = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    assert minimum == ">=%d.%d.0" % core_internals.TESTED[0], "TESTED starts at meta/runtime.yml's requires_ansible"


def test_diff_mode_of_a_real_module(monkeypatch):
    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel
    for diff in (True, False):
        args = {"name": "x", "_ansible_diff": diff}
        try:
            from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
        except ImportError:  # ansible-core < 2.19
            monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
            module = basic.AnsibleModule(argument_spec={"name": {"type": "str"}})
        else:
            with patch_module_args(args):
                module = basic.AnsibleModule(argument_spec={"name": {"type": "str"}})
        assert core_internals.diff_mode(module) is diff


def inventory_objects(tmp_path):
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.vars.hostvars import HostVars  # pylint: disable=import-outside-toplevel
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"vars": {"where": "all"}, "children": {"g": {
        "vars": {"where": "group"}, "hosts": {"h1": {"own": 1}, "h2": {"own": 2, "where": "host"}}}}}}))
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(inv)])
    vm = VariableManager(loader=loader, inventory=inventory)
    return loader, inventory, vm, HostVars(inventory=inventory, variable_manager=vm, loader=loader)


def test_variable_context_and_host_variables(tmp_path):
    from ansible.playbook.play import Play  # pylint: disable=import-outside-toplevel
    loader, inventory, vm, hostvars = inventory_objects(tmp_path)
    got_vm, got_inventory = core_internals.variable_context(hostvars)
    assert got_vm is vm and got_inventory is inventory
    play = Play.load({"hosts": "all", "gather_facts": False, "vars": {"from_play": "p"}}, variable_manager=vm,
                     loader=loader)
    ctx = core_internals.host_variables(vm, play=play, host=inventory.get_host("h2"), task=None,
                                        hosts=["h1", "h2"], hosts_all=["h1", "h2"])
    assert (ctx["own"], ctx["where"], ctx["from_play"], ctx["inventory_hostname"]) == (2, "host", "p", "h2")
    assert list(ctx["ansible_play_hosts_all"]) == ["h1", "h2"]


def test_variable_context_refuses_what_it_does_not_know():
    with pytest.raises(core_internals.CoreInternalsError, match="evaluate variables per host on ansible-core"):
        core_internals.variable_context({})


def test_template_compilation_cache():
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar  # pylint: disable=import-outside-toplevel
    try:
        from ansible.template import trust_as_template  # pylint: disable=import-outside-toplevel
    except ImportError:  # ansible-core < 2.19 templates every string
        def trust_as_template(text):
            return text
    templar = Templar(loader=DataLoader(), variables={})
    assert core_internals.cache_template_compilation(templar) is (core_internals.core_version() >= (2, 19))
    for value in (1, 2, "three"):  # the same source, other variables: rendered anew each time
        templar.available_variables = {"x": value, "items": [value, value]}
        assert templar.template(trust_as_template("{{ x }}")) == value
        assert templar.template({"k": trust_as_template("{{ items | length }}-{{ x }}")}) == {"k": f"2-{value}"}


def test_vault_secrets_of_the_loader():
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel
    loader = DataLoader()
    assert core_internals.vault_secrets(loader) == []
    secrets = [("kof", VaultSecret(b"pw"))]
    loader.set_vault_secrets(secrets)
    assert core_internals.vault_secrets(loader) == secrets
    text = VaultLib().encrypt("hello", secret=secrets[0][1], vault_id="kof")
    assert VaultLib(core_internals.vault_secrets(loader)).decrypt(text) == b"hello"


# ------------------------------------------------------------------------------------ through ansible-playbook
def save(expression: str) -> dict:
    """The last task of a test play: its registered results into results.json (ansible-core has no JSON
    callback of its own)."""
    return {"name": "Save the results", "run_once": True, "ansible.builtin.copy": {
        "content": "{{ %s | to_json }}" % expression, "dest": "{{ playbook_dir }}/results.json", "mode": "0600"}}


def playbook(tmp_path, plays: list, *args):
    """ansible-playbook of the ansible-core under test; returns (process, the saved results)."""
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    (tmp_path / "results.json").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_ROLES_PATH=str(tmp_path / "roles"),
               ANSIBLE_NOCOLOR="1", HOME=str(tmp_path), KUBECONFIG="", ANSIBLE_LOCAL_TEMP=str(tmp_path / ".tmp"))
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(path), "-e", f"ansible_python_interpreter={sys.executable}",
                           *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert (tmp_path / "results.json").exists(), f"rc {proc.returncode}: {proc.stdout[-3000:]} {proc.stderr[-2000:]}"
    return proc, json.loads((tmp_path / "results.json").read_text())


def test_resolve_per_host_through_a_fleet_plugin(tmp_path):
    """cluster_deployments (render mode, no cluster) evaluates `definition` for every host in that host's
    context from one run_once task: host, group, play, role default and extra vars, each with its precedence."""
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"children": {"fleet": {
        "vars": {"size": "group"}, "hosts": {"c3": {"size": "host-c3"}, "c12": {}, "c1": {"region": "eu"}}}}}}))
    role = tmp_path / "roles" / "render"
    (role / "defaults").mkdir(parents=True)
    (role / "tasks").mkdir()
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump({
        "region": "us", "template": "tpl-default",
        "cd": {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ClusterDeployment",
               "metadata": {"name": "{{ inventory_hostname }}", "namespace": "kcm-system"},
               "spec": {"template": "{{ template }}", "config": {"size": "{{ size }}", "region": "{{ region }}",
                                                                  "stage": "{{ stage }}",
                                                                  "hosts": "{{ ansible_play_hosts | length }}"}}}}))
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump([{
        "name": "Render", "k0rdent.kof.cluster_deployments": {
            "hosts": "{{ ansible_play_hosts }}", "definition": "cd", "render_dir": str(tmp_path / "out")},
        "run_once": True, "register": "rendered"}]))
    proc, out = playbook(tmp_path, [{"hosts": "fleet", "connection": "local", "gather_facts": False,
                                     "vars": {"stage": "play"}, "roles": ["render"], "tasks": [save("rendered")]}],
                         "-i", str(tmp_path / "inventory.yml"), "-e", "template=tpl-extra")
    assert proc.returncode == 0, proc.stdout[-3000:]
    for host, size, region in (("c1", "group", "eu"), ("c3", "host-c3", "us"), ("c12", "group", "us")):
        doc = yaml.safe_load((tmp_path / "out" / "clusterdeployments" / f"kcm-system--{host}.yaml").read_text())
        assert doc["metadata"]["name"] == host
        doc["spec"]["config"]["hosts"] = str(doc["spec"]["config"]["hosts"])  # an int with 2.19's native types
        assert doc["spec"] == {"template": "tpl-extra", "config": {"size": size, "region": region, "stage": "play",
                                                                   "hosts": "3"}}, doc
    assert sorted(out["hosts"]) == ["c1", "c12", "c3"] and all(r["changed"] for r in out["hosts"].values())


VAULT_PLAY = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
    {"name": "Backup with Secrets", "register": "backup_run", "ignore_errors": True,
     "k0rdent.kof.backup": {"dest": "{{ playbook_dir }}/backups", "include_secrets": True}},
    {"name": "Restore with Secrets", "register": "restore_run", "ignore_errors": True,
     "k0rdent.kof.restore": {"archive": "{{ playbook_dir }}/archive.tar.gz", "secrets": True}},
    save("{'backup': backup_run, 'restore': restore_run}")]}]


def test_backup_and_restore_read_the_runs_vault_secrets(tmp_path):
    """Both read the vault secrets before any request: with --vault-password-file they get past them (and then
    stop, as no cluster is configured), without one they say what is missing; a wrong password cannot decrypt."""
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel
    from ansible_collections.k0rdent.kof.plugins.plugin_utils import backup  # pylint: disable=import-outside-toplevel
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "kof"},
              "data": {"k": "dg=="}}
    clusters = {backup.MANAGEMENT: {"objects": [], "releases": [], "retention": [], "not_served": [],
                                    "secret_refs": []}}
    manifest, files = backup.build(clusters, {backup.MANAGEMENT: [secret]}, {"created": "now"})
    vault_text = VaultLib().encrypt(yaml.safe_dump({backup.MANAGEMENT: [secret]}), secret=VaultSecret(b"right"),
                                    vault_id="default")
    backup.write_archive(str(tmp_path / "archive.tar.gz"), manifest, files, vault_text)
    for name, text in (("right", "right\n"), ("wrong", "wrong\n")):
        (tmp_path / name).write_text(text)

    _proc, out = playbook(tmp_path, VAULT_PLAY, "-i", "localhost,", "--vault-password-file", str(tmp_path / "right"))
    assert "no Kubernetes API configured" in out["backup"]["msg"], out["backup"]["msg"]
    assert "no Kubernetes API configured" in out["restore"]["msg"], out["restore"]["msg"]

    _proc, out = playbook(tmp_path, VAULT_PLAY, "-i", "localhost,")
    assert "no vault password is available" in out["backup"]["msg"]
    assert "the archive's Secrets are vault-encrypted" in out["restore"]["msg"]

    _proc, out = playbook(tmp_path, VAULT_PLAY, "-i", "localhost,", "--vault-password-file", str(tmp_path / "wrong"))
    assert "cannot decrypt the archive's Secrets" in out["restore"]["msg"]
