"""The one HTTP client the conformance suite uses against both backends.

It reads a kubeconfig (bearer token for the emulator, client certificate for the real control plane) and sends
requests with urllib3, keeping what a comparison needs: status, headers (Content-Type, Warning) and body. Watches
are read line by line until the server ends the stream or a deadline passes.
"""
from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import urllib3
import yaml

JSON = "application/json"


class Resp:
    __slots__ = ("status", "headers", "raw", "_json")

    def __init__(self, status: int, headers: dict, raw: bytes):
        self.status = status
        self.headers = headers
        self.raw = raw
        self._json = None

    @property
    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.raw) if self.raw else None
            except ValueError:
                self._json = {"<text>": self.raw.decode(errors="replace")[:2000]}
        return self._json

    @property
    def warnings(self) -> list[str]:
        return parse_warnings(self.headers.get("Warning", ""))

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def __repr__(self):
        return f"Resp({self.status}, {self.raw[:200]!r})"


def parse_warnings(value: str) -> list[str]:
    """RFC 7234 Warning header values `299 - "text"` (several joined by ", ") -> the texts."""
    out, i = [], 0
    while i < len(value):
        start = value.find('"', i)
        if start < 0:
            break
        j, text = start + 1, []
        while j < len(value):
            ch = value[j]
            if ch == "\\" and j + 1 < len(value):
                text.append(value[j + 1])
                j += 2
                continue
            if ch == '"':
                break
            text.append(ch)
            j += 1
        out.append("".join(text))
        i = j + 1
    return out


class Conn:
    """A connection to one backend, built from its kubeconfig."""

    def __init__(self, kubeconfig: str | os.PathLike, timeout: float = 30):
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        self.server = cluster["server"].rstrip("/")
        self._tmp = tempfile.mkdtemp(prefix="kofsim-conformance-")
        kw = {"cert_reqs": "CERT_REQUIRED", "retries": False, "timeout": urllib3.Timeout(connect=10, read=timeout),
              "maxsize": 8}
        if cluster.get("certificate-authority-data"):
            kw["ca_certs"] = self._write("ca.crt", base64.b64decode(cluster["certificate-authority-data"]))
        elif cluster.get("certificate-authority"):
            kw["ca_certs"] = cluster["certificate-authority"]
        self.headers = {}
        if user.get("token"):
            self.headers["Authorization"] = f"Bearer {user['token']}"
        if user.get("client-certificate-data"):
            kw["cert_file"] = self._write("client.crt", base64.b64decode(user["client-certificate-data"]))
            kw["key_file"] = self._write("client.key", base64.b64decode(user["client-key-data"]))
        self.pool = urllib3.PoolManager(**kw)
        self.user_agent = "kofsim-conformance/1"

    def _write(self, name, data: bytes) -> str:
        p = Path(self._tmp) / name
        p.write_bytes(data)
        p.chmod(0o600)
        return str(p)

    def request(self, method: str, path: str, body=None, *, ct: str | None = None, accept: str = JSON,
                headers: dict | None = None, timeout: float | None = None) -> Resp:
        h = dict(self.headers)
        h["Accept"] = accept
        h["User-Agent"] = self.user_agent
        data = None
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
            else:
                data = json.dumps(body).encode()
            h["Content-Type"] = ct or JSON
        if headers:
            h.update(headers)
        kw = {}
        if timeout is not None:
            kw["timeout"] = urllib3.Timeout(connect=10, read=timeout)
        r = self.pool.request(method, self.server + path, body=data, headers=h, redirect=False, **kw)
        return Resp(r.status, dict(r.headers), r.data)

    def watch(self, path: str, *, deadline: float = 10, max_events: int | None = None,
              started: threading.Event | None = None) -> tuple[int, list[dict], float]:
        """GET a watch; returns (status, events, seconds until the server closed it). Stops after
        `max_events` events or `deadline` seconds (then the stream is cut by the client)."""
        h = dict(self.headers, Accept=JSON)
        h["User-Agent"] = self.user_agent
        t0 = time.monotonic()
        r = self.pool.request("GET", self.server + path, headers=h, preload_content=False, redirect=False,
                              timeout=urllib3.Timeout(connect=10, read=deadline))
        if started is not None:
            started.set()
        events = []
        if r.status != 200:
            data = r.read()
            r.release_conn()
            try:
                return r.status, [json.loads(data)], time.monotonic() - t0
            except ValueError:
                return r.status, [{"<text>": data.decode(errors="replace")}], time.monotonic() - t0
        buf = b""
        done = False
        try:
            for chunk in r.stream(1024, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        events.append(json.loads(line))
                        if max_events is not None and len(events) >= max_events:
                            done = True
                            return r.status, events, time.monotonic() - t0
                if time.monotonic() - t0 > deadline:
                    break
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            pass
        finally:
            if done or time.monotonic() - t0 > deadline:
                r.close()  # cut by the client: the connection cannot be reused
            else:
                r.release_conn()
        if buf.strip():
            events.append(json.loads(buf))
        return r.status, events, time.monotonic() - t0

    def close(self):
        self.pool.clear()
        for f in Path(self._tmp).glob("*"):
            f.unlink()
        os.rmdir(self._tmp)
