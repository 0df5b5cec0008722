# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The Prometheus HTTP API of promxy (or any Prometheus-compatible endpoint) as the cost engine's source.

``PromSource(base_url, token=..., ca_file=..., verify=...)``: ``base_url`` ends before ``/api/v1`` - e.g. the
API server's service proxy ``https://<apiserver>/api/v1/namespaces/kof/services/kof-mothership-promxy:8082/proxy``
or a port-forward ``http://127.0.0.1:<port>``. Standard library only; form-encoded POSTs (long PromQL), a bounded
retry on connection errors and 502/503/504, one-line errors naming the endpoint."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url

try:
    from ansible_collections.k0rdent.kof.plugins.module_utils.finops import FinOpsError
except ImportError:  # pragma: no cover - used outside the collection (benchmarks)
    from finops import FinOpsError  # type: ignore

PROMXY_SERVICE_PATH = "/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy"


def service_proxy_url(api_server: str, namespace="kof", service="kof-mothership-promxy", port=8082) -> str:
    return api_server.rstrip("/") + PROMXY_SERVICE_PATH.format(namespace=namespace, service=service, port=port)


class PromSource:
    def __init__(self, base_url: str, *, token: str | None = None, headers: dict | None = None,
                 ca_file: str | None = None, client_cert: str | None = None, client_key: str | None = None,
                 verify: bool = True, timeout: float = 120, retries: int = 3, what: str = "promxy"):
        self.base = base_url.rstrip("/")
        self.what = what
        self.headers = dict(headers or {})
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout, self.retries = timeout, retries
        self.tls = dict(validate_certs=verify, ca_path=ca_file, client_cert=client_cert, client_key=client_key) \
            if self.base.startswith("https") else {}
        self.requests = 0

    def _post(self, path: str, params: dict):
        body = urllib.parse.urlencode(params).encode()
        url = self.base + path
        last = None
        for attempt in range(self.retries + 1):
            self.requests += 1
            headers = dict(self.headers, **{"Content-Type": "application/x-www-form-urlencoded",
                                            "Accept": "application/json"})
            try:
                with open_url(url, data=body, headers=headers, method="POST", timeout=self.timeout, use_netrc=False,
                              **self.tls) as r:
                    out = json.loads(r.read())
                break
            except urllib.error.HTTPError as e:
                text = e.read()[:600].decode("utf-8", "replace")
                try:
                    j = json.loads(text)
                    text = j.get("error") or j.get("message") or text
                except ValueError:
                    pass
                last = f"{self.what} at {self.base} answered HTTP {e.code}: {text.strip()}"
                if e.code in (502, 503, 504) and attempt < self.retries:
                    time.sleep(min(2 ** attempt * 0.5, 4))
                    continue
                raise FinOpsError(last)
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", e)
                last = f"{self.what} unreachable at {self.base}: {reason}"
                if attempt < self.retries:
                    time.sleep(min(2 ** attempt * 0.5, 4))
                    continue
                raise FinOpsError(last)
        if out.get("status") != "success":
            raise FinOpsError(f"{self.what} refused a query: {out.get('errorType', '')} {out.get('error', '')}")
        return out["data"]["result"]

    def query(self, expr: str, at: float):
        return self._post("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})

    def query_range(self, expr: str, start: float, end: float, step: int):
        # nocache=1: VictoriaMetrics would otherwise align/cache; Prometheus and promxy ignore the argument
        return self._post("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                  "step": f"{int(step)}s", "nocache": "1"})
