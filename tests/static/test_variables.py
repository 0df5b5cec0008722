"""Every variable declared once (issue 15): meta/variables.yml is the single source, the files generated from it
are current, every role entry point declares exactly the kof_* variables it reads (the same way everywhere), and
a new undeclared read fails the check."""
from __future__ import annotations

import shutil
import subprocess
import sys

import yaml

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import variables as V  # noqa: E402  pylint: disable=wrong-import-position


def test_generated_files_are_current_and_every_read_is_declared():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "variables.py"), "check"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_a_new_undeclared_read_fails_the_check(tmp_path, monkeypatch):
    roles = tmp_path / "roles"
    shutil.copytree(ROOT / "roles", roles)
    task = roles / "child" / "tasks" / "main.yml"
    task.write_text(task.read_text() + "\n- name: Uses a variable nobody declared\n  ansible.builtin.debug:\n"
                                       "    msg: \"{{ kof_brand_new_setting }}\"\n")
    monkeypatch.setattr(V, "ROLES", roles)
    _files, problems = V.generated(V.load_registry())
    assert any("roles/child (entry point main) reads kof_brand_new_setting" in p for p in problems), problems
    # and a role that starts reading a declared variable must be listed among its readers
    task.write_text(task.read_text().replace("kof_brand_new_setting", "kof_dns_iam_user_name"))
    _files, problems = V.generated(V.load_registry())
    assert "roles/child reads kof_dns_iam_user_name: add child to its roles in meta/variables.yml" in problems


def test_a_variable_reads_the_same_wherever_it_is_declared():
    registry = V.variables(V.load_registry())
    for spec_file in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        for entry, body in yaml.safe_load(spec_file.read_text())["argument_specs"].items():
            for name, option in (body.get("options") or {}).items():
                role = spec_file.parent.parent.name
                want = {k: registry[name][k] for k in V.SPEC_KEYS if k in registry[name]
                        and (k != "default" or role == V.BASELINE)}  # the baseline alone holds the defaults
                assert option == want, f"{role}/{entry}: {name}"


def test_playbooks_read_only_declared_variables():
    registry = V.load_registry()
    declared = set(V.variables(registry)) | set(registry.get("runtime") or ())
    for f in (ROOT / "roles").glob("*/vars/*.yml"):
        declared |= set(yaml.safe_load(f.read_text()) or {})
    undeclared = {}
    for playbook in sorted((ROOT / "playbooks").glob("*.yml")):
        for name in V.references(playbook.read_text()) - declared:
            undeclared.setdefault(name, []).append(playbook.name)
    assert not undeclared, f"read by playbooks, declared nowhere: {undeclared}"


def test_the_inventory_validation_knows_the_same_variables():
    from ansible_collections.k0rdent.kof.plugins.action import validate_inventory
    registry = V.load_registry()
    assert set(V.variables(registry)) | set(registry["runtime"]) <= validate_inventory.declared_variables()


def test_every_variable_is_described():
    for name, spec in V.variables(V.load_registry()).items():
        assert spec.get("description") and spec.get("type"), name
        assert "default" in spec, name
        for role in spec.get("roles", []):
            assert (ROOT / "roles" / role).is_dir(), f"{name}: unknown role {role}"
