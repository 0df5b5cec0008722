"""`ansible-test sanity` for everything under plugins/ (with meta/runtime.yml and galaxy.yml), clean, with the
ansible-test of the Python running this test: .venv's (ansible-core 2.19) in `make test`, each supported
ansible-core's in `make matrix` (2.17, 2.18, 2.19, 2.20).

ansible-test needs the collection at .../ansible_collections/k0rdent/kof, so the shipped plugin files are copied
into a temporary tree (the plugins need no other collection). It runs each test in a virtual env of its own,
installing its pinned requirements from PyPI once and caching them under .cache/ansible-test (git-ignored); the
one thing it would fetch from elsewhere is pip's bootstrap script (ci-files.testing.ansible.com), which is
replaced here by one using ensurepip, so nothing but PyPI is contacted.

tests/sanity/ignore-X.Y.txt: one file per supported ansible-core, all alike, holding only
validate-modules:missing-gplv3-license for each module and plugin file: ansible-test's validate-modules
(_check_gpl3_header, every version 2.17 to 2.20) requires the text "GNU General Public License" and "version 3"
or "v3.0" in the first 20 lines of every module and documented plugin, whatever the collection's license; an
Apache-2.0 file cannot satisfy that without claiming a license it does not have. Anything broader is rejected
below.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import ansible
import pytest
import yaml

from tests.helpers import ROOT, VENV_BIN

CACHE = ROOT / ".cache" / "ansible-test"
SKIPPED = ("changelog", "shellcheck", "pslint")  # no antsibull-changelog here, no shell or PowerShell in plugins/
CORE = ".".join(ansible.__version__.split(".")[:2])
SANITY = ROOT / "tests" / "sanity"
IGNORE = SANITY / f"ignore-{CORE}.txt"
SUPPORTED = ("2.17", "2.18", "2.19", "2.20")  # meta/runtime.yml requires_ansible >= 2.17; make matrix runs each
# get-pip replacement: pip from the interpreter's own ensurepip wheel, then whatever ansible-test asks for
GET_PIP = '''"""Bootstraps pip with ensurepip (no download), then runs pip install with the given arguments."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
'''


def pip_bootstrap_version() -> str:
    try:
        from ansible_test._internal.python_requirements import get_venv_packages  # pylint: disable=import-error
    except ImportError:  # a private API: fall back to ansible-core 2.19's pin
        return "24.2"

    class Python:  # get_venv_packages only reads .version
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return get_venv_packages(Python())["pip"]


def collection_tree(workdir: Path) -> Path:
    root = workdir / "ansible_collections"
    coll = root / "k0rdent" / "kof"
    coll.mkdir(parents=True)
    shutil.copy2(ROOT / "galaxy.yml", coll / "galaxy.yml")
    shutil.copytree(ROOT / "meta", coll / "meta")
    shutil.copytree(ROOT / "plugins", coll / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if SANITY.is_dir():
        shutil.copytree(SANITY, coll / "tests" / "sanity")
    return coll


# The only code ignored: the collection is Apache-2.0 (galaxy.yml, LICENSE), validate-modules wants a GPLv3 header
# (see the docstring); ansible-lint's sanity rule lists this ignore as acceptable for that reason.
LICENSE_CODE = "validate-modules:missing-gplv3-license"


def test_one_ignore_file_per_supported_core_and_nothing_but_the_license():
    """ignore-2.17.txt ... ignore-2.20.txt exist and are alike; every entry is the license code for one module or
    documented plugin file, with its reason, and every such file has its entry (no more, no less)."""
    minimum = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    assert minimum == f">={SUPPORTED[0]}.0", "SUPPORTED starts at meta/runtime.yml's requires_ansible"
    files = {path.name for path in SANITY.glob("ignore-*.txt")}
    assert files == {f"ignore-{core}.txt" for core in SUPPORTED}, files
    texts = {(SANITY / name).read_text() for name in files}
    assert len(texts) == 1, "the ignore files of the supported cores differ"
    entries = set()
    for line in texts.pop().splitlines():
        match = re.match(r"^(plugins/\S+\.py) ([a-z0-9.-]+:[a-z0-9-]+) +# \S.*$", line)
        assert match, f"not a per-file, per-code entry with a reason: {line!r}"
        assert match.group(2) == LICENSE_CODE, f"only the license entry may be ignored: {line!r}"
        entries.add(match.group(1))
    documented = {str(p.relative_to(ROOT)) for p in (ROOT / "plugins" / "modules").glob("*.py")}
    documented |= {str(p.relative_to(ROOT)) for p in (ROOT / "plugins" / "inventory").glob("*.py")}
    assert entries == documented, (sorted(entries - documented), sorted(documented - entries))


def ansible_test_sanity(workdir: Path, *extra) -> subprocess.CompletedProcess:
    coll = collection_tree(workdir)
    home = CACHE / "home"
    (home / ".ansible" / "test" / "cache").mkdir(parents=True, exist_ok=True)
    (home / ".ansible" / "test" / "cache" / f"get_pip_{pip_bootstrap_version().replace('.', '_')}.py").write_text(
        GET_PIP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_", "PYTHONPATH"))}
    env.update(HOME=str(home), PATH=f"{VENV_BIN}:{env.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    env.pop("VIRTUAL_ENV", None)
    cmd = [str(VENV_BIN / "ansible-test"), "sanity", "--local", "--color", "no",
           "--python", f"{sys.version_info[0]}.{sys.version_info[1]}", "--python-interpreter", sys.executable, *extra]
    for name in SKIPPED:
        cmd += ["--skip-test", name]
    with open(CACHE / "lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the cached per-test virtual envs are shared between runs
        return subprocess.run(cmd, cwd=coll, env=env, capture_output=True, text=True, timeout=1500)


@pytest.mark.static
def test_ansible_test_sanity(tmp_path):
    proc = ansible_test_sanity(tmp_path)
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith(("ERROR:", "FATAL:"))]
    assert proc.returncode == 0, "\n".join(errors) or out[-6000:]
    ran = re.findall(r'Running sanity test "([a-z0-9-]+)"', out)
    for name in ("validate-modules", "pylint", "pep8", "import", "ansible-doc", "yamllint", "compile",
                 "action-plugin-docs", "runtime-metadata", "shebang"):
        assert name in ran, f"sanity test {name} did not run: {ran}"


if __name__ == "__main__":
    # `python -m tests.static.test_sanity --prime`: install the sanity test environments ahead (e.g. from
    # make setup), so the test itself contacts nothing
    import tempfile
    if sys.argv[1:] != ["--prime"]:
        sys.exit("usage: python -m tests.static.test_sanity --prime")
    with tempfile.TemporaryDirectory() as tmp:
        result = ansible_test_sanity(Path(tmp), "--prime-venvs")
    print(result.stdout[-3000:], result.stderr[-3000:])
    sys.exit(result.returncode)
