#!/usr/bin/env python3
"""The collection's variables, declared once: meta/variables.yml.

Each `kof_*` variable is declared there with its type, default, description and the roles that read it. From it
this script generates what used to be written by hand in several places:
  - roles/common/defaults/main.yml (the baseline every play loads first),
  - the `options` of every role entry point in roles/*/meta/argument_specs.yml (each entry point declares exactly
    the variables its task files, role vars and templates read, described alike everywhere),
  - the variable table in README.md (between the `variables:begin` / `variables:end` markers).
The inventory validation (k0rdent.kof.validate_inventory) reads the same file to refuse unknown variables.

    python scripts/variables.py generate   # rewrite the generated files
    python scripts/variables.py check      # exit 1 when a generated file is stale, a role reads a kof_* variable
                                           # that meta/variables.yml does not give it, or lists a reader that
                                           # reads nothing (tests/static/test_variables.py runs this)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "meta" / "variables.yml"
ROLES = ROOT / "roles"
README = ROOT / "README.md"
BASELINE = "common"  # the shared role: its main entry point declares every variable and holds the defaults
SPEC_KEYS = ("description", "type", "elements", "choices", "default", "no_log")
TABLE_BEGIN, TABLE_END = "<!-- variables:begin -->", "<!-- variables:end -->"


class Dumper(yaml.SafeDumper):
    """Block style, indented sequences, long strings folded at 120 columns."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def dump(data) -> str:
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=116, allow_unicode=True, default_flow_style=False)


def load_registry() -> dict:
    return yaml.safe_load(REGISTRY.read_text())


def variables(registry: dict) -> dict:
    return {name: spec for section in registry["sections"] for name, spec in section["variables"].items()}


# ------------------------------------------------------------------------------------------ reading the roles
CONDITIONS = ("when", "that", "until", "changed_when", "failed_when")
_JINJA = jinja2.Environment()


def _names(template: str) -> set:
    """kof_* names a Jinja template reads (its lexer: a name after '.' is an attribute, a quoted one a string)."""
    out, prev = set(), None
    try:
        tokens = list(_JINJA.lex(template))
    except jinja2.TemplateSyntaxError:
        return out
    for _line, kind, value in tokens:
        if kind == "name" and value.startswith("kof_") and prev != "dot":
            out.add(value)
        if kind not in ("whitespace",):
            prev = kind if kind != "operator" else ("dot" if value == "." else value)
    return out


def references(text: str, yaml_file: bool = True) -> set:
    """kof_* names a file reads: in every templated string, and in the bare expressions of when:/that:/until:
    conditions. Mapping keys a file sets, quoted strings (group names such as 'kof_child'), attribute access
    (x.kof_storage) and comments are not reads."""
    if not yaml_file:
        return _names(text)
    used = set()

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str):
            used.update(_names("{{ " + node + " }}" if key in CONDITIONS and "{{" not in node else node))
    for doc in yaml.safe_load_all(text):
        walk(doc)
    return used


def _included(role: Path, task_file: Path, seen: set) -> set:
    """The task files an entry point runs inside its own role (include_tasks / import_tasks, followed)."""
    if task_file in seen or not task_file.exists():
        return seen
    seen.add(task_file)
    for name in _include_targets(yaml.safe_load(task_file.read_text()) or []):
        if "{{" in name:  # a computed file name: any task file of the role may run
            for other in sorted((role / "tasks").glob("*.yml")):
                _included(role, other, seen)
        else:
            _included(role, role / "tasks" / name, seen)
    return seen


# where a task list nests further tasks: in blocks, and in a play (a playbook is a list of plays)
NESTED_TASKS = ("block", "rescue", "always", "pre_tasks", "tasks", "post_tasks", "handlers")


def task_arguments(node, actions: tuple):
    """The arguments of every task of one of `actions` (short or FQCN names) in a task list or playbook."""
    if isinstance(node, list):
        for item in node:
            yield from task_arguments(item, actions)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.rsplit(".", 1)[-1] in actions:
                yield value
            elif key in NESTED_TASKS:
                yield from task_arguments(value, actions)


def _include_targets(node):
    """File names of include_tasks / import_tasks in a task list (blocks, rescue and always included)."""
    for value in task_arguments(node, ("include_tasks", "import_tasks")):
        target = value.get("file") if isinstance(value, dict) else value
        if isinstance(target, str):
            yield target.strip()


def entry_reads(role: Path, entry: str) -> set:
    """kof_* variables an entry point reads: its task files, plus the role's vars and templates (evaluated by its
    tasks: a fleet plugin renders a whole definition from vars/main.yml in each host's context)."""
    files = _included(role, role / "tasks" / f"{entry}.yml", set()) | set((role / "vars").glob("*.yml"))
    reads = set().union(*(references(f.read_text()) for f in files)) if files else set()
    for template in (role / "templates").glob("*"):
        reads |= references(template.read_text(), yaml_file=False)
    return reads


def role_vars(role: Path) -> set:
    """Names the role defines itself in vars/ (internal, not user variables)."""
    out = set()
    for f in (role / "vars").glob("*.yml"):
        out |= set(yaml.safe_load(f.read_text()) or {})
    return out


# ------------------------------------------------------------------------------------------------ generation
def option(spec: dict, with_default: bool = True) -> dict:
    """An argument spec option. Only the baseline role states the default: it holds the value, and a tier role
    validates its arguments before the baseline is loaded (a default such as "{{ kof_version }}" would be templated
    there, too early)."""
    return {k: spec[k] for k in SPEC_KEYS if k in spec and (with_default or k != "default")}


def defaults_text(registry: dict) -> str:
    out = ["---", *_comment(registry["defaults_header"])]
    for section in registry["sections"]:
        out.append("")
        out += _comment("--- " + section["title"])
        for name, spec in section["variables"].items():
            if spec.get("comment"):
                out += _comment(spec["comment"])
            out.append(dump({name: spec["default"]}).rstrip())
    return "\n".join(out) + "\n"


def _comment(text: str, width: int = 117) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width - 2:
            lines.append("# " + cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return lines + (["# " + cur] if cur else [])


def specs_for_roles(registry: dict) -> tuple[dict, list[str]]:
    """{role: argument_specs document} with generated options, and the consistency problems found."""
    allvars = variables(registry)
    problems = []
    docs = {}
    for role in sorted(p for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists()):
        spec_file = role / "meta" / "argument_specs.yml"
        doc = yaml.safe_load(spec_file.read_text())
        internal = role_vars(role)
        used_by_role = set()
        for entry, body in doc["argument_specs"].items():
            reads = entry_reads(role, entry) - internal - set(registry.get("runtime") or ())
            unknown = sorted(reads - set(allvars))
            problems += [f"roles/{role.name} (entry point {entry}) reads {n}, which meta/variables.yml does not "
                         "declare" for n in unknown]
            if role.name == BASELINE and entry == "main":
                names = list(allvars)
            else:
                names = [n for n in allvars if n in reads]
                for n in names:
                    if role.name != BASELINE and role.name not in allvars[n].get("roles", []):
                        problems.append(f"roles/{role.name} reads {n}: add {role.name} to its roles in "
                                        "meta/variables.yml")
                used_by_role |= set(names)
            body["options"] = {n: option(allvars[n], with_default=role.name == BASELINE) for n in names}
        if role.name != BASELINE:
            for n, spec in allvars.items():
                if role.name in spec.get("roles", []) and n not in used_by_role:
                    problems.append(f"meta/variables.yml lists {role.name} among the readers of {n}, but no entry "
                                    f"point of roles/{role.name} reads it")
        docs[role.name] = doc
    return docs, problems


def spec_text(doc: dict) -> str:
    return ("---\n# Options generated from meta/variables.yml by scripts/variables.py (do not edit them here); the "
            "entry\n# points' descriptions are this file's own.\n" + dump(doc))


def readme_table(registry: dict) -> str:
    rows = [TABLE_BEGIN, "", "| variable | default | read by | what |", "|---|---|---|---|"]
    for section in registry["sections"]:
        rows.append(f"| **{section['title'].split('(')[0].split('.')[0].strip()}** | | | |")
        for name, spec in section["variables"].items():
            default = yaml.safe_dump(spec["default"], default_flow_style=True, width=10**6).strip()
            default = default.removesuffix("...").strip().replace("|", "\\|")
            first = re.split(r"(?<=[.;])\s", spec["description"].strip(), maxsplit=1)[0]
            first = re.sub(r"[A-Z]\(([^)]*)\)", r"`\1`", first).replace("|", "\\|")
            readers = ", ".join(spec.get("roles", [])) or "—"
            rows.append(f"| `{name}` | `{default}` | {readers} | {first} |")
    return "\n".join(rows + ["", TABLE_END])


def generated(registry: dict) -> tuple[dict, list[str]]:
    """{path: text} of every generated file, and the consistency problems."""
    docs, problems = specs_for_roles(registry)
    out = {ROLES / BASELINE / "defaults" / "main.yml": defaults_text(registry)}
    for role, doc in docs.items():
        out[ROLES / role / "meta" / "argument_specs.yml"] = spec_text(doc)
    readme = README.read_text()
    if TABLE_BEGIN in readme and TABLE_END in readme:
        head, rest = readme.split(TABLE_BEGIN, 1)
        tail = rest.split(TABLE_END, 1)[1]
        out[README] = head + readme_table(registry) + tail
    else:
        problems.append(f"README.md has no {TABLE_BEGIN} ... {TABLE_END} section for the variable table")
    return out, problems


def main(argv) -> int:
    cmd = argv[1] if len(argv) > 1 else "check"
    registry = load_registry()
    files, problems = generated(registry)
    if cmd == "generate":
        for path, text in files.items():
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
    elif cmd == "check":
        stale = [str(p.relative_to(ROOT)) for p, t in files.items() if not p.exists() or p.read_text() != t]
        problems += [f"{s} is stale: run python scripts/variables.py generate" for s in stale]
    else:
        print(__doc__)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
