# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""What the fleet plugins (cluster_deployments, regional_registrations, validate_inventory) add to the converge
engine (module_utils/converge.py): per-host variable resolution inside one run_once task, and the live objects
of a collection read with one (paginated) list.
"""
from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.template import Templar

from ansible_collections.k0rdent.kof.plugins.module_utils import core_internals


def resolve_per_host(task, loader, task_vars: dict, hosts: list, var_name: str, names: dict | None = None) -> dict:
    """Evaluate variable `var_name` once per host, in that host's own variable context (inventory,
    group_vars, role defaults, play and extra vars, with Ansible's precedence), from one task.

    This is what running a per-host task would give, without a per-host task: at 1000 hosts a per-host task
    costs more than the whole batch. Returns {host: value or AnsibleError}. With `names` (a dict), also records
    the `kof_*` variable names each host sees (names[host] = set), for the inventory's unknown-variable check.
    The variable manager behind task_vars['hostvars'] has no public accessor: core_internals.
    """
    vm, inventory = core_internals.variable_context(task_vars.get("hostvars"))
    play = task.get_play()
    play_hosts = list(task_vars.get("ansible_play_hosts") or hosts)
    play_hosts_all = list(task_vars.get("ansible_play_hosts_all") or hosts)
    out = {}
    # one Templar for every host (its variables swapped per host), whose Jinja environment compiles each template
    # source once: the same definitions are rendered for every host, and compiling them again for each host was
    # most of the cost at 1000 hosts
    templar = Templar(loader=loader, variables={})
    core_internals.cache_template_compilation(templar)
    for name in hosts:
        host = inventory.get_host(name)
        if host is None:
            out[name] = AnsibleError(f"host {name} is not in the inventory")
            continue
        try:
            ctx = core_internals.host_variables(vm, play=play, host=host, task=task, hosts=play_hosts,
                                                hosts_all=play_hosts_all)
            if names is not None:
                names[name] = {k for k in ctx if k.startswith("kof_")}
            if var_name not in ctx:
                raise AnsibleError(f"variable {var_name} is not defined for host {name}")
            templar.available_variables = ctx
            out[name] = templar.template(ctx[var_name])
        except core_internals.CoreInternalsError:
            raise
        except Exception as err:  # pylint: disable=broad-exception-caught  # one host's bad variable fails that host
            out[name] = err if isinstance(err, AnsibleError) else AnsibleError(str(err))
    return out


def live_by_name(kube, path: str, label_selector=None) -> dict:
    """{name: object} of a collection, read with one paginated list."""
    return {item["metadata"]["name"]: item for item in kube.list_all(path, label_selector=label_selector)[0]}
