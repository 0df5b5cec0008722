"""k0rdent.kof.only_in / not_in give what select('in', ...) / reject('in', ...) give, on ansible-core's own lazy
lists (groups, play hosts, templated variables), through a real ansible-playbook."""
from __future__ import annotations

import json

from tests.helpers import ansible_playbook

PLAYBOOK = """
- hosts: all
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    scope: "{{ groups['child'] | select('match', '.*[02468]$') | list }}"
    excluded: "{{ ['r2', 'c3'] }}"
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ result | to_json }}"
      vars:
        result:
          only: "{{ groups['child'] | k0rdent.kof.only_in(scope) }}"
          select: "{{ groups['child'] | select('in', scope) | list }}"
          not: "{{ groups['all'] | k0rdent.kof.not_in(excluded) }}"
          reject: "{{ groups['all'] | reject('in', excluded) | list }}"
          batch: "{{ ansible_play_batch | k0rdent.kof.only_in(groups['regional']) }}"
          batch_select: "{{ ansible_play_batch | select('in', groups['regional']) | list }}"
          missing_group: "{{ ansible_play_batch | k0rdent.kof.only_in(groups['nope'] | default([])) }}"
      run_once: true
      delegate_to: localhost
"""

INVENTORY = """
regional:
  hosts: {r1: {}, r2: {}}
child:
  hosts: {c1: {}, c2: {}, c3: {}, c4: {}, c10: {}}
"""


def test_same_answers_as_select_and_reject(tmp_path):
    (tmp_path / "pb.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    out = tmp_path / "out.json"
    run = ansible_playbook("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "pb.yml"), "-e", f"out={out}")
    assert run.rc == 0, run.stdout
    res = json.loads(out.read_text())
    assert res["only"] == res["select"] == ["c2", "c4", "c10"]
    assert res["not"] == res["reject"] == ["r1", "c1", "c2", "c4", "c10"]
    assert res["batch"] == res["batch_select"] == ["r1", "r2"]
    assert res["missing_group"] == []
