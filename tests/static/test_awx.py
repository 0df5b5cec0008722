"""The AWX / Automation Controller material, validated offline: the execution environment's build context
(ansible-builder create, no container runtime) and the collection's introspectable needs, awx/configure.yml
(syntax, every awx.awx option it uses, job templates, the workflow), the surveys (AWX's own survey rules, the
roles' argument specs, generated and up to date) and the credential types."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tests.helpers import ROOT, VENV_BIN, tool_env

pytestmark = pytest.mark.static
AWX = ROOT / "awx"
CONFIGURE = yaml.safe_load((AWX / "configure.yml").read_text())[0]
JOB_TEMPLATES = CONFIGURE["vars"]["awx_job_templates"]
WORKFLOW_NODES = CONFIGURE["vars"]["awx_workflow_nodes"]
CREDENTIAL_TYPES = yaml.safe_load((AWX / "credential_types.yml").read_text())
ARGSPEC = yaml.safe_load((ROOT / "roles/common/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
SURVEYS = {p.stem: json.loads(p.read_text()) for p in sorted((AWX / "surveys").glob("*.json"))}


def run(*cmd, cwd=ROOT, timeout=300, env=None):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env or tool_env())


@pytest.fixture(scope="module")
def collection_tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("collection")
    proc = run(VENV_BIN / "ansible-galaxy", "collection", "build", "--output-path", out, ROOT)
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("k0rdent-kof-*.tar.gz"))


# -------------------------------------------------------------------------------- execution environment
def test_execution_environment_build_context(tmp_path, collection_tarball):
    """ansible-builder create writes the context `ansible-builder build` would build: the collection's Python
    and system needs, the galaxy dependencies, helm/kubectl and this collection in the final image."""
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    work = tmp_path / "ee"
    work.mkdir()
    shutil.copy(ROOT / "execution-environment.yml", work)
    for f in ("requirements.txt", "bindep.txt"):
        shutil.copy(ROOT / f, work)
    for extra in ee["additional_build_files"]:
        src = ROOT / extra["src"]
        if extra["src"] == "build":  # `make build` output: here the tarball built from this checkout
            (work / "build").mkdir()
            shutil.copy(collection_tarball, work / "build")
        else:
            assert src.exists(), f"additional_build_files: {extra['src']} does not exist"
            (work / extra["src"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, work / extra["src"])
    proc = run(VENV_BIN / "ansible-builder", "create", "-f", work / "execution-environment.yml", "-c",
               work / "context", "--output-filename", "Containerfile", cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ctx = work / "context"
    containerfile = (ctx / "Containerfile").read_text()
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert "RUN PYTHON=/usr/bin/python3.11 bash /tmp/ee-install-helm.sh /usr/local/bin" in containerfile
    assert "ansible-galaxy collection install --offline" in containerfile
    # the collection goes in after the galaxy stage installed its dependencies, and before the image drops root
    assert containerfile.index("/tmp/kof-collection") < containerfile.index("USER 1000")
    assert (ctx / "_build/requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()
    assert (ctx / "_build/bindep.txt").read_text() == (ROOT / "bindep.txt").read_text()
    assert (ctx / "_build/scripts/ee-install-helm.sh").exists()
    assert [p.name for p in (ctx / "_build/collection").iterdir()] == [collection_tarball.name]
    galaxy = yaml.safe_load((ctx / "_build/requirements.yml").read_text())["collections"]
    deps = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    assert {c["name"]: c["version"] for c in galaxy} == deps, "EE collections differ from galaxy.yml dependencies"


def test_collection_declares_its_needs_for_introspection(tmp_path, collection_tarball):
    """meta/execution-environment.yml ships in the artifact and ansible-builder introspect finds the Python
    and system needs through it (as any EE build that installs k0rdent.kof from Galaxy would)."""
    collections = tmp_path / "collections"
    proc = run(VENV_BIN / "ansible-galaxy", "collection", "install", "--force", "--offline", "--no-deps", "-p",
               collections, collection_tarball)
    assert proc.returncode == 0, proc.stderr
    proc = run(VENV_BIN / "ansible-builder", "introspect", "--sanitize", collections)
    assert proc.returncode == 0, proc.stderr
    found = yaml.safe_load(proc.stdout)
    python = " ".join(found["python"])
    # (PyYAML too, which --sanitize drops: ansible-core already requires it)
    for package in ("kubernetes", "jsonpatch", "boto3", "botocore"):
        assert re.search(rf"\b{package}\b.*# from collection k0rdent.kof", python), (package, found["python"])
    system = " ".join(found["system"])
    for package in ("tar", "unzip", "gzip"):
        assert package in system, (package, found["system"])


def test_python_and_system_requirements_are_sound():
    """requirements.txt parses and admits the versions this repository tests with; bindep.txt parses."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        req = Requirement(line)
        assert req.specifier.contains(metadata.version(req.name), prereleases=True), \
            f"requirements.txt {line}: the tested version {metadata.version(req.name)} is outside it"
    from bindep.depends import Depends
    deps = Depends((ROOT / "bindep.txt").read_text())
    # the EE is RPM-based: what its final stage installs there (scripts/ee-install-helm.sh needs these)
    assert {rule[0] for rule in deps.active_rules(["platform:rpm"])} >= {"tar", "unzip", "gzip"}
    meta = yaml.safe_load((ROOT / "meta/execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


# ---------------------------------------------------------------------------------------- configure.yml
def test_configure_playbook_syntax():
    proc = run(VENV_BIN / "ansible-playbook", "--syntax-check", AWX / "configure.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_configure_uses_only_real_awx_module_options():
    """Every option of every awx.awx task exists in that module (awx.awx as shipped in the ansible package), and
    literal values of options with choices are among them."""
    tasks = [t for t in CONFIGURE["tasks"] if any(k.startswith("awx.awx.") for k in t)]
    modules = sorted({next(k for k in t if k.startswith("awx.awx.")) for t in tasks})
    proc = run(VENV_BIN / "ansible-doc", "-j", *modules)
    assert proc.returncode == 0, proc.stderr
    docs = {name: d["doc"]["options"] for name, d in json.loads(proc.stdout).items()}
    problems = []
    for task in tasks:
        module = next(k for k in task if k.startswith("awx.awx."))
        options = docs[module]
        names = {n: spec for o, spec in options.items() for n in [o, *spec.get("aliases", [])]}
        for key, value in task[module].items():
            if key not in names:
                problems.append(f"{task['name']}: {module} has no option {key}")
            elif names[key].get("choices") and isinstance(value, (str, bool)) and "{{" not in str(value) \
                    and value not in names[key]["choices"]:
                problems.append(f"{task['name']}: {key}={value!r} not in {names[key]['choices']}")
    assert problems == [], problems
    assert all("no_log" in t for t in tasks if "awx.awx.credential" in t), "the credential task must be no_log"


def test_job_templates_and_workflow():
    names = [jt["name"] for jt in JOB_TEMPLATES]
    assert len(names) == len(set(names))
    for jt in JOB_TEMPLATES:
        assert (ROOT / jt["playbook"]).is_file(), f"{jt['name']}: {jt['playbook']} does not exist"
        if "survey" in jt:
            assert jt["survey"] in SURVEYS, f"{jt['name']}: no awx/surveys/{jt['survey']}.json"
    by_playbook = {jt["playbook"]: jt for jt in JOB_TEMPLATES}
    for playbook in ("site", "verify", "backup", "uninstall", "restore", "upgrade", "prune"):
        assert "survey" in by_playbook[f"playbooks/{playbook}.yml"], f"{playbook}.yml has no survey"
    # destructive playbooks can be previewed (job type check on launch), the preview is a check job with diff
    for playbook in ("uninstall", "prune", "restore", "upgrade"):
        assert by_playbook[f"playbooks/{playbook}.yml"].get("ask_job_type"), playbook
    preview = next(jt for jt in JOB_TEMPLATES if jt.get("job_type") == "check")
    assert preview["playbook"] == "playbooks/site.yml" and preview["diff_mode"] is True
    assert set(SURVEYS) == {jt["survey"] for jt in JOB_TEMPLATES if "survey" in jt}, "unused survey files"

    # the workflow: site.yml's order, each node a job template above, the next one only on success
    nodes = {n["identifier"]: n for n in WORKFLOW_NODES}
    assert len(nodes) == len(WORKFLOW_NODES)
    for node in WORKFLOW_NODES:
        assert node["unified_job_template"]["type"] == "job_template"
        assert node["unified_job_template"]["name"] in names, node
        for edge in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in node.get("related", {}).get(edge, []):
                assert target["identifier"] in nodes, (node["identifier"], target)
    order, current = [], WORKFLOW_NODES[0]
    targets = {t["identifier"] for n in WORKFLOW_NODES for t in n.get("related", {}).get("success_nodes", [])}
    assert set(nodes) - targets == {current["identifier"]}, "the workflow has one start node"
    while current:
        order.append(by_name(current["unified_job_template"]["name"])["playbook"])
        following = current.get("related", {}).get("success_nodes", [])
        assert len(following) <= 1 and not current.get("related", {}).get("always_nodes")
        current = nodes[following[0]["identifier"]] if following else None
    assert order == [f"playbooks/{p}.yml" for p in ("dns", "mothership", "regional", "dns_records", "child",
                                                     "verify")], order
    site = [p["ansible.builtin.import_playbook"] for p in yaml.safe_load((ROOT / "playbooks/site.yml").read_text())
            if "ansible.builtin.import_playbook" in p]
    assert [Path(p).name for p in order] == site, "the workflow is not site.yml's order"


def by_name(name):
    return next(jt for jt in JOB_TEMPLATES if jt["name"] == name)


# ---------------------------------------------------------------------------------------------- surveys
AWX_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
             "integer": int, "float": (float, int)}


def awx_survey_errors(spec: dict) -> list[str]:
    """AWX's validation of a survey spec (awx/api/views JobTemplateSurveySpec._validate_spec_data)."""
    errors = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(field), kind):
            errors.append(f"{field} missing or not a {kind.__name__}")
    if errors or not spec["spec"]:
        return errors or ["'spec' doesn't contain any items"]
    seen = set()
    for idx, q in enumerate(spec["spec"]):
        for field in ("type", "question_name", "variable", "required"):
            if field not in q or not isinstance(q[field], bool if field == "required" else str):
                errors.append(f"question {idx}: {field} missing or of the wrong type")
        if q.get("variable") in seen:
            errors.append(f"question {idx}: variable {q['variable']} duplicated")
        seen.add(q.get("variable"))
        qtype = q.get("type")
        if qtype not in AWX_TYPES:
            errors.append(f"question {idx}: type {qtype} not allowed")
            continue
        if "default" in q and q["default"] != "" and not isinstance(q["default"], AWX_TYPES[qtype]):
            errors.append(f"question {idx}: default {q['default']!r} is not a {qtype}")
        for key in ("min", "max"):
            if q.get(key) is not None and not isinstance(q[key], int):
                errors.append(f"question {idx}: {key} must be an integer")
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in q:
                errors.append(f"question {idx}: {qtype} needs choices")
            elif "default" in q and q["default"] not in q["choices"]:
                errors.append(f"question {idx}: default {q['default']!r} is not a choice")
    return errors


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_is_valid_for_awx_and_matches_the_argument_specs(name):
    spec = SURVEYS[name]
    assert awx_survey_errors(spec) == []
    for q in spec["spec"]:
        var = q["variable"]
        assert var in ARGSPEC, f"{var} is not an option of role k0rdent.kof.common"
        option = ARGSPEC[var]
        # credentials come from AWX credentials, never from a survey answer (stored with the job)
        assert q["type"] != "password" and not re.search(r"kubeconfig|token|password|secret_key|credential", var)
        if option["type"] == "bool":
            assert q["type"] == "multiplechoice" and q["choices"] == ["true", "false"], var
        elif option["type"] in ("int", "float"):
            assert q["type"] in ("integer", "float"), var
        if option.get("choices"):
            assert set(q["choices"]) <= {str(c) for c in option["choices"]}, var
        default = option.get("default")
        if "default" in q and not (isinstance(default, str) and "{{" in default):
            assert str(q["default"]).lower() == str(default).lower() or var.endswith("_serial"), (var, q["default"])
        if q["required"]:
            assert "default" not in q, f"{var}: a required question without a default makes the operator choose"


def test_surveys_are_generated_from_the_argument_specs(tmp_path):
    proc = run(VENV_BIN / "python", ROOT / "scripts/argspec_to_survey.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    generated = {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    assert generated == SURVEYS, "awx/surveys is stale: run scripts/argspec_to_survey.py"


# -------------------------------------------------------------------------------------- credential types
def test_credential_types_inject_the_kubeconfig_as_a_file():
    (kind,) = CREDENTIAL_TYPES
    fields = {f["id"]: f for f in kind["inputs"]["fields"]}
    required = set(kind["inputs"]["required"])
    assert fields["kubeconfig"]["secret"] is True and "kubeconfig" in required
    injectors = kind["injectors"]
    assert injectors["env"] == {"K8S_AUTH_KUBECONFIG": "{{ tower.filename.kubeconfig }}"}
    assert set(injectors["file"]) == {"template.kubeconfig"}
    # every template names a defined input; an optional input never becomes an environment variable (an empty
    # K8S_AUTH_CONTEXT names a context "" and breaks every job), only an extra var the playbooks default
    for section, templates in injectors.items():
        for key, template in templates.items():
            for ref in re.findall(r"\{\{\s*([\w.]+)\s*\}\}", template):
                assert ref in fields or ref == "tower.filename.kubeconfig", (section, key, ref)
                if section == "env":
                    assert ref in required or ref.startswith("tower."), (key, ref)
    for var in injectors.get("extra_vars", {}):
        assert var in ARGSPEC, f"extra var {var} is not a documented option"
