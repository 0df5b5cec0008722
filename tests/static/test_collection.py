"""The collection as shipped: the build artifact, ansible-doc for every plugin, runtime metadata."""
import json
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



ACTIONS = sorted(f.stem for f in (ROOT / "plugins" / "action").glob("*.py") if not f.name.startswith("_"))


@pytest.fixture(scope="module")
def action_docs():
    """ansible-doc's view (doc fragments merged) of every controller-side plugin's module file, in one call."""
    proc = subprocess.run([str(VENV_BIN / "ansible-doc"), "--json", "-t", "module"] +
                          [f"k0rdent.kof.{name}" for name in ACTIONS],
                          capture_output=True, text=True, env=tool_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {name.rsplit(".", 1)[-1]: doc["doc"] for name, doc in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("name", ACTIONS)
def test_an_action_plugin_takes_the_options_its_documentation_gives(name, action_docs):
    """The module file of a controller-side plugin holds only its documentation, which ansible-test's
    validate-modules cannot compare with an argument spec: the options the plugin validates (its ARGS, plus the
    connection options when it reaches clusters) are compared here with what ansible-doc shows."""
    import importlib  # pylint: disable=import-outside-toplevel

    from ansible_collections.k0rdent.kof.plugins.module_utils.kube import AUTH_ARG_SPEC
    from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import KofAction
    action = importlib.import_module(f"ansible_collections.k0rdent.kof.plugins.action.{name}").ActionModule
    if not issubclass(action, KofAction):
        pytest.skip(f"{name} is not a KofAction")
    spec = dict(action.ARGS, **(AUTH_ARG_SPEC if action.CONNECTION else {}))
    options = action_docs[name].get("options") or {}
    assert set(options) == set(spec), f"documented but not taken: {sorted(set(options) - set(spec))}; " \
                                      f"taken but not documented: {sorted(set(spec) - set(options))}"

    def same(opt, d, s):
        assert d.get("type", "str") == s.get("type", "str"), (opt, "type")
        assert bool(d.get("required")) == bool(s.get("required")), (opt, "required")
        assert d.get("default") == s.get("default"), (opt, "default")
        assert list(map(str, d.get("choices") or [])) == list(map(str, s.get("choices") or [])), (opt, "choices")
        assert sorted(d.get("aliases") or []) == sorted(s.get("aliases") or []), (opt, "aliases")
        assert d.get("elements") == s.get("elements"), (opt, "elements")
        assert set(d.get("suboptions") or {}) == set(s.get("options") or {}), (opt, "suboptions")
        for sub, sub_spec in (s.get("options") or {}).items():
            same(f"{opt}.{sub}", d["suboptions"][sub], sub_spec)
    for opt, s in spec.items():
        same(opt, options[opt], s)
