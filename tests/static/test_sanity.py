"""`ansible-test sanity` for everything under plugins/ (with meta/runtime.yml and galaxy.yml), clean.

ansible-test needs the collection at .../ansible_collections/k0rdent/kof, so the shipped plugin files are copied
into a temporary tree next to kubernetes.core (its doc fragment and module_utils are used) from the installed
`ansible` package. It runs each test in a virtual env of its own, installing its pinned requirements from PyPI
once and caching them under .cache/ansible-test (git-ignored); the one thing it would fetch from elsewhere is
pip's bootstrap script (ci-files.testing.ansible.com), which is replaced here by one using ensurepip, so nothing
but PyPI is contacted. tests/sanity/ignore-X.Y.txt holds only per-file entries with a reason; blanket ignores are
rejected below.
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

from tests.helpers import ROOT, VENV_BIN

ANSIBLE_COLLECTIONS = Path(ansible.__file__).resolve().parent.parent / "ansible_collections"
CACHE = ROOT / ".cache" / "ansible-test"
SKIPPED = ("changelog", "shellcheck", "pslint")  # no changelog fragments here, no shell or PowerShell in plugins/
CORE = ".".join(ansible.__version__.split(".")[:2])
IGNORE = ROOT / "tests" / "sanity" / f"ignore-{CORE}.txt"
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
    if (ROOT / "tests" / "sanity").is_dir():
        shutil.copytree(ROOT / "tests" / "sanity", coll / "tests" / "sanity")
    (root / "kubernetes").mkdir()
    (root / "kubernetes" / "core").symlink_to(ANSIBLE_COLLECTIONS / "kubernetes" / "core")
    return coll


# The only code ignored for every module: the collection is Apache-2.0 (galaxy.yml), validate-modules wants a GPLv3
# header; ansible-lint's sanity rule lists this ignore as acceptable for that reason.
LICENSE_CODE = "validate-modules:missing-gplv3-license"


def test_ignore_file_has_no_blanket_entries():
    """Every entry names one file, one test and its code, and says why; no skips, no directories; besides the
    license entry of each module, at most three."""
    if not IGNORE.exists():
        return
    lines = [line for line in IGNORE.read_text().splitlines() if line.strip()]
    others = []
    for line in lines:
        match = re.match(r"^(plugins/\S+\.py) ([a-z0-9.-]+:[a-z0-9-]+) +# \S.*$", line)
        assert match, f"not a per-file, per-code entry with a reason: {line!r}"
        assert (ROOT / match.group(1)).is_file(), f"ignore entry for a missing file: {line!r}"
        if match.group(2) == LICENSE_CODE:
            assert match.group(1).startswith(("plugins/modules/", "plugins/inventory/")), line
        else:
            others.append(line)
    assert len(others) <= 3, f"the ignore file must stay nearly empty: {others}"


def ansible_test_sanity(workdir: Path, *extra) -> subprocess.CompletedProcess:
    coll = collection_tree(workdir)
    home = CACHE / "home"
    (home / ".ansible" / "test" / "cache").mkdir(parents=True, exist_ok=True)
    (home / ".ansible" / "test" / "cache" / f"get_pip_{pip_bootstrap_version().replace('.', '_')}.py").write_text(
        GET_PIP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_", "PYTHONPATH"))}
    env.update(HOME=str(home), PATH=f"{VENV_BIN}:{env.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
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
