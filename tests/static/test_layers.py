# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The import rule of plugins/ (docs/architecture.md, "The import rule"), checked on the source with `ast`: every
.py file under plugins/ is parsed (nothing is imported or run) and each import, dynamic import and private name it
uses is held against the rule. The synthetic cases at the end feed violating sources to the same checker, so a
rule that stopped catching anything would fail here too.

The rule, as the code obeys it:
1. Layers of the collection (the folder under plugins/) and what each may import of the collection:
     module_utils   module_utils                  (runs on the target too: shipped with modules)
     modules        module_utils                  (runs on the target)
     plugin_utils   module_utils, plugin_utils    (controller only)
     action, inventory, filter
                    module_utils, plugin_utils    (controller only; never another plugin)
     doc_fragments  nothing
2. module_utils and modules import of ansible-core only ansible.module_utils.* (what is shipped to a target).
3. Outside the collection: the standard library, ansible-core's public modules and the client libraries
   kubernetes, urllib3, PyYAML, matplotlib. Never kofsim, tests, benchmarks or scripts, and no other collection
   (kubernetes.core included: its connection options are mirrored in module_utils/kube.py and compared with
   kubernetes.core's own by tests/unit/test_connection.py).
4. Private names (a dotted component or a name starting with one underscore): only
   plugins/module_utils/core_internals.py imports a private module (`ansible._internal...`), imports a private
   name, reads a private attribute of an object other than `self` / `cls` (`templar._engine`, getattr(hostvars,
   "_variable_manager"), ...). Everyone else may use the underscored members of its own class through self.
5. ansible-core's members of a plugin's base class: ActionBase's (self._task, self._loader,
   _requires_connection, ...) only in plugins/plugin_utils/action.py (KofAction; the action plugins use its
   public surface); of the inventory bases only what ansible-core's developer guide gives inventory plugins
   (_read_config_data, _cache, _set_composite_vars, ..., INVENTORY_INTERFACE).
Known breaks are listed in KNOWN with their reason (tolerated there only, and reported).
"""
from __future__ import annotations

import ast
import functools
import inspect
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.static

PLUGINS = ROOT / "plugins"
PKG = "ansible_collections.k0rdent.kof.plugins"
MAY_IMPORT = {
    "module_utils": {"module_utils"},
    "modules": {"module_utils"},
    "plugin_utils": {"module_utils", "plugin_utils"},
    "action": {"module_utils", "plugin_utils"},
    "inventory": {"module_utils", "plugin_utils"},
    "filter": {"module_utils", "plugin_utils"},
    "doc_fragments": set(),
}
TARGET_SIDE = {"module_utils", "modules"}
THIRD_PARTY = {"kubernetes", "urllib3", "yaml", "matplotlib"}
NOT_SHIPPED = {"kofsim", "tests", "benchmarks", "scripts"}
CORE_INTERNALS = "plugins/module_utils/core_internals.py"
ACTION_BASE_OWNER = "plugins/plugin_utils/action.py"
STDLIB = set(sys.stdlib_module_names)
GETATTR_LIKE = {"getattr", "hasattr", "setattr", "delattr"}
# The protected members ansible-core's inventory plugin bases document for subclasses (the developer guide's
# "Developing dynamic inventory": config file, cache, constructed groups and variables); their other underscored
# members are ansible-core's own.
INVENTORY_INTERFACE = {"_read_config_data", "_cache", "_set_composite_vars", "_add_host_to_composed_groups",
                       "_add_host_to_keyed_groups", "_compose", "_sanitize_group_name", "_populate_host_vars",
                       "_expand_hostpattern", "_consume_options"}
# Known breaks of rule 4, each with its reason; reported, to be moved into core_internals.py.
KNOWN: dict = {}


def base_members(*bases) -> frozenset:
    """The underscored methods, class attributes and attributes-set-on-self of every ansible-core class in the MRO
    of `bases`, read from the installed ansible-core's source (parsed; the classes are only imported)."""
    names = set()
    for base in bases:
        for cls in inspect.getmro(base):
            if not cls.__module__.startswith("ansible."):
                continue
            node = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
            for stmt in node.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(stmt.name)
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    names |= {t.id for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                              if isinstance(t, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                      and isinstance(n.value, ast.Name) and n.value.id == "self"}
    return frozenset(n for n in names if _private(n))


@functools.lru_cache(maxsize=None)
def protected() -> dict:
    """{layer: the base-class members that layer may not use through self}."""
    from ansible.plugins.action import ActionBase  # pylint: disable=import-outside-toplevel
    from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # pylint: disable=C0415
    return {"action": base_members(ActionBase),
            "inventory": base_members(BaseInventoryPlugin, Constructable, Cacheable) - INVENTORY_INTERFACE}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _layer(relpath: str) -> str:
    parts = relpath.split("/")
    assert parts[0] == "plugins" and len(parts) >= 3, relpath
    return parts[1]


def _imports(tree: ast.AST, relpath: str):
    """(line, module, names) of every import statement, relative imports resolved, plus importlib.import_module /
    __import__ calls with a constant name."""
    package = ".".join([PKG] + relpath[len("plugins/"):-len(".py")].split("/")[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module, [a.name for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                yield node.lineno, node.args[0].value, []


def check_source(source: str, relpath: str, known: dict | None = None) -> list[str]:
    """Violations of the import rule in one file's source; relpath like plugins/<layer>/<file>.py (it decides
    the layer and the exemptions). known: {(relpath, name): reason} tolerated (KNOWN)."""
    known = known or {}
    layer = _layer(relpath)
    siblings = {p.stem for p in (ROOT / Path(relpath).parent).glob("*.py")} | {Path(relpath).stem}
    tree = ast.parse(source, filename=relpath)
    out = []

    def bad(line, msg):
        out.append(f"{relpath}:{line}: {msg}")

    for line, module, names in _imports(tree, relpath):
        top = module.split(".")[0]
        if module == "__future__":
            continue
        if module.startswith("ansible_collections."):
            if not (module == PKG or module.startswith(PKG + ".")):
                bad(line, f"imports another collection ({module})")
                continue
            target = module[len(PKG) + 1:].split(".")[0] if module != PKG else ""
            if target not in MAY_IMPORT[layer]:
                bad(line, f"{layer} may not import plugins/{target or '?'} ({module})")
            if relpath != CORE_INTERNALS:
                for part in module.split(".") + names:
                    if _private(part):
                        bad(line, f"imports a private name ({module}: {part})")
            continue
        if top in NOT_SHIPPED:
            bad(line, f"imports {top}, which is not part of the collection ({module})")
            continue
        if top == "ansible":
            private = [p for p in module.split(".") + names if _private(p)]
            if private and relpath != CORE_INTERNALS:
                bad(line, f"imports a private ansible-core name ({module}: {', '.join(private)})")
            elif layer in TARGET_SIDE and not module.startswith("ansible.module_utils") \
                    and not (relpath == CORE_INTERNALS and private):
                bad(line, f"{layer} runs on the target: only ansible.module_utils.* of ansible-core ({module})")
            continue
        if top in siblings and top not in STDLIB:
            # a sibling file by its plain name (an import fallback outside the collection): same layer
            if layer not in MAY_IMPORT[layer]:
                bad(line, f"{layer} may not import plugins/{layer} ({module})")
            continue
        if top not in STDLIB and top not in THIRD_PARTY:
            bad(line, f"imports {module}, which is neither the standard library, ansible-core nor an allowed client "
                      f"library ({', '.join(sorted(THIRD_PARTY))})")

    if relpath == CORE_INTERNALS:
        return out
    base = protected().get(layer, frozenset())

    def private_use(line, name, msg):
        if (relpath, name) not in known:
            bad(line, msg)

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            mine = (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or (
                isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super")
            if not mine:
                private_use(node.lineno, node.attr, f"reads a private attribute of another object (.{node.attr})")
            elif node.attr in base:
                private_use(node.lineno, node.attr, f"uses ansible-core's {node.attr} of its base class"
                            + (f" (only {ACTION_BASE_OWNER} may)" if layer == "action" else ""))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in GETATTR_LIKE \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and _private(node.args[1].value):
            name = node.args[1].value
            private_use(node.lineno, name, f"{node.func.id}() of a private attribute ({name})")
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] \
                    if isinstance(stmt, ast.AnnAssign) else []
                for tgt in targets:
                    if isinstance(tgt, ast.Name) and tgt.id in base:
                        private_use(stmt.lineno, tgt.id, f"sets ansible-core's {tgt.id} of its base class"
                                    + (f" (only {ACTION_BASE_OWNER} may)" if layer == "action" else ""))
    return out


def _files():
    return sorted(p.relative_to(ROOT).as_posix() for p in PLUGINS.rglob("*.py"))


def test_every_layer_has_files():
    layers = {_layer(f) for f in _files()}
    assert layers == set(MAY_IMPORT), f"plugins/ folders changed: {sorted(layers ^ set(MAY_IMPORT))}"
    assert CORE_INTERNALS in _files() and ACTION_BASE_OWNER in _files()


def test_plugins_obey_the_import_rule():
    assert {"_task", "_loader", "_play_context", "_requires_connection"} <= protected()["action"]
    assert "_redirected_names" in protected()["inventory"] and "_read_config_data" not in protected()["inventory"]
    violations = []
    for rel in _files():
        violations += check_source((ROOT / rel).read_text(encoding="utf-8"), rel, KNOWN)
    assert not violations, "the import rule (docs/architecture.md) is broken:\n" + "\n".join(violations)


# ------------------------------------------------------------------------------- the checker catches violations
MU = "plugins/module_utils/kube.py"
ACT = "plugins/action/fleet_result.py"
PU = "plugins/plugin_utils/fleet.py"
INV = "plugins/inventory/management_cluster.py"
VIOLATIONS = [
    (MU, f"from {PKG}.plugin_utils import fleet\n", "module_utils may not import plugins/plugin_utils"),
    ("plugins/modules/backup.py", f"from {PKG}.plugin_utils.day2 import Kube\n", "modules may not import"),
    (PU, f"from {PKG}.action import kube_objects\n", "plugin_utils may not import plugins/action"),
    (ACT, f"from {PKG}.modules.backup import DOCUMENTATION\n", "action may not import plugins/modules"),
    ("plugins/filter/kof.py", f"from {PKG}.inventory import clusterdeployments\n", "filter may not import"),
    ("plugins/doc_fragments/kof_resource.py", f"from {PKG}.module_utils import kube\n", "doc_fragments may not"),
    (ACT, "from ..module_utils import kube\nfrom ..plugin_utils import action\nfrom ..inventory import x\n",
     "action may not import plugins/inventory"),
    (MU, "from ansible.errors import AnsibleError\n", "runs on the target"),
    (MU, "from ansible.plugins.action import ActionBase\n", "runs on the target"),
    (ACT, "from kofsim.testing import Kofsim\n", "imports kofsim"),
    (PU, "import tests.helpers\n", "imports tests"),
    (MU, "import importlib\nimportlib.import_module('kofsim.server')\n", "imports kofsim"),
    (ACT, "from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client\n",
     "another collection"),
    (MU, "import requests\n", "neither the standard library"),
    (PU, "from ansible._internal._templating import _jinja_bits\n", "private ansible-core name"),
    (PU, "from ansible.template import _get_template_source\n", "private ansible-core name"),
    (ACT, "import importlib\nimportlib.import_module('ansible._internal._templating._jinja_bits')\n",
     "private ansible-core name"),
    (PU, "def f(hostvars):\n    return hostvars._variable_manager\n", "private attribute of another object"),
    (PU, "def f(templar):\n    return templar._engine.environment\n", "private attribute of another object"),
    (PU, "def f(loader):\n    return getattr(loader, '_vault', None)\n", "getattr() of a private attribute"),
    (ACT, "class ActionModule:\n    def run(self):\n        return self._task.check_mode\n",
     "uses ansible-core's _task"),
    (ACT, "class ActionModule:\n    def run(self):\n        return self._execute_module()\n",
     "uses ansible-core's _execute_module"),
    (ACT, "class ActionModule:\n    _requires_connection = False\n", "sets ansible-core's _requires_connection"),
    (INV, "class InventoryModule:\n    def parse(self):\n        self._redirected_names = []\n",
     "uses ansible-core's _redirected_names"),
    (INV, "class InventoryModule:\n    def parse(self):\n        return super()._load_name\n",
     "uses ansible-core's _load_name"),
    (MU, f"from {PKG}.module_utils.kube import _lib\n", "private name"),
]


@pytest.mark.parametrize("relpath,source,expected", VIOLATIONS, ids=[v[2] for v in VIOLATIONS])
def test_a_violation_is_reported(relpath, source, expected):
    found = check_source(source, relpath)
    assert len(found) == 1 and expected in found[0], found


ALLOWED = [
    (MU, f"from {PKG}.module_utils import converge\nfrom ansible.module_utils.urls import open_url\n"
         "import kubernetes, urllib3, yaml, json\n"),
    ("plugins/modules/backup.py", f"from ansible.module_utils.basic import AnsibleModule\n"
                                  f"from {PKG}.module_utils.kube import Kube\n"),
    (PU, f"from ansible.template import Templar\nfrom {PKG}.plugin_utils.day2 import kube_from_secret\n"),
    (ACT, f"from ..plugin_utils.action import KofAction\nfrom {PKG}.module_utils import kof_resources\n"
          "class ActionModule(KofAction):\n    def act(self, args, result):\n        return self._render()\n"
          "    def _render(self):\n        return str.__eq__('a', 'a')\n"),
    (ACTION_BASE_OWNER, "class KofAction:\n    _requires_connection = False\n"
     "    def check_mode(self):\n        return self._task.check_mode\n"),
    (CORE_INTERNALS, "import importlib\nimportlib.import_module('ansible._internal._templating._jinja_bits')\n"
                     "def f(templar, hostvars):\n    return templar._engine, getattr(hostvars, '_inventory')\n"),
    ("plugins/module_utils/finops_source.py", "try:\n    pass\nexcept ImportError:\n    from finops import X\n"),
    (INV, "class InventoryModule:\n    def _read_config_data(self, path):\n"
          "        config = super()._read_config_data(path)\n        self._set_composite_vars({}, {}, 'h')\n"
          "        self._cache['k'] = config\n        self._mine = 1\n"),
]


@pytest.mark.parametrize("relpath,source", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_what_the_rule_allows_is_not_reported(relpath, source):
    assert check_source(source, relpath) == []


def test_a_known_exception_is_tolerated_only_where_it_is_listed():
    source = "class InventoryModule:\n    def parse(self):\n        self._redirected_names = []\n"
    known = {(INV, "_redirected_names"): "a reason"}
    assert check_source(source, INV, known) == []
    assert len(check_source(source, "plugins/inventory/other.py", known)) == 1
    assert len(check_source(source, INV, KNOWN)) == 1  # nothing is tolerated today
