"""The collection as shipped: the build artifact, ansible-doc for every plugin, runtime metadata."""
import subprocess
import tarfile

import pytest
import yaml

from tests.helpers import ROOT, VENV_BIN, tool_env

PLUGIN_DIRS = {"modules": "module", "inventory": "inventory"}


def _plugins():
    out = []
    for d, kind in PLUGIN_DIRS.items():
        for f in sorted((ROOT / "plugins" / d).glob("*.py")):
            if not f.name.startswith("_"):
                out.append((kind, f"k0rdent.kof.{f.stem}"))
    # filters live several to a file; each is documented in plugins/filter/<name>.yml
    out += [("filter", f"k0rdent.kof.{f.stem}") for f in sorted((ROOT / "plugins" / "filter").glob("*.yml"))]
    return out


def test_every_filter_is_documented():
    from ansible_collections.k0rdent.kof.plugins.filter.kof import FilterModule
    documented = {f.stem for f in (ROOT / "plugins" / "filter").glob("*.yml")}
    assert set(FilterModule().filters()) == documented


@pytest.mark.parametrize("kind,name", _plugins())
def test_ansible_doc_renders(kind, name):
    proc = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", kind, name], capture_output=True, text=True,
                          env=tool_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "EXAMPLES" in proc.stdout or kind == "filter"
    assert "ERROR" not in proc.stderr


def test_action_group_lists_existing_modules():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    for name in runtime["action_groups"]["kof"]:
        assert (ROOT / "plugins" / "modules" / f"{name}.py").exists(), f"action group names missing module {name}"


def test_build_ships_no_tests_or_simulator(tmp_path):
    proc = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path),
                           str(ROOT)], capture_output=True, text=True, env=tool_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    tarball = next(tmp_path.glob("k0rdent-kof-*.tar.gz"))
    names = tarfile.open(tarball).getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    for forbidden in ("kofsim/", "tests/", "molecule/", "benchmarks/", ".venv/", ".tools/", ".collections/"):
        assert not any(n.startswith(forbidden) for n in names), f"{forbidden} shipped in the collection"
    for needed in ("plugins/modules/cluster_deployments.py", "roles/common/defaults/main.yml", "playbooks/site.yml",
                   "meta/runtime.yml", "README.md"):
        assert needed in names, f"{needed} missing from the collection artifact"
