"""A local moto server (AWS API emulator) for tests that run real amazon.aws modules.

    from tests.moto_server import MotoServer
    with MotoServer() as moto:                 # own process, free port on 127.0.0.1
        env.update(moto.env())                 # dummy credentials + AWS_DEFAULT_REGION
        ... -e kof_dns_aws_endpoint_url={moto.url} ...
        moto.client("iam").list_users()        # boto3 client for assertions
        moto.reset()                           # POST /moto-api/reset between tests

The server is moto's own WSGI application (what `moto_server` runs) with one addition: IAM
`ListServiceSpecificCredentials`, which moto lacks and `amazon.aws.iam_user state=absent` calls; it answers an
empty list (no user here ever has service-specific credentials). Run as a script, this file is the server:
it prints the port it bound and serves until terminated.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"


class MotoServerError(RuntimeError):
    pass


class MotoServer:
    """A moto server process on a free local port."""

    def __init__(self, host: str = "127.0.0.1", region: str = REGION):
        self.host = host
        self.region = region
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "MotoServer":
        self._proc = subprocess.Popen([sys.executable, __file__, "--host", self.host], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        line = self._proc.stdout.readline().strip()  # "port <n>" once bound, before serving
        if not line.startswith("port "):
            self.stop()
            raise MotoServerError(f"moto server did not start: {line!r}")
        self.port = int(line.split()[1])
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "/moto-api/data.json")
                return self
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise MotoServerError("moto server not answering")
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stdout:
            self._proc.stdout.close()
        self._proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict:
        """Environment for clients (amazon.aws, boto3, aws cli): dummy credentials and a region; the endpoint
        goes into each tool's own setting (amazon.aws: endpoint_url / AWS_URL), not here."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any
                "AWS_DEFAULT_REGION": self.region}

    def _call(self, method: str, path: str) -> bytes:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()

    def reset(self) -> None:
        """Drop every resource of every service (moto's reset API)."""
        self._call("POST", "/moto-api/reset")

    def data(self) -> dict:
        return json.loads(self._call("GET", "/moto-api/data.json"))

    def client(self, service: str):
        import boto3
        return boto3.client(service, endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")


def _add_missing_iam_operations() -> None:
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    def list_service_specific_credentials(self):  # pylint: disable=unused-argument
        return ActionResult({"ServiceSpecificCredentials": []})

    if not hasattr(IamResponse, "list_service_specific_credentials"):
        IamResponse.list_service_specific_credentials = list_service_specific_credentials


def serve(host: str) -> None:
    from werkzeug.serving import make_server

    _add_missing_iam_operations()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs (S3, SQS) from it
    print(f"port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="moto server on a free port, with the IAM operations tests need")
    parser.add_argument("--host", default="127.0.0.1")
    serve(parser.parse_args().host)
