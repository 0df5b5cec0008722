"""Shared helpers for the repository's tests: paths and a real `ansible-playbook` runner."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TOOLS_BIN = ROOT / ".tools" / "bin"


def tool_env(extra: dict | None = None, home: str | os.PathLike | None = None) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{TOOLS_BIN}:{VENV_BIN}:{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    if home is not None:
        env["HOME"] = str(home)
    env.update(extra or {})
    return env


RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.recap = {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
                      for m in RECAP.finditer(proc.stdout)}

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h for h, r in self.recap.items() if r["failed"] or r["unreachable"])

    @property
    def failures(self) -> str:
        """The `fatal:` / `failed:` blocks of the output, for assertion messages."""
        blocks = re.findall(r"^(?:fatal|failed): .*?(?=^\S)", self.stdout, re.M | re.S)
        return "".join(blocks)[:6000]

    def __repr__(self):
        return (f"<Run rc={self.rc} changed={self.changed} failed={self.failed_hosts}>\n{self.failures}\n"
                f"{self.stdout[-3000:]}\n{self.stderr[-2000:]}")


def flat(text: str, unquote: bool = False) -> str:
    """Output with the callback's line wrapping undone: every run of whitespace (a folded or wrapped line) becomes
    one space. unquote=True also turns single quotes into spaces, so a message matches whether or not the YAML
    callback quoted it (a quoted scalar doubles an apostrophe inside it)."""
    return " ".join((text.replace("'", " ") if unquote else text).split())


def ansible_playbook(*args, env: dict | None = None, timeout: int = 900, cwd=None) -> Run:
    cmd = [str(VENV_BIN / "ansible-playbook"), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or tool_env(), timeout=timeout,
                          cwd=cwd or ROOT)
    return Run(proc)


def bumped_charts(tmp: Path, version: str = "0.1.2") -> Path:
    """kofsim's stand-in charts exist in one version: a copy (made once per directory) with a new chart version,
    and kof-mothership's ServiceTemplates pointing at it, as a KOF upgrade brings."""
    import yaml  # pylint: disable=import-outside-toplevel

    dest = Path(tmp) / f"charts-{version}"
    if not dest.exists():
        shutil.copytree(ROOT / "kofsim" / "kofsim" / "charts", dest)
        for chart in dest.glob("*/Chart.yaml"):
            meta = yaml.safe_load(chart.read_text())
            meta["version"] = meta["appVersion"] = version
            chart.write_text(yaml.safe_dump(meta, sort_keys=False))
        values = dest / "kof-mothership" / "values.yaml"
        doc = yaml.safe_load(values.read_text())
        for chart in doc["kcm"]["kof"]["charts"].values():
            chart["version"] = version
        values.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest
