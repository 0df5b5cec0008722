# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.helm_release: the helm command line run from the controller process. As a
module, every release waited for a module process (the AnsiballZ zip written, unpacked and its module_utils
compiled): a no-op KOF 0.1.1 management tier's install task took 4.5 s, now 1.1 s; the CPU is about the same
and the helm commands are the same. See the module file for the options."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

from ansible_collections.k0rdent.kof.plugins.module_utils.helm_cli import (
    GO_DURATION, Helm, HelmConnectionError, HelmError, helm_connection, local_chart, mask, merge, normalise, uninstall_args, upgrade_args)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import connection_settings
from ansible_collections.k0rdent.kof.plugins.plugin_utils import day2
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction


class _Controller:
    """What helm_cli.Helm needs of where it runs (AnsibleModule's run_command and add_cleanup_file): helm runs in
    the task's environment; its private files (a kubeconfig mapping, the values) are removed when the task ends."""

    def __init__(self, environ: dict):
        self.environ = environ
        self.files: list[str] = []

    def run_command(self, argv: list, environ_update: dict | None = None) -> tuple[int, str, str]:
        try:
            proc = subprocess.run(argv, env=dict(self.environ, **(environ_update or {})), capture_output=True,
                                  encoding="utf-8", errors="replace", stdin=subprocess.DEVNULL, check=False)
        except OSError as err:
            raise HelmError(f"cannot run {argv[0]}: {err}") from err
        return proc.returncode, proc.stdout, proc.stderr

    def add_cleanup_file(self, path: str) -> None:
        self.files.append(path)

    def cleanup(self) -> None:
        for path in self.files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class ActionModule(KofAction):
    ARGS = {
        "release_name": {"type": "str", "required": True, "aliases": ["name"]},
        "release_namespace": {"type": "str", "required": True, "aliases": ["namespace"]},
        "chart_ref": {"type": "str"},
        "chart_version": {"type": "str"},
        "values": {"type": "dict", "default": {}},
        "values_files": {"type": "list", "elements": "path", "default": []},
        "hidden_values": {"type": "list", "elements": "str", "default": [], "no_log": False},
        "create_namespace": {"type": "bool", "default": False},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "str", "default": "10m"},
        "atomic": {"type": "bool", "default": False},
        "take_ownership": {"type": "bool", "default": False},
        "server_side": {"type": "str", "choices": ["true", "false", "auto"]},
        "skip_crds": {"type": "bool", "default": False},
        "cascade": {"type": "str", "choices": ["foreground", "background", "orphan"], "default": "foreground"},
        "plain_http": {"type": "bool", "default": False},
        "insecure_skip_tls_verify": {"type": "bool", "default": False},
        "retries": {"type": "int", "default": 3},
        "binary_path": {"type": "path", "default": "helm"},
    }

    def act(self, args, result):
        # plain types: ansible-core 2.19 hands a controller-side plugin tagged strings, which yaml.safe_dump (the
        # diff) cannot represent; a module got them through JSON
        p = json.loads(json.dumps(args))
        if not GO_DURATION.match(p["wait_timeout"]):
            raise ActionFailure(f"wait_timeout {p['wait_timeout']!r} is not a Go duration like 5m or 300s")
        if p["state"] == "present" and not p["chart_ref"]:
            raise ActionFailure("chart_ref is required with state=present")
        if p["retries"] < 0:
            raise ActionFailure(f"retries {p['retries']} must be 0 or more")
        environ = self.environ()
        settings = connection_settings(p, environ)
        if settings.get("validate_certs") is False:
            self.warn("validate_certs is false: the API server certificate is not verified")
        if p["insecure_skip_tls_verify"]:
            self.warn("insecure_skip_tls_verify is set: the chart repository certificate is not verified")
        binary = p["binary_path"] if "/" in p["binary_path"] else shutil.which(p["binary_path"],
                                                                               path=environ.get("PATH"))
        if not binary:
            raise ActionFailure(f"helm not found ({p['binary_path']}): set binary_path or install helm 3 or helm 4")
        host = _Controller(environ)
        try:
            helm = Helm(host, binary, retries=p["retries"])
            try:
                self._release(helm, settings, p, result)
            except HelmConnectionError as err:  # a setting helm cannot take, refused before helm runs
                raise ActionFailure(str(err)) from err
            except HelmError as err:
                raise ActionFailure(f"helm failed: {err}", retried=getattr(err, "retried", helm.retried)) from err
        finally:
            host.cleanup()

    def _release(self, helm: Helm, settings: dict, p: dict, result: dict) -> None:
        kube, environ = helm_connection(settings, p, helm.private_file)
        helm.environ.update(environ)
        major = helm.detect()
        name, ns = p["release_name"], p["release_namespace"]
        result.update(changed=False, helm_version=helm.version)
        current = helm.status(name, ns, kube)

        if p["state"] == "absent":
            if current is not None:
                result["changed"] = True
                if self.diff_mode:
                    chart = current.get("chart") or (current.get("info") or {}).get("description")
                    result["diff"] = dict(before=day2.yaml_text({"release": name, "chart": chart}), after="")
                if not self.check_mode:
                    args = uninstall_args(name, ns, wait=p["wait"], timeout=p["wait_timeout"], cascade=p["cascade"])
                    helm.run(args + kube)
                    result["command"] = " ".join(["helm"] + args)
            result["retried"] = helm.retried
            return

        # desired state
        wanted = {}
        for f in p["values_files"]:
            import yaml  # pylint: disable=import-outside-toplevel
            try:
                with open(f, encoding="utf-8") as fh:
                    wanted = merge(wanted, yaml.safe_load(fh) or {})
            except (OSError, yaml.YAMLError) as err:
                raise ActionFailure(f"cannot read values file {f}: {err}") from err
        wanted = normalise(merge(wanted, p["values"]))
        chart_meta = local_chart(p["chart_ref"])
        version = p["chart_version"]
        chart_name = p["chart_ref"].rstrip("/").split("/")[-1]
        if chart_meta is not None:
            version = str(chart_meta.get("version", "")) or version
            chart_name = chart_meta.get("name", chart_name)
            pass_version = None  # a local chart takes no --version
        else:
            pass_version = version

        before = {}
        reasons = []
        if current is None:
            reasons.append("not installed")
        else:
            deployed = normalise(helm.user_values(name, ns, kube))
            chart = current.get("chart") or ""
            if not chart:
                # helm status -o json has no chart field in helm 3; read it from helm list
                out = helm.run(["list", "--namespace", ns, "--filter", f"^{name}$", "-o", "json"] + kube)[1]
                rows = [r for r in json.loads(out or "[]") if r.get("name") == name]
                chart = rows[0].get("chart", "") if rows else ""
            state = (current.get("info") or {}).get("status")
            before = {"chart": chart, "status": state, "values": mask(deployed, p["hidden_values"])}
            if state != "deployed":
                reasons.append(f"release status is {state}")
            if version and chart != f"{chart_name}-{version}":
                reasons.append(f"chart {chart} -> {chart_name}-{version}")
            if deployed != wanted:
                reasons.append("values differ")
        after = {"chart": f"{chart_name}-{version}" if version else chart_name, "status": "deployed",
                 "values": mask(wanted, p["hidden_values"])}
        result["values"] = after["values"]
        if reasons:
            result["changed"] = True
            result["reasons"] = reasons
        if self.diff_mode and result["changed"]:
            result["diff"] = dict(before=day2.yaml_text(before), after=day2.yaml_text(after),
                                  before_header=f"helm release {ns}/{name} (deployed)",
                                  after_header=f"helm release {ns}/{name} (requested)")
        if result["changed"] and not self.check_mode:
            values_file = helm.values_file(wanted)
            args = upgrade_args(major, name, p["chart_ref"], ns, version=pass_version, values_file=values_file,
                                create_namespace=p["create_namespace"], wait=p["wait"], timeout=p["wait_timeout"],
                                atomic=p["atomic"], take_ownership=p["take_ownership"], server_side=p["server_side"],
                                skip_crds=p["skip_crds"], plain_http=p["plain_http"],
                                insecure_skip_tls_verify=p["insecure_skip_tls_verify"])
            helm.run(args + kube)
            result["command"] = " ".join(["helm"] + [a if a != values_file else "<values file>" for a in args])
            current = helm.status(name, ns, kube)
        if current is not None:
            current.pop("config", None)      # user values live in result.values, masked
            current.pop("manifest", None)
            current.pop("hooks", None)       # hook manifests may hold Secrets
            result["status"] = current
        result["retried"] = helm.retried
