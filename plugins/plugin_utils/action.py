# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The base class of the collection's controller-side action plugins: what every one of them did in its own run()
before - validate the task's arguments (the plugin's own options, plus the connection options of doc fragment
k0rdent.kof.kube_connection), build the management cluster's client from them (module_utils/kube.py, one place),
close every client it opened, and turn a KubeError into a one-line failure. A plugin keeps only what is its own:

    class ActionModule(KofAction):
        ARGS = {...}                       # its options (the connection options are added unless CONNECTION = False)

        def act(self, args, result):       # fills result; raise KubeError / ActionFailure to fail with one line
            kube = self.management(args)
            ...

The ActionBase attributes a plugin needs (check mode, diff mode, the task, the loader) are read here only.
"""
from __future__ import annotations

import os

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.k0rdent.kof.plugins.module_utils import core_internals
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import (
    AUTH_ARG_SPEC, Kube, KubeError, connection_settings, load_library)
from ansible_collections.k0rdent.kof.plugins.plugin_utils.fleet import resolve_per_host

display = Display()


class ActionFailure(Exception):
    """A failure of the task with a one-line message and optional extra result fields."""

    def __init__(self, msg: str, **fields):
        super().__init__(msg)
        self.fields = fields


def one_line(err) -> str:
    text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
    return text or err.__class__.__name__


class KofAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    ARGS: dict = {}
    CONNECTION = True  # the task takes the connection options (and may call self.management)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.CONNECTION:
            # A plugin that reaches clusters is defined when the strategy loads its class in the controller (to read
            # BYPASS_HOST_LOOP), before it forks the task's workers: the kubernetes library imported here, once,
            # is inherited by every worker instead of imported again by each (about 0.6 s of CPU per task, a third
            # of a no-op site.yml). A run that stops at validation never loads such a plugin and never pays it.
            load_library()

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        spec = dict(self.ARGS, **AUTH_ARG_SPEC) if self.CONNECTION else dict(self.ARGS)
        args = self.validate_argument_spec(argument_spec=spec)[1]
        self.task_vars = task_vars or {}
        self._clients = []
        try:
            self.act(args, result)
        except ActionFailure as err:
            result.update(err.fields, failed=True, msg=one_line(err))
        except (KubeError, core_internals.CoreInternalsError) as err:
            result.update(failed=True, msg=one_line(err))
        finally:
            for client in self._clients:
                client.close()
        return result

    def act(self, args: dict, result: dict) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------- context
    @property
    def check_mode(self) -> bool:
        return bool(self._task.check_mode)

    @property
    def diff_mode(self) -> bool:
        return bool(self._task.diff)

    def environ(self) -> dict:
        """The controller's environment with the task's `environment` keyword over it - what a module process would
        have seen (its K8S_AUTH_* variables included)."""
        task_env: dict = {}
        self._compute_environment_string(raw_environment_out=task_env)
        return dict(os.environ, **{str(k): str(v) for k, v in task_env.items()})

    def management(self, args: dict, **kw) -> Kube:
        """The management cluster's client from the task's connection options (or their K8S_AUTH_* variables, the
        task's `environment` included); closed when the task ends."""
        return self.client(connection_settings(args, self.environ()), **kw)

    def client(self, settings: dict, **kw) -> Kube:
        """A client of any cluster (a workload cluster's {"kubeconfig": ...}), closed when the task ends."""
        kube = Kube(settings, **kw)
        self._clients.append(kube)
        return kube

    def per_host(self, hosts: list, var_name: str, names: dict | None = None) -> dict:
        """Variable `var_name` evaluated in each host's own context, in this one task (plugin_utils/fleet.py)."""
        return resolve_per_host(self._task, self._loader, self.task_vars, hosts, var_name, names=names)

    def batch(self, name: str) -> dict | None:
        """The registered result of a run_once batch task (its `hosts`: host -> that host's share), or None when
        the task was skipped. ActionFailure when the variable is no such result or the whole batch failed."""
        batch = self.task_vars.get(name)
        if not isinstance(batch, dict):
            raise ActionFailure(f"no batch result in {name}: the batch task did not run (an earlier task failed, "
                                "see above) or it registers another variable")
        if batch.get("failed"):
            raise ActionFailure(f"the batch failed for every host: {batch.get('msg', 'unknown error')}")
        return None if batch.get("skipped") else batch

    def vault_secrets(self) -> list:
        """The vault secrets the run was given (core_internals.vault_secrets)."""
        return core_internals.vault_secrets(self._loader)

    @staticmethod
    def warn(msg: str) -> None:
        display.warning(msg)
