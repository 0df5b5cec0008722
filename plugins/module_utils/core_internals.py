# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The one place where the collection uses ansible-core below its public API, for the few things that have no
public API. Nothing else in the collection names a private attribute of ansible-core or kubernetes.core.

- diff_mode(module): AnsibleModule keeps --diff in `_diff` only. Used by the resource modules and helm_release.
- variable_context(hostvars), host_variables(...): evaluating a variable in another host's context (play, role
  defaults, task) inside one run_once action plugin needs the VariableManager and inventory behind
  task_vars['hostvars'] and VariableManager.get_vars with the play's host lists. Used by fleet.resolve_per_host
  (cluster_deployments, regional_registrations, validate_inventory): one task for 1000 hosts.
- cache_template_compilation(templar): ansible-core >= 2.19 compiles a template source again for every host;
  memoized on one Templar's own environment. The same callers (the speed at 1000 hosts, docs/performance.md).
- vault_secrets(loader): the run's vault secrets (--vault-id, --vault-password-file, an AWX Vault credential)
  live in DataLoader._vault. Used by backup (encrypt) and restore (decrypt).

Each is checked against the ansible-core versions it is tested on (TESTED, `make matrix`: one virtual env per
version, the unit tests and tests/unit/test_core_internals.py). On a newer ansible-core the calls are still
tried; when the internals changed, the caller gets a one-line error naming the ansible-core version (the
template cache is skipped instead: slower, same results). Everything but diff_mode runs on the controller only.
"""
from __future__ import annotations

import importlib

from ansible.module_utils.ansible_release import __version__ as CORE_VERSION

# the ansible-core versions (major, minor) the calls below are tested on: meta/runtime.yml's requires_ansible
# (>= 2.17) up to the newest release this machine's Python runs
TESTED = ((2, 17), (2, 18), (2, 19), (2, 20))


class CoreInternalsError(RuntimeError):
    """ansible-core's internals are not what this collection was tested with."""


def core_version() -> tuple[int, int]:
    parts = CORE_VERSION.split(".")
    return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


def _unsupported(what: str) -> CoreInternalsError:
    tested = ", ".join(f"{a}.{b}" for a, b in TESTED)
    return CoreInternalsError(f"k0rdent.kof cannot {what} on ansible-core {CORE_VERSION}: it relies on ansible-core "
                              f"internals tested on {tested} only")


def diff_mode(module) -> bool:
    """True when the task runs with --diff / diff: true (AnsibleModule._diff, every tested version)."""
    return bool(getattr(module, "_diff", False))


def variable_context(hostvars):
    """(VariableManager, InventoryManager) behind task_vars['hostvars'] (HostVars keeps both, every tested
    version)."""
    vm = getattr(hostvars, "_variable_manager", None)
    inventory = getattr(hostvars, "_inventory", None)
    if vm is None or inventory is None or not hasattr(vm, "get_vars"):
        raise _unsupported("evaluate variables per host")
    return vm, inventory


def host_variables(vm, *, play, host, task, hosts: list, hosts_all: list) -> dict:
    """The variables a task of `play` sees on `host`: what VariableManager.get_vars gives the task executor,
    with the play's host lists (ansible_play_hosts / ansible_play_hosts_all)."""
    try:
        return vm.get_vars(play=play, host=host, task=task, _hosts=hosts, _hosts_all=hosts_all)
    except TypeError as err:  # the signature changed
        raise _unsupported("evaluate variables per host") from err


def cache_template_compilation(templar) -> bool:
    """ansible-core >= 2.19: memoize template compilation on this Templar's own Jinja environment (a compiled
    template does not depend on the variables it is rendered with). Only this Templar is affected. Returns
    whether the cache is in place; where the internals are not the expected ones nothing is cached (slower, the
    same results). Installed on ansible-core >= 2.19 only, whose templating per host was measured as the cost
    (docs/performance.md)."""
    if core_version() < (2, 19):
        return False
    try:
        env = templar._engine.environment  # pylint: disable=protected-access
        from_string = env.from_string
        # imported by name: this module_utils file may be shipped with a module, this function runs on the
        # controller only (ansible-test's import rules for module_utils are about the target side)
        compile_context = importlib.import_module("ansible._internal._templating._jinja_bits")._TemplateCompileContext
    except (AttributeError, ImportError):
        return False
    compiled = {}

    def cached(source, *args, **kwargs):
        if args or kwargs or not isinstance(source, str):
            return from_string(source, *args, **kwargs)
        ctx = compile_context.current(optional=True)
        key = (source, type(source), getattr(ctx, "escape_backslashes", None))
        if key not in compiled:
            compiled[key] = from_string(source)
        return compiled[key]
    env.from_string = cached
    return True


def vault_secrets(loader) -> list:
    """[(vault id, secret)] the run was given (--vault-id, --vault-password-file, --ask-vault-pass, an AWX Vault
    credential): the DataLoader's VaultLib secrets, every tested version."""
    vault = getattr(loader, "_vault", None)
    if vault is None or not hasattr(vault, "secrets"):
        raise _unsupported("read the vault secrets of the run")
    return list(vault.secrets or [])
