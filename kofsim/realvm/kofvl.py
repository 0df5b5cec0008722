#!/usr/bin/env python3
"""Real VictoriaLogs single-node (``.tools/vm/bin/victoria-logs``, built by build.sh from the
github.com/VictoriaMetrics/VictoriaLogs module, app/victoria-logs) for tests. Standard library only.

API
- ``start_victoria_logs(dir=None, port=0, extra_args=(), username=None, password=None, timeout=30)`` ->
  ``(url, process)``: starts it on 127.0.0.1 (``port=0``: a free port) with a fresh temporary
  ``-storageDataPath`` (``vl-*`` under ``dir``, or under the system temp dir), optional basic auth
  (``-httpAuth.username`` / ``-httpAuth.password``), and returns once ``/health`` answers ``OK``. ``url`` is
  ``http://127.0.0.1:<port>``; ``process`` is the ``subprocess.Popen`` (its ``data_dir`` and ``log_path``
  attributes name the data directory and the log file, ``<data_dir>.log``).
- ``stop_victoria_logs(process, timeout=20, remove_data=True)`` -> exit code: SIGTERM (a clean shutdown: it
  flushes and closes the storage), wait, SIGKILL if it does not exit in time; removes the data directory.
- ``VictoriaLogs(dir=None, port=0, extra_args=(), username=None, password=None)``: the same as a context manager
  (``with VictoriaLogs(...) as vl:`` gives ``vl.url``, ``vl.auth``, ``vl.process``).
- ``ingest_jsonline(url, lines, auth=None, msg_field=None, time_field=None, stream_fields=None, gzip_body=True,
  flush=True, headers=None)`` -> rows the tenant gained (``count()`` before/after the insert and a forced flush;
  None with ``flush=False``); ``export(url, query="*", auth=None, accept_gzip=True, headers=None)`` ->
  ``(json_lines_bytes, content_encoding)``; ``query(url, logsql="*", auth=None, headers=None)`` -> list of dicts;
  ``count(url, logsql="*", auth=None, headers=None)`` -> int; ``force_flush(url, auth=None)``;
  ``request(url, path, data=None, params=None, auth=None, headers=None)`` -> ``(status, headers, raw body)``.
  ``auth`` is ``(username, password)`` or None; ``headers`` can carry the tenant (``AccountID``/``ProjectID``).

Endpoint facts (checked against victoria-logs v1.52.2, see tests/integration/finops/test_real_victoria_logs.py)
- ``POST /insert/jsonline``: one JSON object per line. Query args ``_msg_field``, ``_time_field``,
  ``_stream_fields`` (comma-separated; also headers ``VL-Msg-Field``, ``VL-Time-Field``, ``VL-Stream-Fields``);
  defaults ``_msg`` and ``_time``. ``Content-Encoding: gzip`` is accepted (also zstd, snappy, deflate).
  Pitfall: the args are read with ``r.FormValue``, so a body sent as ``application/x-www-form-urlencoded`` (what
  curl ``--data-binary`` and ``urllib`` send by default) is eaten as a form: 200, nothing ingested, and for a gzip
  body a "cannot decode jsonline request: EOF" line in the log. Send ``Content-Type: application/stream+json``.
  Errors while decoding the body also answer 200 (they are only logged), hence the row count returned here
  (``/metrics`` is no help for that: it is cached for a second).
  Rows outside ``-retentionPeriod`` (default 7d) are dropped: use recent timestamps or pass
  ``extra_args=("-retentionPeriod=...",)``.
- ``GET|POST /select/logsql/query?query=<LogsQL>`` (``*`` = every row; no ``limit`` arg = no limit; with one it
  adds ``| sort by (_time) desc | limit N``) answers ``Content-Type: application/stream+json``: one JSON object
  per row with ``_msg``, ``_time`` (RFC3339, UTC, the stored precision), ``_stream`` (``{app="a",host="h1"}``),
  ``_stream_id`` and every other field. With
  ``Accept-Encoding: gzip`` the answer is gzip when it is at least 1 KiB (gzhttp's minimum size; smaller answers
  come back plain).
- Re-ingesting such an export: POST it to ``/insert/jsonline`` WITHOUT ``_stream_fields``; VictoriaLogs then
  rebuilds the stream from the ``_stream`` field (made for this case) and regenerates ``_stream_id``; ``_msg`` and
  ``_time`` are the defaults. With ``_stream_fields`` set, the ``_stream``/``_stream_id`` fields are dropped with a
  warning and the stream comes from the named fields instead.
- Visibility: rows become searchable about a second after ingestion; ``GET /internal/force_flush`` makes them
  searchable at once (checked: a query right after the insert returned nothing, after force_flush every row).
  It is protected by ``-forceFlushAuthKey`` if set, else by the basic auth.
- Basic auth covers every path (401 without credentials) except ``/health`` (and ``/ping``), which answers ``OK``
  without credentials; ``/metrics`` and ``/internal/force_flush`` use it too unless their ``-*AuthKey`` is set.
- Tenants: ``AccountID`` / ``ProjectID`` headers on insert and select (default 0:0).
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN_DIR = os.environ.get("KOF_VM_BIN") or os.path.join(ROOT, ".tools", "vm", "bin")
JSON_LINES = "application/stream+json"


def binary() -> str | None:
    """Path of the built victoria-logs, or None."""
    p = os.path.join(BIN_DIR, "victoria-logs")
    return p if os.access(p, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _auth_header(auth: tuple[str, str] | None) -> dict:
    if not auth:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()}


def request(url: str, path: str, data: bytes | None = None, params: dict | None = None,
            auth: tuple[str, str] | None = None, headers: dict | None = None,
            timeout: float = 60) -> tuple[int, dict, bytes]:
    """One HTTP request: POST when ``data`` is given, else GET. Returns (status, headers, raw body); an HTTP error
    status is returned, not raised."""
    full = url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    hdr = dict(_auth_header(auth), **(headers or {}))
    req = urllib.request.Request(full, data=data, headers=hdr, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _ok(status: int, body: bytes, what: str) -> None:
    if status != 200:
        raise RuntimeError(f"victoria-logs {what}: HTTP {status}: {body[:500]!r}")


def start_victoria_logs(dir: str | None = None, port: int = 0, extra_args: Iterable[str] = (),
                        username: str | None = None, password: str | None = None,
                        timeout: float = 30) -> tuple[str, subprocess.Popen]:
    """Start victoria-logs on 127.0.0.1:``port`` (0: a free one) with a new temporary ``-storageDataPath`` under
    ``dir``; wait for ``/health``. Returns (url, process). Basic auth when ``username`` is given."""
    exe = binary()
    if not exe:
        raise FileNotFoundError(f"victoria-logs is not built in {BIN_DIR} (run make setup)")
    if dir:
        os.makedirs(dir, exist_ok=True)
    attempts = 1 if port else 3  # a free port picked here may be taken before victoria-logs binds it
    last = ""
    for _ in range(attempts):
        p = port or free_port()
        data_dir = tempfile.mkdtemp(prefix="vl-", dir=dir)
        log_path = data_dir + ".log"
        args = [exe, f"-httpListenAddr=127.0.0.1:{p}", f"-storageDataPath={data_dir}", "-loggerLevel=WARN",
                "-memory.allowedPercent=20"]
        if username:
            args += [f"-httpAuth.username={username}", f"-httpAuth.password={password or ''}"]
        args += list(extra_args)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.data_dir, proc.log_path = data_dir, log_path  # type: ignore[attr-defined]
        url = f"http://127.0.0.1:{p}"
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                status, _, body = request(url, "/health", timeout=2)
                if status == 200 and body.strip() == b"OK":
                    return url, proc
            except OSError:
                pass
            time.sleep(0.1)
        with open(log_path, "rb") as f:
            last = f.read()[-2000:].decode(errors="replace")
        code = stop_victoria_logs(proc)
        if "address already in use" not in last:
            raise RuntimeError(f"victoria-logs did not answer /health on {url} (exit {code}): {last}")
    raise RuntimeError(f"victoria-logs could not bind a port: {last}")


def stop_victoria_logs(process: subprocess.Popen, timeout: float = 20, remove_data: bool = True) -> int | None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Removes the data directory (and keeps the log unless
    ``remove_data``). Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    data_dir = getattr(process, "data_dir", None)
    if remove_data and data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)
        try:
            os.remove(data_dir + ".log")
        except OSError:
            pass
    return process.returncode


def force_flush(url: str, auth: tuple[str, str] | None = None) -> None:
    """Make every ingested row searchable now (``/internal/force_flush``)."""
    status, _, body = request(url, "/internal/force_flush", auth=auth)
    _ok(status, body, "/internal/force_flush")


def ingest_jsonline(url: str, lines: bytes | Iterable[bytes | str], auth: tuple[str, str] | None = None,
                    msg_field: str | None = None, time_field: str | None = None,
                    stream_fields: str | Iterable[str] | None = None, gzip_body: bool = True,
                    flush: bool = True, headers: dict | None = None) -> int | None:
    """POST JSON lines to ``/insert/jsonline`` (gzip by default). With ``flush`` (the default): force a flush and
    return how many rows the tenant gained (``count()`` before and after; the endpoint answers 200 even when it
    stores nothing, so callers should compare this with what they sent). Without ``flush``: None."""
    if isinstance(lines, bytes):
        body = lines
    else:
        body = b"".join((ln.encode() if isinstance(ln, str) else ln).rstrip(b"\n") + b"\n" for ln in lines)
    params = {}
    if msg_field:
        params["_msg_field"] = msg_field
    if time_field:
        params["_time_field"] = time_field
    if stream_fields:
        params["_stream_fields"] = stream_fields if isinstance(stream_fields, str) else ",".join(stream_fields)
    hdr = {"Content-Type": JSON_LINES}
    if gzip_body:
        body = gzip.compress(body, compresslevel=1)
        hdr["Content-Encoding"] = "gzip"
    hdr.update(headers or {})
    before = count(url, "*", auth, headers) if flush else 0
    status, _, resp = request(url, "/insert/jsonline", data=body, params=params, auth=auth, headers=hdr)
    _ok(status, resp, "/insert/jsonline")
    if not flush:
        return None
    force_flush(url, auth)
    return count(url, "*", auth, headers) - before


def export(url: str, query: str = "*", auth: tuple[str, str] | None = None, accept_gzip: bool = True,
           headers: dict | None = None) -> tuple[bytes, str]:
    """``/select/logsql/query?query=<query>``: (JSON lines, decompressed; the response's Content-Encoding, "gzip"
    or "")."""
    hdr = dict(headers or {})
    if accept_gzip:
        hdr["Accept-Encoding"] = "gzip"
    status, rh, body = request(url, "/select/logsql/query", params={"query": query}, auth=auth, headers=hdr)
    _ok(status, body, "/select/logsql/query")
    enc = {k.lower(): v for k, v in rh.items()}.get("content-encoding", "")
    if enc == "gzip":
        body = gzip.decompress(body)
    elif enc:
        raise RuntimeError(f"victoria-logs answered Content-Encoding {enc!r}")
    return body, enc


def query(url: str, logsql: str = "*", auth: tuple[str, str] | None = None,
          headers: dict | None = None) -> list[dict]:
    """Rows matching a LogsQL query, as dicts (``_msg``, ``_time``, ``_stream``, ``_stream_id``, fields)."""
    body, _ = export(url, logsql, auth, headers=headers)
    return [json.loads(ln) for ln in body.splitlines() if ln.strip()]


def count(url: str, logsql: str = "*", auth: tuple[str, str] | None = None, headers: dict | None = None) -> int:
    """Rows matching a LogsQL filter (``<filter> | count() rows``), in the tenant of ``headers``."""
    rows = query(url, f"{logsql} | count() rows", auth, headers)
    return int(rows[0]["rows"]) if rows else 0


class VictoriaLogs:
    """``with VictoriaLogs(username="u", password="p") as vl:`` -> ``vl.url``, ``vl.auth``, ``vl.process``."""

    def __init__(self, dir: str | None = None, port: int = 0, extra_args: Iterable[str] = (),
                 username: str | None = None, password: str | None = None):
        self.dir, self.port, self.extra_args = dir, port, tuple(extra_args)
        self.auth = (username, password or "") if username else None
        self.url, self.process = "", None

    def start(self) -> "VictoriaLogs":
        self.url, self.process = start_victoria_logs(self.dir, self.port, self.extra_args,
                                                     *(self.auth or (None, None)))
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_victoria_logs(self.process)
            self.process = None

    def __enter__(self) -> "VictoriaLogs":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
