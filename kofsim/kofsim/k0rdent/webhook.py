"""kcm's validating webhooks as kube-apiserver calls them on the real backend: an HTTPS server on loopback
(AdmissionReview v1) and the ValidatingWebhookConfiguration kcm's chart installs, pointing at it.

The decision is the same code the emulator runs as an admission hook (kcm.Kcm.review, with kcm v0.1.0's rules in
admission.py): a denial answers `allowed: false` with a 403 status whose message kube-apiserver prefixes with
`admission webhook "<name>" denied the request: `, and the webhook's warnings. kcm's configuration: failurePolicy
Fail, sideEffects None (so server-side dry runs are reviewed too), matchPolicy Equivalent, CREATE/UPDATE of
ClusterDeployments and DELETE of ClusterTemplates and ServiceTemplates, of the kcm API version served
(v1alpha1, or v1beta1 with KOFSIM_KCM_API_VERSION=v1beta1, then with kcm 1.x's rules as the emulator applies them).
While the webhook does not answer (the controllers' process restarting) those requests fail with kube-apiserver's
`failed calling webhook` 500, as on a cluster whose kcm is down.

The serving certificate comes from a CA of its own (`<dir>/pki/webhook-ca.crt`, the configuration's caBundle);
both, and the port (`<dir>/webhook.port`), are kept across restarts of the process.
"""
from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .. import errors as E
from .. import realapi
from . import admission

log = logging.getLogger("kofsim.k0rdent.webhook")
NAME = "kcm-validating-webhook-configuration"
KINDS = ("ClusterDeployment", "ClusterTemplate", "ServiceTemplate")


def paths(version: str) -> dict:
    """kcm's webhook paths (controller-runtime's `/validate-<group>-<version>-<kind>`) for the kcm API version served:
    v1alpha1 (kcm 0.1.x) or v1beta1 (kcm 1.x, KOFSIM_KCM_API_VERSION=v1beta1)."""
    return {kind: f"/validate-k0rdent-mirantis-com-{version}-{kind.lower()}" for kind in KINDS}


PATHS = paths("v1alpha1")


def _tls(pki: Path):
    """(ssl context, CA PEM) of the webhook's serving certificate, made once per state directory."""
    ca_crt, crt, key = pki / "webhook-ca.crt", pki / "webhook.crt", pki / "webhook.key"
    if not (ca_crt.exists() and crt.exists() and key.exists()):
        ca = realapi._CA("kofsim kcm webhook CA")
        c, k = ca.issue("kcm-webhook-service.kcm-system.svc", server=True, ips=("127.0.0.1",),
                        dns=("localhost", "kcm-webhook-service.kcm-system.svc"))
        realapi._write(crt, c)
        realapi._write(key, k, private=True)
        realapi._write(ca_crt, realapi._pem_cert(ca.cert))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    return ctx, ca_crt.read_bytes()


class WebhookServer:
    def __init__(self, kcm, state_dir: Path):
        self.kcm = kcm
        self.d = Path(state_dir)
        self.ctx, self.ca_pem = _tls(self.d / "pki")
        self.port = None
        self.httpd = None
        self.reviews = 0
        # the version kcm serves (the emulator's admission hook covers the same kinds in both modes)
        self.version = getattr(getattr(kcm, "layer", None), "kcm_version", None) or "v1alpha1"
        self.paths = paths(self.version)

    def _bind(self):
        port_file = self.d / "webhook.port"
        want = int(port_file.read_text()) if port_file.exists() else 0
        handler = self._handler()
        for port in ([want] if want else []) + [0]:
            try:
                httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
                break
            except OSError:
                continue
        httpd.daemon_threads = True
        httpd.socket = self.ctx.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        port_file.write_text(f"{self.port}\n")
        return httpd

    def start(self):
        self.httpd = self._bind()
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name="kcm-webhook").start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def configuration(self) -> dict:
        bundle = base64.b64encode(self.ca_pem).decode()

        def hook(kind, plural, ops):
            return {"name": f"validation.{kind.lower()}.k0rdent.mirantis.com", "admissionReviewVersions": ["v1"],
                    "clientConfig": {"url": f"https://127.0.0.1:{self.port}{self.paths[kind]}",
                                     "caBundle": bundle},
                    "failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None",
                    "timeoutSeconds": 10,
                    "rules": [{"apiGroups": ["k0rdent.mirantis.com"], "apiVersions": [self.version],
                               "operations": ops, "resources": [plural], "scope": "*"}]}
        return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": NAME, "labels": {"app.kubernetes.io/name": "kcm",
                                                      "app.kubernetes.io/managed-by": "kofsim"}},
                "webhooks": [hook("ClusterDeployment", "clusterdeployments", ["CREATE", "UPDATE"]),
                             hook("ClusterTemplate", "clustertemplates", ["DELETE"]),
                             hook("ServiceTemplate", "servicetemplates", ["DELETE"])]}

    def register(self, client):
        """Create or update the configuration (a new port or CA after a restart)."""
        want = self.configuration()
        res = client.resource("admissionregistration.k8s.io", "validatingwebhookconfigurations")
        cur = client.get(res, "", NAME)
        if cur is None:
            client.create(want, manager="kcm")
        elif cur.get("webhooks") != want["webhooks"]:
            want["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            client.update(want, manager="kcm")

    def review(self, doc: dict) -> dict:
        req = doc.get("request") or {}
        resp = {"uid": req.get("uid", ""), "allowed": True}
        kind = (req.get("kind") or {}).get("kind", "")
        try:
            self.kcm.review(req.get("operation"), kind, req.get("object"), req.get("oldObject"))
        except admission.Denied as denied:
            resp.update(allowed=False, status={"code": 403, "reason": "Forbidden", "message": denied.message})
            if denied.warnings:
                resp["warnings"] = list(denied.warnings)
        except E.ApiError as err:  # the webhook could not read what it needs: kcm answers 500
            resp.update(allowed=False, status={"code": 500, "message": err.message})
        self.reviews += 1
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # noqa: A002 (the base class's name)
                log.debug("webhook: " + fmt, *args)

            def _send(self, code, body: bytes, ctype="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 (http.server's name)
                self._send(200 if self.path.split("?", 1)[0] == "/healthz" else 404, b"ok", "text/plain")

            def do_POST(self):  # noqa: N802
                if self.path.split("?", 1)[0] not in server.paths.values():  # kube-apiserver adds ?timeout=10s
                    self._send(404, b"{}")
                    return
                try:
                    doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                    out = server.review(doc)
                except (ValueError, socket.error) as err:
                    self._send(400, json.dumps({"error": str(err)}).encode())
                    return
                self._send(200, json.dumps(out).encode())
        return Handler
