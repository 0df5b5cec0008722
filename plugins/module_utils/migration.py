# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Regional data migration (k0rdent docs admin/kof, kof-upgrade: "Data Backup" and "Data migration to a new
regional cluster"): VictoriaMetrics series through /api/v1/export -> /api/v1/import and VictoriaLogs rows through
/select/logsql/query -> /insert/jsonline, by way of gzip files on the controller (the data backup the docs take
first), with counts taken while streaming so the target can be checked against the source.

Endpoints are the bases the regional cluster's vmauth serves (`metrics_read` ends before /api/v1/export, e.g.
https://vmauth.<domain>/vm/select/0/prometheus; `metrics_write` before /api/v1/import; `logs_read` before
/select/logsql/query; `logs_write` before /insert/jsonline). Standard library only, bounded memory (1 MiB chunks,
one line at a time), TLS verified unless told otherwise, credentials only in the Authorization header."""
from __future__ import annotations

import base64
import gzip
import json
import os
import time
import urllib.error
import urllib.parse
import zlib

from ansible.module_utils.urls import open_url

CHUNK = 1 << 20
ENDPOINT_KEYS = ("metrics_read", "metrics_write", "logs_read", "logs_write")
# kof-operator 1.x's regional ConfigMap kof-<regional> (configmap_cluster_data.go): write endpoints end with the
# collectors' remote-write / OTLP paths; the migration writes through the same vmauth routes with the import APIs.
CONFIGMAP_KEYS = {"metrics_read": "read_metrics_endpoint", "metrics_write": "write_metrics_endpoint",
                  "logs_read": "read_logs_endpoint", "logs_write": "write_logs_endpoint"}
WRITE_SUFFIXES = {"metrics_write": "/api/v1/write", "logs_write": "/insert/opentelemetry/v1/logs"}


class MigrationError(Exception):
    """A failed migration step, one line, naming the endpoint (never a credential)."""


def endpoints_for_domain(domain: str, generation: str) -> dict:
    """The vmauth routes of a regional cluster by its domain. KOF 0.1.x (kof-storage's VMUser vmuser-select):
    /vm/select/.*, /vm/insert/.* and /vls/.* (victoria-logs-single serves select and insert on one port). KOF 1.x
    (kof-operator's VMUsers): /vm/select/.*, /vm/insert/.*, /vls/.* (vlselect) and /vli/.* (vlinsert)."""
    if not domain:
        raise MigrationError("no domain to derive the regional cluster's vmauth endpoints from")
    base = f"https://vmauth.{domain}"
    return {"metrics_read": f"{base}/vm/select/0/prometheus", "metrics_write": f"{base}/vm/insert/0/prometheus",
            "logs_read": f"{base}/vls", "logs_write": f"{base}/vli" if generation == "1.x" else f"{base}/vls"}


def endpoints_from_configmap(data: dict) -> dict:
    """Endpoints from the data of KOF 1.x's regional ConfigMap kof-<regional> (the collectors' endpoints, with the
    remote-write and OTLP suffixes taken off: the docs import through /insert/jsonline instead of the OTLP path)."""
    out = {}
    for key, cm_key in CONFIGMAP_KEYS.items():
        value = str((data or {}).get(cm_key) or "").rstrip("/")
        suffix = WRITE_SUFFIXES.get(key)
        if suffix and value.endswith(suffix):
            value = value[:-len(suffix)]
        out[key] = value
    return out


def check_endpoints(endpoints: dict, needed, what: str) -> dict:
    """The endpoints, each an http(s) URL; MigrationError naming the first missing or malformed one."""
    out = {}
    for key in needed:
        url = str((endpoints or {}).get(key) or "").rstrip("/")
        parsed = urllib.parse.urlparse(url)
        if "@" in parsed.netloc:
            raise MigrationError(f"{what}: {key} must not carry credentials in the URL (use a credentials Secret)")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise MigrationError(f"{what}: {key} must be an http(s) URL, got {url!r}")
        out[key] = url
    return out


def basic_auth(username: str, password: str) -> dict:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Counter:
    """Counts the JSON lines of a stream fed in chunks: lines, and for VictoriaMetrics' export format the samples
    (the length of each line's "values") and the time range (min/max of "timestamps", in ms)."""

    def __init__(self, metrics: bool):
        self.metrics = metrics
        self.lines = self.samples = 0
        self.first = self.last = None
        self._rest = b""

    def feed(self, data: bytes):
        data = self._rest + data
        *lines, self._rest = data.split(b"\n")
        for line in lines:
            self._line(line)

    def close(self):
        if self._rest.strip():
            self._line(self._rest)
        self._rest = b""
        return self

    def _line(self, line: bytes):
        if not line.strip():
            return
        self.lines += 1
        if not self.metrics:
            return
        try:
            row = json.loads(line)
        except ValueError as err:
            raise MigrationError(f"the export has a line that is not JSON ({err})") from None
        values, stamps = row.get("values") or [], row.get("timestamps") or []
        self.samples += len(values)
        if stamps:
            lo, hi = min(stamps), max(stamps)
            self.first = lo if self.first is None else min(self.first, lo)
            self.last = hi if self.last is None else max(self.last, hi)

    def summary(self) -> dict:
        out = {"series" if self.metrics else "rows": self.lines}
        if self.metrics:
            out["samples"] = self.samples
            if self.first is not None:
                out["first_ms"], out["last_ms"] = self.first, self.last
        return out


class Storage:
    """One side of a migration: its endpoints, its credentials (kept out of every message), TLS settings."""

    def __init__(self, name: str, endpoints: dict, *, username: str = "", password: str = "",
                 validate_certs: bool = True, ca_file: str | None = None, timeout: float = 3600, retries: int = 3):
        self.name, self.endpoints = name, endpoints
        self.headers = basic_auth(username, password) if username or password else {}
        self.validate_certs, self.ca_file = validate_certs, ca_file
        self.timeout, self.retries = timeout, retries

    def _open(self, url: str, *, data=None, headers=None, what=""):
        last = None
        for attempt in range(self.retries + 1):
            try:
                if hasattr(data, "seek"):
                    data.seek(0)
                return open_url(url, data=data, headers=dict(self.headers, **(headers or {})), method="POST",
                                timeout=self.timeout, use_netrc=False, validate_certs=self.validate_certs,
                                ca_path=self.ca_file, http_agent="k0rdent.kof-migration",
                                # the gzip body as sent: written to the file as it is, inflated only to count
                                decompress=False)
            except urllib.error.HTTPError as err:
                text = " ".join(err.read()[:400].decode("utf-8", "replace").split())
                last = f"{what} at {self.name} ({strip_query(url)}) answered HTTP {err.code}: {text}"
                if err.code in (502, 503, 504, 429) and attempt < self.retries:
                    time.sleep(min(2 ** attempt, 8))
                    continue
                raise MigrationError(last) from None
            except (urllib.error.URLError, OSError) as err:
                last = f"{what} at {self.name} ({strip_query(url)}) failed: {getattr(err, 'reason', err)}"
                if attempt < self.retries:
                    time.sleep(min(2 ** attempt, 8))
                    continue
                raise MigrationError(last) from None
        raise MigrationError(last)  # pragma: no cover - the loop returns or raises

    def export(self, kind: str, params: dict, path: str | None = None) -> dict:
        """Stream an export (kind "metrics": /api/v1/export, "logs": /select/logsql/query) into a gzip file at
        `path` (mode 0600; None: count only) and return its counts."""
        metrics = kind == "metrics"
        url = self.endpoints["metrics_read" if metrics else "logs_read"] + (
            "/api/v1/export" if metrics else "/select/logsql/query")
        body = urllib.parse.urlencode(params, doseq=True).encode()
        counter = Counter(metrics)
        what = "exporting metrics" if metrics else "exporting logs"
        resp = self._open(url, data=body, what=what, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept-Encoding": "gzip"})
        out = None
        try:
            gzipped = (resp.headers.get("Content-Encoding") or "").lower() == "gzip"
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
            if path:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                out = os.fdopen(fd, "wb") if gzipped else gzip.GzipFile(fileobj=os.fdopen(fd, "wb"), mode="wb")
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                if out is not None:
                    out.write(chunk)
                counter.feed(inflate.decompress(chunk) if inflate else chunk)
            if inflate:
                counter.feed(inflate.flush())
        except (OSError, zlib.error, EOFError) as err:
            raise MigrationError(f"{what} from {self.name} broke off: {err}") from None
        finally:
            resp.close()
            if out is not None:
                fileobj = getattr(out, "fileobj", None)
                out.close()
                if fileobj is not None:
                    fileobj.close()
        return counter.close().summary()

    def count_logs(self, params: dict) -> dict:
        """Rows matching an export's query and range, counted by VictoriaLogs itself (`<query> | count() rows`):
        the target is checked without reading every row back."""
        query = dict(params, query=f"{params.get('query') or '*'} | count() rows")
        url = self.endpoints["logs_read"] + "/select/logsql/query"
        resp = self._open(url, data=urllib.parse.urlencode(query).encode(), what="counting logs",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            body = resp.read()
        finally:
            resp.close()
        if (resp.headers.get("Content-Encoding") or "").lower() == "gzip":
            body = gzip.decompress(body)
        rows = [json.loads(line) for line in body.splitlines() if line.strip()]
        try:
            return {"rows": int(rows[0]["rows"]) if rows else 0}
        except (KeyError, ValueError, TypeError):
            raise MigrationError(f"counting logs at {self.name}: unexpected answer {body[:200]!r}") from None

    def import_file(self, kind: str, path: str, params: dict | None = None):
        """POST a gzip export file to /api/v1/import (metrics) or /insert/jsonline (logs)."""
        metrics = kind == "metrics"
        url = self.endpoints["metrics_write" if metrics else "logs_write"] + (
            "/api/v1/import" if metrics else "/insert/jsonline")
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with open(path, "rb") as fh:
            resp = self._open(url, data=fh, what="importing metrics" if metrics else "importing logs", headers={
                "Content-Encoding": "gzip", "Content-Type": "application/stream+json" if not metrics
                else "application/json", "Content-Length": str(os.path.getsize(path))})
            resp.read()
            resp.close()


def strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def time_params(start: str = "", end: str = "") -> dict:
    """The time range of an export: VictoriaMetrics' and VictoriaLogs' `start` / `end` arguments (RFC 3339 or
    Unix seconds; empty: unbounded)."""
    return {k: v for k, v in (("start", start), ("end", end)) if v}


def metrics_export_params(match, start="", end="") -> dict:
    return dict(time_params(start, end), **{"match[]": list(match), "reduce_mem_usage": "1"})


def logs_export_params(query: str, start="", end="") -> dict:
    return dict(time_params(start, end), query=query)


def covered(source: dict, target: dict) -> list:
    """What the target is missing compared with the source export (empty: every series, sample and row is there;
    the target may hold more, e.g. live data written since)."""
    missing = []
    for key in ("series", "samples", "rows"):
        if key in source and int(target.get(key, 0)) < int(source[key]):
            missing.append(f"{key} {target.get(key, 0)} < {source[key]}")
    return missing
