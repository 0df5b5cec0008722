"""Role hygiene: every role documents its interface, and the common role's argument specs match its defaults."""
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import variables as V  # noqa: E402  pylint: disable=wrong-import-position

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())


@pytest.mark.parametrize("role", ROLES)
def test_role_has_argument_specs_and_meta(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    assert "main" in specs["argument_specs"], f"{role}: no main entry point"
    for name, entry in specs["argument_specs"].items():
        assert entry.get("short_description"), f"{role}/{name}: short_description missing"
        for opt, spec in (entry.get("options") or {}).items():
            assert spec.get("description"), f"{role}: option {opt} undocumented"
            assert spec.get("type"), f"{role}: option {opt} has no type"
    meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["description"]


@pytest.mark.parametrize("role", ROLES)
def test_role_defaults_are_all_documented(role):
    defaults_file = ROOT / "roles" / role / "defaults" / "main.yml"
    if not defaults_file.exists():
        pytest.skip(f"{role} has no defaults of its own (they live in role common)")
    defaults = yaml.safe_load(defaults_file.read_text()) or {}
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options), "defaults/main.yml and meta/argument_specs.yml disagree"
    for name, value in defaults.items():
        assert options[name].get("default") == value, f"{role}: {name} default differs from argument_specs"


@pytest.mark.parametrize("role", ROLES)
def test_role_has_readme_section(role):
    readme = (ROOT / "roles" / role / "README.md")
    assert readme.exists() and len(readme.read_text()) > 200, f"roles/{role}/README.md missing or empty"
    assert f"k0rdent.kof.{role}" in (ROOT / "README.md").read_text(), f"README.md has no section on {role}"


def test_tasks_from_names_an_entry_point_exactly():
    # ansible-core validates an entry point's arguments only when tasks_from is exactly its name: a
    # `tasks_from: template.yml` runs template.yml without ever checking the `template` entry point's spec
    files = sorted((ROOT / "roles").glob("*/tasks/*.yml")) + sorted((ROOT / "playbooks").glob("*.yml"))
    wrong = []
    for path in files:
        for include in V.task_arguments(yaml.safe_load(path.read_text()), ("include_role", "import_role")):
            if not isinstance(include, dict):
                continue
            role, tasks_from = str(include.get("name", "")).split(".")[-1], include.get("tasks_from")
            if not tasks_from or not (ROOT / "roles" / role).is_dir():
                continue
            entry = Path(str(tasks_from)).stem
            specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
            if entry in specs["argument_specs"] and tasks_from != entry:
                wrong.append(f"{path.relative_to(ROOT)}: tasks_from: {tasks_from} (entry point {entry!r})")
            elif entry not in specs["argument_specs"] and include.get("rolespec_validate") is not False:
                wrong.append(f"{path.relative_to(ROOT)}: tasks_from: {tasks_from} has no entry point in "
                             f"roles/{role}/meta/argument_specs.yml (or say rolespec_validate: false)")
    assert not wrong, "\n".join(wrong)
