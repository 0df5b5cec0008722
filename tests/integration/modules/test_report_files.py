"""k0rdent.kof.report_files through a real ansible-playbook run (no cluster): the stable names and timestamped
copies with retention, changed only when the content changes (an unchanged re-run writes nothing), --check
writes nothing and predicts the run, --diff shows the stable files' change, bad arguments refused before
anything is written."""
from __future__ import annotations

import json

from tests.helpers import ansible_playbook, tool_env

PLAY = """
- name: Write a report
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write it
      k0rdent.kof.report_files:
        dir: "{{ out }}"
        name: "{{ report_name | default('dns-records') }}"
        formats: "{{ formats | default({'md': '# records ' ~ revision ~ '\\n', 'json': {'revision': revision} | to_json}) }}"
        keep: "{{ keep | default(2) }}"
      register: written

    - name: Show what it returned
      ansible.builtin.debug:
        var: written.files
"""


def run(tmp_path, *args, **extra):
    (tmp_path / "play.yml").write_text(PLAY)
    return ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), "-e", json.dumps(extra), *args,
                            env=tool_env(home=tmp_path / "home"))


def test_report_files_retention_check_diff_and_refusals(tmp_path):
    out = tmp_path / "out"
    check = run(tmp_path, "--check", out=str(out), revision=1)
    assert check.rc == 0 and check.changed == 1, check
    assert not out.exists()

    for revision in (1, 2, 3):
        done = run(tmp_path, out=str(out), revision=revision)
        assert done.rc == 0 and done.changed == 1, done
    assert (out / "dns-records.md").read_text() == "# records 3\n"
    assert json.loads((out / "dns-records.json").read_text()) == {"revision": 3}
    stamped = sorted(p.name for p in out.glob("dns-records-*"))
    assert len(stamped) == 4 and sorted(n.rsplit(".", 1)[1] for n in stamped) == ["json", "json", "md", "md"], stamped
    same = run(tmp_path, out=str(out), revision=3)
    assert same.rc == 0 and same.changed == 0, same
    assert sorted(p.name for p in out.glob("dns-records-*")) == stamped

    diff = run(tmp_path, "--check", "--diff", out=str(out), revision=4)
    assert diff.rc == 0 and "-# records 3" in diff.stdout and "+# records 4" in diff.stdout, diff.stdout[-2000:]
    assert (out / "dns-records.md").read_text() == "# records 3\n"

    for bad, message in (({"report_name": "../escape"}, "must be a file name prefix"),
                         ({"keep": -1}, "keep -1 must be 0 or more"),
                         ({"formats": {"m/d": "x"}}, "must map file extensions")):
        refused = run(tmp_path, out=str(out), revision=5, **bad)
        assert refused.rc != 0 and message in refused.stdout, (bad, refused.stdout[-2000:])
    assert (out / "dns-records.md").read_text() == "# records 3\n"
    assert not list(out.glob("escape*")) and not (tmp_path / "escape.md").exists()
