"""kofsim's HTTPS front end: routing, discovery, OpenAPI, CRUD/patch/watch handlers, tables, the request
log, fault injection, and the control API under /kofsim/.

The management cluster is served at the root; virtual clusters (the k0rdent layer creates one per
ClusterDeployment) at /clusters/<namespace>/<name>, each with its own objects and bearer token.
"""
from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import json
import random
import re
import secrets
import time
import urllib.parse

import yaml
import aiohttp
from aiohttp import web

from . import errors as E
from . import protobuf
from . import schema as S
from .controllers import Controllers
from .fastcopy import clone, yaml_load
from .patch import json_merge_patch, json_patch, server_side_apply, strategic_merge_patch
from .registry import ResourceType
from .selectors import match_fields, match_labels, parse_field_selector, parse_label_selector
from .store import WRITE_SINK, Cluster, now
from .openapi import openapi_doc, openapi_index
from .tables import to_table

JSON = "application/json"


class Watch:
    """One server-side watch of one resource: events are offered by Cluster._emit (indexed by resource key)."""

    def __init__(self, namespace, label_reqs, field_reqs):
        self.namespace = namespace
        self.label_reqs, self.field_reqs = label_reqs, field_reqs
        self.queue: asyncio.Queue = asyncio.Queue()
        self.min_rv = 0  # a watch from a future resourceVersion sees only the events after it

    def matches(self, ev) -> bool:
        if self.namespace and ev.namespace != self.namespace:
            return False
        if self.label_reqs and not match_labels(self.label_reqs, ev.obj["metadata"].get("labels")):
            return False
        return not (self.field_reqs and not match_fields(self.field_reqs, ev.obj))

    def offer(self, ev):
        if ev.rv > self.min_rv and self.matches(ev):
            self.queue.put_nowait(ev)


class Simulator:
    """All clusters served by one kofsim process, plus request log, faults and plugins."""

    def __init__(self, *, latency_ms: int = 0, fault_rate: float = 0.0, ready_after: float = 0.0,
                 k0rdent: bool = True, k8s_version: str = "v1.36.1", base_url: str = "",
                 lb_domain: str | None = None):
        self.token = secrets.token_urlsafe(24)
        self.latency_ms = latency_ms
        self.ready_after = ready_after
        self.k0rdent = k0rdent
        self.k8s_version = k8s_version
        self.base_url = base_url
        self.lb_domain = lb_domain  # the management cluster's load balancers (None: it has none, like kind)
        self.ca_pem = b""
        self.log: list[dict] = []
        self.seq = 0
        self.initial_faults: dict = {"rate": fault_rate} if fault_rate else {}
        self.faults: dict = dict(self.initial_faults)
        # faults draw from their own generator: a spec with a seed gives the same sequence of draws every run
        self.fault_rng = random.Random()
        self.clusters: dict[str, Cluster] = {}
        self.controllers: dict[str, Controllers] = {}
        self.plugins: list = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = time.time()

    # ------------------------------------------------------------------------------- clusters
    def start(self, loop):
        self.loop = loop
        self._build()

    def _build(self):
        mgmt = self.add_cluster("", token=self.token, lb_domain=self.lb_domain)
        if self.k0rdent:
            from .k0rdent import K0rdent  # noqa: WPS433 (optional layer)
            self.plugins = [K0rdent(self, mgmt)]
        for p in self.plugins:
            p.seed()

    def add_cluster(self, cid: str, token: str | None = None, *, lb_domain: str | None = None) -> Cluster:
        c = Cluster(cid, token or secrets.token_urlsafe(24), k8s_version=self.k8s_version)
        c.lb_domain = lb_domain
        c.ca_pem = self.ca_pem
        self.clusters[cid] = c
        self.controllers[cid] = Controllers(c, self.loop)
        seed_system(c)
        return c

    def remove_cluster(self, cid: str) -> None:
        c = self.clusters.pop(cid, None)
        ctl = self.controllers.pop(cid, None)
        if ctl:
            ctl.stopped = True
        if c:
            for ws in c.watchers.values():
                for w in ws:
                    w.queue.put_nowait(None)
            c.watchers.clear()
            c.listeners.clear()

    def close_watches(self):
        for c in self.clusters.values():
            for ws in c.watchers.values():
                for w in ws:
                    w.queue.put_nowait(None)

    def reset(self):
        for cid in list(self.clusters):
            self.remove_cluster(cid)
        for p in self.plugins:
            p.stop()
        self.plugins = []
        self.log.clear()
        self.faults = dict(self.initial_faults)
        self.fault_rng = random.Random()
        self._build()

    def cluster_url(self, cid: str) -> str:
        return self.base_url + (f"/clusters/{cid}" if cid else "")


def seed_system(c: Cluster) -> None:
    """What every fresh cluster has: the standard namespaces and a Ready node."""
    ns_rt = c.registry.get("", "v1", "namespaces")
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        c.write(ns_rt, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, internal=True,
                manager="kube-apiserver")
    ts = now()
    c.upsert({"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": "kofsim-node", "labels": {"kubernetes.io/hostname": "kofsim-node",
                                                             "kubernetes.io/os": "linux",
                                                             "node-role.kubernetes.io/control-plane": ""}},
              "spec": {},
              "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                         "message": "kubelet is posting ready status", "lastHeartbeatTime": ts,
                                         "lastTransitionTime": ts}],
                         "nodeInfo": {"kubeletVersion": c.k8s_version, "osImage": "kofsim",
                                      "containerRuntimeVersion": "containerd://1.7.0"},
                         "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}],
                         "capacity": {"cpu": "8", "memory": "32Gi", "pods": "250"},
                         "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "250"}}})


# ------------------------------------------------------------------------------------- helpers
def _json(data, status=200, headers=None, content_type=JSON):
    h = dict(headers or {})
    h["Content-Type"] = content_type
    # encoding/json's Encoder ends every document with a newline
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode() + b"\n", status=status, headers=h)


def _status_response(err: E.ApiError):
    headers = dict(err.headers)
    return _json(err.status(), err.code, headers)


def _success_status(details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return body


class Api:
    """Request handling for one Simulator."""

    def __init__(self, sim: Simulator):
        self.sim = sim

    # ------------------------------------------------------------------------------ entry point
    async def handle(self, request: web.Request) -> web.StreamResponse:
        sim = self.sim
        path = request.path
        entry = {"seq": 0, "time": time.time(), "method": request.method, "path": path,
                 "query": request.query_string, "cluster": "", "status": 0,
                 "content_type": request.headers.get("Content-Type"), "accept": request.headers.get("Accept"),
                 "user_agent": request.headers.get("User-Agent", ""),
                 "dry_run": "dryRun=All" in request.query_string}
        if path.startswith("/kofsim/"):
            return await self._control(request)
        cid = ""
        m = re.match(r"^/clusters/([^/]+/[^/]+)(/.*)?$", path)
        if m:
            cid, path = m.group(1), m.group(2) or "/"
        entry["cluster"] = cid
        entry["path"] = path
        sim.seq += 1
        entry["seq"] = sim.seq
        sim.log.append(entry)
        request["kofsim_entry"] = entry
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            entry["persisted"] = False
        sink = {"entry": entry, "open": True}
        sink_token = WRITE_SINK.set(sink)
        cluster = sim.clusters.get(cid)
        try:
            if cluster is None:
                raise E.ApiError(404, "NotFound", "the server could not find the requested resource", details={})
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {cluster.token}":
                raise E.ApiError(401, "Unauthorized", "Unauthorized")
            if sim.latency_ms:
                await asyncio.sleep(sim.latency_ms / 1000.0)
            await self._maybe_fault(request, entry)
            resp = await self.route(request, cluster, path)
        except E.ApiError as err:
            resp = _status_response(err)
        except _Dropped:
            entry["status"] = -1
            raise
        except Exception as err:  # a bug in kofsim: report it like an apiserver panic would
            import traceback
            traceback.print_exc()
            resp = _status_response(E.ApiError(500, "InternalError", f"kofsim internal error: {err!r}"))
        finally:
            sink["open"] = False
            WRITE_SINK.reset(sink_token)
        if not entry["status"]:
            entry["status"] = resp.status
        return resp

    async def _maybe_fault(self, request, entry):
        f = self.sim.faults
        if not f or not f.get("rate"):
            return
        if f.get("count") is not None and f["count"] <= 0:
            return
        if f.get("methods") and request.method not in f["methods"]:
            return
        if f.get("path_regex") and not re.search(f["path_regex"], entry["path"]):
            return
        if f.get("cluster") is not None and f["cluster"] != entry["cluster"]:
            return
        if f.get("user_agent_regex") and not re.search(f["user_agent_regex"], entry["user_agent"]):
            return
        if f.get("skip_user_agent_regex") and re.search(f["skip_user_agent_regex"], entry["user_agent"]):
            return
        if _parse_bool(request.query.get("watch")) and not f.get("watches"):
            return
        rng = self.sim.fault_rng
        if rng.random() >= float(f["rate"]):
            return
        kinds = list(f.get("kinds") or FAULT_KINDS)
        if request.method not in ("PUT", "PATCH") and "409" in kinds:
            kinds.remove("409")  # a conflict is only a plausible answer to an update
        if not kinds:
            return
        kind = rng.choice(kinds)
        if f.get("count") is not None:
            f["count"] -= 1
        entry["fault"] = kind
        if kind == "latency":
            await asyncio.sleep(float(f.get("latency_ms", 500)) / 1000.0)
            return
        if kind == "drop":
            request.transport.close()
            raise _Dropped()
        if kind == "500":
            raise E.ApiError(500, "InternalError", "Internal error occurred: kofsim injected fault")
        if kind == "503":
            raise E.ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        if kind == "429":
            raise E.ApiError(429, "TooManyRequests", "the server has received too many requests and has asked us "
                             "to try again later", details={"retryAfterSeconds": int(f.get("retry_after", 1))},
                             headers={"Retry-After": str(int(f.get("retry_after", 1)))})
        if kind == "409":
            raise E.ApiError(409, "Conflict", "Operation cannot be fulfilled: the object has been modified; please "
                             "apply your changes to the latest version and try again")

    # ----------------------------------------------------------------------------------- control
    async def _control(self, request):
        sim = self.sim
        if request.headers.get("Authorization", "") != f"Bearer {sim.token}":
            return _status_response(E.ApiError(401, "Unauthorized", "Unauthorized"))
        sub = request.path[len("/kofsim/"):].strip("/")
        body = None
        if request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        methods = CONTROL_ROUTES.get(sub) or {}
        handler = methods.get(request.method) or methods.get("*")
        if handler is None:
            return _status_response(E.ApiError(404, "NotFound", f"no control endpoint {sub!r}"))
        return handler(self, request, body)

    def _c_healthz(self, request, body):
        return _json({"ok": True, "clusters": len(self.sim.clusters)})

    def _c_reset(self, request, body):
        self.sim.reset()
        return _json({"ok": True})

    def _c_requests(self, request, body):
        sim = self.sim
        since = int(request.query.get("since", "0"))
        cl = request.query.get("cluster")
        start = len(sim.log) if since < 0 else bisect.bisect_right(sim.log, since, key=lambda e: e["seq"])
        items = [e for e in sim.log[start:] if cl is None or e["cluster"] == cl]
        return _json({"requests": items, "last": sim.seq})

    def _c_clear_requests(self, request, body):
        self.sim.log.clear()
        return _json({"ok": True})

    def _c_faults(self, request, body):
        return _json(self.sim.faults)

    def _c_set_faults(self, request, body):
        try:
            self.sim.faults = validate_faults(body or {})
            self.sim.fault_rng = random.Random(self.sim.faults.get("seed"))
        except E.ApiError as err:
            return _status_response(err)
        return _json(self.sim.faults)

    def _c_clear_faults(self, request, body):
        self.sim.faults = {}
        return _json(self.sim.faults)

    def _c_compact(self, request, body):
        cl = request.query.get("cluster", "")
        if cl not in self.sim.clusters:
            return _status_response(E.ApiError(404, "NotFound", f"no cluster {cl!r}"))
        return _json({"compacted": self.sim.clusters[cl].compact()})

    def _c_latency(self, request, body):
        self.sim.latency_ms = int((body or {}).get("latency_ms", 0))
        return _json({"latency_ms": self.sim.latency_ms})

    def _c_clusters(self, request, body):
        return _json({"clusters": [{"id": cid, "url": self.sim.cluster_url(cid)} for cid in self.sim.clusters]})

    def _c_stats(self, request, body):
        return _json({cid or "management": {"objects": sum(len(b) for b in c.objects.values()), "rv": c.rv}
                      for cid, c in self.sim.clusters.items()})

    def _c_services(self, request, body):
        """The backends behind Services' proxy subresource: PUT {cluster, namespace, name, port, url} registers
        one (url null: removes it); GET lists them."""
        if request.method == "PUT":
            b = body or {}
            c = self.sim.clusters.get(b.get("cluster", ""))
            if c is None or not all(b.get(k) for k in ("namespace", "name", "port")):
                return _status_response(E.bad_request("need cluster (a known one), namespace, name, port and url"))
            key = (b["namespace"], b["name"], str(b["port"]))
            if b.get("url"):
                c.service_backends[key] = b["url"]
            else:
                c.service_backends.pop(key, None)
        return _json({"services": [{"cluster": cid, "namespace": k[0], "name": k[1], "port": k[2], "url": u}
                                   for cid, c in self.sim.clusters.items() for k, u in c.service_backends.items()]})

    def _c_scenario(self, request, body):
        for p in self.sim.plugins:
            p.scenario(body or {})
        return _json({"ok": True})

    # ------------------------------------------------------------------------------------ routing
    async def route(self, request, c: Cluster, path: str):
        fixed = FIXED_ROUTES.get(path)
        if fixed is not None:
            return fixed(self, request, c)
        if path.startswith("/openapi/v3/"):
            doc = openapi_doc(c, path[len("/openapi/v3/"):])
            if doc is None:
                return web.Response(status=404, body=b"", headers={"Cache-Control": "no-cache, private"})
            return _json(doc)
        return await self.resource(request, c, path)

    # the fixed paths: health, version, discovery, OpenAPI
    def _r_ok(self, request, c):
        return web.Response(text="ok")

    def _r_version(self, request, c):
        return _json(version_info(c))

    def _r_api(self, request, c):
        if _wants_aggregated(request.headers.get("Accept", "")):
            return _json(aggregated_discovery(c, core=True), content_type=AGGREGATED_CT)
        return _json({"kind": "APIVersions", "versions": ["v1"],
                      "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                      "serverAddress": request.host or "127.0.0.1"}]})

    def _r_apis(self, request, c):
        if _wants_aggregated(request.headers.get("Accept", "")):
            return _json(aggregated_discovery(c, core=False), content_type=AGGREGATED_CT)
        return _json(api_group_list(c))

    def _r_openapi_v2(self, request, c):
        from .openapi import openapi_v2
        return openapi_v2(c, request)

    def _r_openapi_v3(self, request, c):
        return _json(openapi_index(c), content_type="text/plain; charset=utf-8")

    async def resource(self, request, c: Cluster, path: str):
        """/api/v1/... and /apis/<group>/<version>/...: group and version discovery, then the verb on a collection,
        an object or a subresource (the tables below)."""
        segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        if segs[0] == "api" and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis" and len(segs) >= 2:
            if segs[1] not in c.registry.groups or segs[1] == "":
                # no handler is registered for an unknown group: the mux's plain 404
                return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
            if len(segs) == 2:
                return _json(api_group(c, segs[1]))
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise E.unknown_resource()
        if not rest:
            if group not in c.registry.groups or version not in c.registry.groups[group]:
                raise E.unknown_resource()
            return _json(resource_list(c, group, version))
        # the deprecated watch paths: /api/v1/watch/... is a watch of the list, or of one object
        watch_path = rest[0] == "watch" and len(rest) > 1
        if watch_path:
            rest = rest[1:]
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if group == "" and plural == "services" and sub == "proxy" and namespace is not None and not watch_path:
            return await self.service_proxy(request, c, namespace, name, rest[3:])
        if len(rest) > 3 or (watch_path and (sub or request.method != "GET")):
            raise E.unknown_resource()
        rt = c.registry.get(group, version, plural)
        if rt is None:
            raise E.unknown_resource()
        if namespace is not None and not rt.namespaced:
            raise E.unknown_resource()
        if sub and sub not in (["status"] if rt.status else []) + (["scale"] if rt.scale else []) + \
                rt.extra_subresources:
            if not rt.builtin and request.method == "GET":
                raise E.not_found(rt, name)  # the custom resource handler looks the object up by name
            raise E.unknown_resource()
        m = request.method
        if watch_path:
            if rt.namespaced and namespace is None and name is not None:
                raise E.unknown_resource()
            return await self.watch(request, c, rt, namespace, name)
        if name is None:
            verb = COLLECTION_VERBS.get(m)
            if verb is None:
                raise E.method_not_allowed(m, rt)
            return await verb(self, request, c, rt, namespace)
        if rt.namespaced and namespace is None:
            raise E.unknown_resource()
        special = SUBRESOURCE_VERBS.get((sub, m)) or SUBRESOURCE_VERBS.get((sub, "*"))
        if special is not None:
            return await special(self, request, c, rt, namespace, name)
        verb = OBJECT_VERBS.get(m)
        if verb is None:
            raise E.method_not_allowed(m, rt)
        return await verb(self, request, c, rt, namespace, name, sub)

    # the verbs of a collection
    async def _v_get_collection(self, request, c, rt, namespace):
        if _parse_bool(request.query.get("watch")):
            return await self.watch(request, c, rt, namespace)
        return self.list(request, c, rt, namespace)

    async def _v_create(self, request, c, rt, namespace):
        return await self.create(request, c, rt, namespace)

    async def _v_delete_collection(self, request, c, rt, namespace):
        if "deletecollection" not in rt.verbs:
            raise E.method_not_allowed("deletecollection", rt)
        return await self.delete_collection(request, c, rt, namespace)

    # the verbs of an object (sub: status or scale, or None)
    async def _v_get(self, request, c, rt, namespace, name, sub):
        obj = c.find(rt, namespace if rt.namespaced else "", name)
        if obj is None:
            raise E.not_found(rt, name)
        return self.respond(request, c, rt, c.view(obj, rt))

    async def _v_replace(self, request, c, rt, namespace, name, sub):
        return await self.replace(request, c, rt, namespace, name, sub)

    async def _v_patch(self, request, c, rt, namespace, name, sub):
        return await self.patch(request, c, rt, namespace, name, sub)

    async def _v_delete(self, request, c, rt, namespace, name, sub):
        return await self.delete(request, c, rt, namespace, name)

    # subresources with a handler of their own
    async def _v_log(self, request, c, rt, namespace, name):
        if c.find(rt, namespace, name) is None:
            raise E.not_found(rt, name)
        return web.Response(text=f"kofsim: {name} has no container runtime; no logs\n")

    async def _v_token(self, request, c, rt, namespace, name):
        return await self.token_request(request, c, rt, namespace, name)

    async def _v_scale(self, request, c, rt, namespace, name):
        return await self.scale(request, c, rt, namespace, name)

    async def service_proxy(self, request, c: Cluster, namespace: str, ref: str, tail: list):
        """services/proxy: kube-apiserver forwards the request to an endpoint of the Service's port. kofsim's pods
        run nothing, so a Service answers only through a backend registered for it (PUT /kofsim/services,
        `kofsim expose`): a real process standing in for the pods, e.g. the demo's VictoriaMetrics behind
        kof-mothership-promxy. Without one, kube-apiserver's answer for a Service without endpoints (503)."""
        parts = ref.split(":")
        scheme, svc, port = (parts if len(parts) == 3 else ["", parts[0], parts[1]] if len(parts) == 2
                             else ["", parts[0], ""])
        rt = c.registry.get("", "v1", "services")
        obj = c.find(rt, namespace, svc)
        if obj is None:
            raise E.not_found(rt, svc)
        ports = (obj.get("spec") or {}).get("ports") or []
        match = [p for p in ports if port in (str(p.get("port")), p.get("name") or "")] if port else ports[:1]
        backend = c.service_backends.get((namespace, svc, str(match[0].get("port")))) if match else None
        if backend is None:
            raise E.ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{ref}"')
        url = backend.rstrip("/") + "/" + "/".join(urllib.parse.quote(t, safe="") for t in tail)
        if request.query_string:
            url += "?" + request.query_string
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "accept", "accept-encoding")}
        body = await request.read() if request.can_read_body else None
        try:
            async with aiohttp.ClientSession() as session:
                async with session.request(request.method, url, data=body, headers=headers,
                                           timeout=aiohttp.ClientTimeout(total=300)) as r:
                    payload = await r.read()
                    return web.Response(status=r.status, body=payload,
                                        headers={"Content-Type": r.headers.get("Content-Type", "text/plain")})
        except aiohttp.ClientError as err:
            # kube-apiserver's proxy error for an endpoint that does not answer
            raise E.ApiError(503, "ServiceUnavailable", f"error trying to reach service: {err}")

    # ---------------------------------------------------------------------------------- bodies
    async def body(self, request, rt: ResourceType):
        raw = await request.read()
        ct = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if ct == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(raw)
            except protobuf.UnsupportedProtobuf as err:
                raise E.ApiError(415, "UnsupportedMediaType", str(err))
            except Exception as err:
                raise E.bad_request(f"unable to decode protobuf body: {err}")
        if ct in ("application/json", "", "*/*"):
            problem = E.go_json_error(raw) if raw else None
            if problem is not None or not raw:
                raise E.bad_request(f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get "
                                    f"version/kind; json parse error: {problem or 'unexpected end of JSON input'} "
                                    f"({E.summarize(raw)})")
            body = json.loads(raw, object_pairs_hook=_DupDict)
            dups = _duplicates(body)
            if dups:
                request["kofsim_duplicates"] = dups
                if request.query.get("fieldValidation") == "Strict":
                    text = ", ".join(f'duplicate field "{d}"' for d in dups)
                    raise E.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                        f"strict decoding error: {text}")
            return _plain(body)
        if ct == "application/yaml":
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as err:
                raise E.bad_request(f"error converting YAML to JSON: {_go_yaml_error(err)}")
        raise E.ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted '
                         f'media types include: application/json, application/yaml, '
                         f'application/vnd.kubernetes.protobuf')

    def opts(self, request):
        q = request.query
        kind = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}.get(request.method,
                                                                                          "CreateOptions")
        fv = q.get("fieldValidation", "")
        causes = []
        dry = q.getall("dryRun", [])
        if any(d != "All" for d in dry):
            causes.append(("dryRun", "FieldValueNotSupported", "Unsupported value: [" + ", ".join(
                json.dumps(d) for d in dry) + ']: supported values: "All"'))
        if fv not in ("", "Strict", "Warn", "Ignore"):
            causes.append(("fieldValidation", "FieldValueNotSupported", f'Unsupported value: "{fv}": supported values: '
                           '"", "Ignore", "Strict", "Warn"'))
        if causes:
            raise E.options_invalid(kind, causes)
        manager = q.get("fieldManager") or _default_manager(request.headers.get("User-Agent", ""))
        return bool(dry), fv or "Warn", manager

    def respond(self, request, c, rt, obj, status=200, warnings=()):
        headers = {}
        dups = request.get("kofsim_duplicates")
        if dups and request.query.get("fieldValidation", "Warn") not in ("Ignore",):
            warnings = [f'duplicate field "{d}"' for d in dups] + list(warnings)
        if warnings:
            headers["Warning"] = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            return _json(to_table(c, rt, [obj], request.query.get("includeObject", "Metadata")), status, headers)
        return _json(obj, status, headers)

    # ------------------------------------------------------------------------------------ verbs
    def list(self, request, c, rt, namespace):
        q = request.query
        _validate_list_options(q, watch=False)
        lreq = parse_label_selector(q.get("labelSelector"))
        freq = parse_field_selector(q.get("fieldSelector"), rt.plural)
        try:
            limit = int(q.get("limit", "0") or 0)
        except ValueError:
            raise E.bad_request(f'strconv.ParseInt: parsing "{q.get("limit")}": invalid syntax')
        cont = q.get("continue")
        rv = q.get("resourceVersion", "")
        list_rv = c.rv
        after = None
        if cont:
            if rv not in ("",):
                raise E.bad_request("specifying resource version is not allowed when using continue")
            after, list_rv = _decode_continue(cont)
            if list_rv < c.compacted:
                raise E.ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                 "list result. You can start a new list without the continue parameter.")
        elif rv not in ("", "0"):
            want = _parse_rv(rv)
            if want > c.rv:
                raise _too_large_rv(want, c.rv)
            if q.get("resourceVersionMatch") == "Exact" and want != c.rv:
                # kofsim keeps no snapshots of past states: an exact read of one answers like a compacted etcd
                raise E.ApiError(410, "Expired", "The resourceVersion for the provided list is too old.")
        items = c.list_objects(rt, namespace, lreq, freq)
        if after is not None:
            items = [o for o in items if _continue_key(o, rt, namespace) > after]
        meta = {"resourceVersion": str(list_rv)}
        if not rt.builtin and "as=Table" not in request.headers.get("Accept", ""):
            meta["continue"] = ""  # unstructured lists keep the empty field
        page = items
        if limit > 0 and len(items) > limit:
            page = items[:limit]
            meta["continue"] = _encode_continue(_continue_key(page[-1], rt, namespace), list_rv)
            if not lreq and not freq:  # the apiserver only counts the rest when no selector filters it
                meta["remainingItemCount"] = len(items) - limit
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            table = to_table(c, rt, [_shallow_view(o, rt) for o in page], q.get("includeObject", "Metadata"))
            table["metadata"] = meta
            return _json(table)
        out_items = []
        for o in page:
            v = _shallow_view(o, rt)
            if rt.builtin:  # typed lists omit per-item apiVersion/kind, as kube-apiserver's do
                v.pop("apiVersion", None)
                v.pop("kind", None)
            out_items.append(v)
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": out_items})

    async def watch(self, request, c, rt, namespace, name=None):
        q = request.query
        _validate_list_options(q, watch=True)
        lreq = parse_label_selector(q.get("labelSelector"))
        freq = parse_field_selector(q.get("fieldSelector"), rt.plural)
        if name is not None:
            freq.append(("metadata.name", "=", name))
        try:
            timeout = float(q.get("timeoutSeconds", "1800") or 1800)
        except ValueError:
            raise E.bad_request(f'invalid timeoutSeconds "{q.get("timeoutSeconds")}"')
        rv = q.get("resourceVersion", "")
        sie = q.get("sendInitialEvents")
        bookmarks = _parse_bool(q.get("allowWatchBookmarks"))
        # legacy watches from "" / "0" start with the current state (SetListOptionsDefaults turns them into
        # sendInitialEvents=true); sendInitialEvents=false starts at "now" without it
        initial = _parse_bool(sie) if sie is not None else rv in ("", "0")
        w = Watch(namespace, lreq, freq)
        backlog = []
        if rv not in ("", "0") and not initial:
            since = _parse_rv(rv)
            future = since > c.rv  # the watch cache waits for it; events after it are delivered
            try:
                backlog = [] if future else [ev for ev in c.events_since(rt, since) if w.matches(ev)]
                w.min_rv = since
            except E.ApiError as err:
                # an expired resourceVersion is reported inside the watch stream, as the watch cache does
                resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
                await resp.prepare(request)
                await resp.write((json.dumps({"type": "ERROR", "object": err.status()}) + "\n").encode())
                return resp
        elif rv not in ("", "0"):
            since = _parse_rv(rv)
            if since > c.rv:
                raise _too_large_rv(since, c.rv)
        replay = [("ADDED", o) for o in c.list_objects(rt, namespace, lreq, freq)] if initial else []
        start_rv = c.rv
        c.watchers.setdefault(rt.key, []).append(w)
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        deadline = time.monotonic() + timeout

        def line(type_, obj):
            return (json.dumps({"type": type_, "object": _shallow_view(obj, rt)}, separators=(",", ":")) +
                    "\n").encode()
        try:
            await resp.prepare(request)
            if "kofsim_entry" in request:
                request["kofsim_entry"]["status"] = 200  # the stream has started; a client may end it any time
            for ev in backlog:
                await resp.write(line(ev.type, ev.obj))
            for type_, obj in replay:
                await resp.write(line(type_, obj))
            if initial and bookmarks:
                mark = {"type": "BOOKMARK", "object": _bookmark(c, rt, start_rv)}
                await resp.write((json.dumps(mark) + "\n").encode())
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    ev = await asyncio.wait_for(w.queue.get(), timeout=left)
                except asyncio.TimeoutError:
                    break
                if ev is None:
                    break
                await resp.write(line(ev.type, ev.obj))
        except ConnectionResetError:
            pass  # the client went away
        finally:
            ws = c.watchers.get(rt.key)
            if ws and w in ws:
                ws.remove(w)
        return resp

    async def create(self, request, c, rt, namespace):
        if rt.namespaced and namespace is None:
            raise E.method_not_allowed("create", rt)
        body = await self.body(request, rt)
        dry, fv, manager = self.opts(request)
        if rt.plural == "selfsubjectaccessreviews":
            body = dict(body or {})
            body["status"] = {"allowed": True, "reason": "kofsim authorizes every request of an authenticated user"}
            return _json(body, 201)
        if rt.plural == "tokenreviews":
            tok = ((body or {}).get("spec") or {}).get("token")
            ok = tok == c.token
            body = dict(body or {}, status={"authenticated": ok, "user": {"username": "kofsim-admin"} if ok else {}})
            return _json(body, 201)
        if rt.namespaced:
            nso = c.namespace_obj(namespace)
            if nso is None:
                raise E.ns_not_found(namespace)
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict) and \
                body["metadata"].get("resourceVersion") not in (None, ""):
            raise E.ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if c.crd_terminating(rt):
            raise E.ApiError(405, "MethodNotAllowed", "create not allowed while custom resource definition is "
                             "terminating", details={"group": rt.group, "kind": rt.plural})
        obj, _, warnings = c.write(rt, body, namespace=namespace, dry_run=dry, field_validation=fv, manager=manager)
        return self.respond(request, c, rt, c.view(obj, rt), 201, warnings)

    async def replace(self, request, c, rt, namespace, name, sub):
        body = await self.body(request, rt)
        dry, fv, manager = self.opts(request)
        old = c.find(rt, namespace if rt.namespaced else "", name)
        if not isinstance(body, dict):
            raise E.bad_request("the body of the request was in an unknown format")
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise E.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                f"({name})")
        if old is None:
            raise E.not_found(rt, name)
        if sub == "finalize":
            sub_kind = "finalize"
            new = clone(old)
            new.setdefault("spec", {})["finalizers"] = list((body.get("spec") or {}).get("finalizers") or [])
            body = new
        else:
            sub_kind = sub
        if not rt.builtin and sub_kind in (None, "status") and not meta.get("resourceVersion"):
            raise E.invalid_kind(rt.plural, rt.group, name, [("metadata.resourceVersion", "FieldValueInvalid",
                                                              "Invalid value: 0: must be specified for an update")])
        obj, _, warnings = c.write(rt, body, namespace=namespace, old=old, dry_run=dry, field_validation=fv,
                                   subresource=sub_kind, manager=manager)
        if sub == "finalize" and not (obj.get("spec") or {}).get("finalizers") and obj["metadata"].get("deletionTimestamp"):
            self.sim.controllers[c.name].schedule((("", "namespaces"), "", name),
                                                  self.sim.controllers[c.name].namespace, "", name)
        return self.respond(request, c, rt, c.view(obj, rt), 200, warnings)

    async def patch(self, request, c, rt, namespace, name, sub):
        ct = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if ct not in ("application/apply-patch+yaml", "application/merge-patch+json", "application/json-patch+json",
                      "application/strategic-merge-patch+json", "application/apply-patch+cbor"):
            raise E.ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", details={})
        raw = await request.read()
        dry, fv, manager = self.opts(request)
        old = c.find(rt, namespace if rt.namespaced else "", name)
        if ct == "application/apply-patch+yaml":
            if not request.query.get("fieldManager"):
                raise E.options_invalid("PatchOptions", [("fieldManager", "FieldValueRequired",
                                                          "Required value: is required for apply patch")])
            try:
                cfg = yaml_load(raw)  # libyaml: every server-side apply body comes through here
            except yaml.YAMLError as err:
                raise E.bad_request(f"error decoding YAML: error converting YAML to JSON: {_go_yaml_error(err)}")
            if not isinstance(cfg, dict):
                raise E.bad_request("apply configuration must be an object")
            if cfg.get("apiVersion") != rt.api_version or cfg.get("kind") != rt.kind:
                g, _, v = str(cfg.get("apiVersion") or "").rpartition("/")
                raise E.bad_request(f"invalid object type: {g}/{v}, Kind={cfg.get('kind') or ''}")
            cfg_namespace = (cfg.get("metadata") or {}).get("namespace") or ""
            cmeta = cfg.setdefault("metadata", {})
            if cmeta.get("name") not in (None, name):
                raise E.bad_request(f"the name of the object ({cmeta.get('name')}) does not match the name on the "
                                    f"URL ({name})")
            cmeta["name"] = name
            if rt.namespaced:
                if cmeta.get("namespace") not in (None, namespace):
                    raise E.bad_request("the namespace of the provided object does not match the namespace sent "
                                        "on the request")
                cmeta["namespace"] = namespace
            force = _parse_bool(request.query.get("force"))
            sch = None if rt.builtin else (c.storage_rt(rt).schema or {})
            _check_apply_fields(rt, cfg, sch, cfg_namespace, name)
            if sub == "status":
                if old is None:
                    raise E.not_found(rt, name)
                status_cfg = {k: v for k, v in cfg.items() if k in ("apiVersion", "kind", "metadata", "status")}
                new = server_side_apply(c.view(old, rt), status_cfg, manager, force, c.type_root(rt),
                                        c.zero_object(rt), rt, now(), subresource="status")
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                obj, _, warnings = c.write(rt, new, namespace=namespace, old=old, dry_run=dry, field_validation=fv,
                                           subresource="status", manager=None)
                return self.respond(request, c, rt, c.view(obj, rt), 200, warnings)
            if old is not None and rt.status and "status" in cfg:
                cfg = {k: v for k, v in cfg.items() if k != "status"}
            new = server_side_apply(c.view(old, rt) if old else None, cfg, manager, force, c.type_root(rt),
                                    c.zero_object(rt), rt, now())
            if old is None:
                if rt.namespaced and c.namespace_obj(namespace) is None:
                    raise E.ns_not_found(namespace)
                obj, _, warnings = c.write(rt, new, namespace=namespace, dry_run=dry, field_validation=fv)
                return self.respond(request, c, rt, c.view(obj, rt), 201, warnings)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            last = ((old.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
            if manager == "kubectl" and last:
                # the field manager's lastAppliedUpdater: kubectl's server-side apply keeps the client-side apply
                # annotation in step with what it applied
                new["metadata"].setdefault("annotations", {})[LAST_APPLIED] = _last_applied(cfg)
            obj, _, warnings = c.write(rt, new, namespace=namespace, old=old, dry_run=dry, field_validation=fv)
            return self.respond(request, c, rt, c.view(obj, rt), 200, warnings)
        if old is None:
            raise E.not_found(rt, name)
        problem = E.go_json_error(raw) if raw else None
        if problem:
            raise E.bad_request(f"error decoding patch: {problem}")
        patch_doc = json.loads(raw) if raw else {}
        current = c.view(old, rt)
        if ct == "application/merge-patch+json":
            if not isinstance(patch_doc, dict):
                raise E.bad_request("error decoding patch: json: cannot unmarshal "
                                    f"{_go_json_type(patch_doc)} into Go value of type map[string]interface {{}}")
            new = json_merge_patch(current, patch_doc)
        elif ct == "application/json-patch+json":
            if not isinstance(patch_doc, list):
                raise E.bad_request(f"error decoding patch: json: cannot unmarshal {_go_json_type(patch_doc)} into "
                                    "Go value of type []handlers.jsonPatchOp")
            new = json_patch(current, patch_doc)
        elif ct == "application/strategic-merge-patch+json":
            if not rt.builtin:
                raise E.ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                 "accepted media types include: application/json-patch+json, "
                                 "application/merge-patch+json, application/apply-patch+yaml")
            if not isinstance(patch_doc, dict):
                raise E.bad_request("strategic merge patch must be a JSON object")
            new = strategic_merge_patch(current, patch_doc)
        else:
            raise E.ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                             f'accepted media types include: application/json-patch+json, '
                             f'application/merge-patch+json, application/apply-patch+yaml')
        if not isinstance(new, dict):
            raise E.bad_request("patch result is not an object")
        # a resourceVersion in the patch is a precondition; otherwise the patch applies to the latest
        prv = ((patch_doc.get("metadata") or {}).get("resourceVersion")) if isinstance(patch_doc, dict) else None
        if prv is None:
            new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
        obj, _, warnings = c.write(rt, new, namespace=namespace, old=old, dry_run=dry, field_validation=fv,
                                   subresource=sub, manager=manager)
        return self.respond(request, c, rt, c.view(obj, rt), 200, warnings)

    async def delete_options(self, request) -> dict:
        options = {}
        if request.can_read_body:
            raw = await request.read()
            ct = (request.headers.get("Content-Type") or "").split(";")[0].strip()
            if raw and ct == "application/vnd.kubernetes.protobuf":
                try:
                    options = protobuf.decode(raw)
                except Exception as err:
                    raise E.bad_request(f"invalid DeleteOptions: {err}")
            elif raw:
                try:
                    options = json.loads(raw)
                except ValueError as err:
                    raise E.bad_request(f"invalid DeleteOptions: {err}")
        if request.query.get("propagationPolicy"):
            options["propagationPolicy"] = request.query["propagationPolicy"]
        return options

    async def delete(self, request, c, rt, namespace, name):
        options = await self.delete_options(request)
        q = request.query
        if q.get("gracePeriodSeconds"):
            options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        policy = options.get("propagationPolicy")
        if policy is not None and policy not in ("Foreground", "Background", "Orphan"):
            raise E.options_invalid("DeleteOptions", [(
                "propagationPolicy", "FieldValueNotSupported", f'Unsupported value: "{policy}": supported values: '
                '"Foreground", "Background", "Orphan", "nil"')])
        dry = "All" in q.getall("dryRun", []) or "All" in (options.get("dryRun") or [])
        obj, deleted_now = c.delete(rt, namespace, name, options, dry_run=dry)
        status = 202 if (not deleted_now and options.get("orphanDependents") is False) else 200
        if deleted_now and not _returns_deleted_object(rt):
            # the generic registry answers a finished delete with a Status naming the object
            details = {"name": name, "group": rt.group, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
            if not rt.group:
                del details["group"]
            return _json(_success_status(details), status)
        return self.respond(request, c, rt, c.view(obj, rt), status)

    async def delete_collection(self, request, c, rt, namespace):
        q = request.query
        lreq = parse_label_selector(q.get("labelSelector"))
        freq = parse_field_selector(q.get("fieldSelector"), rt.plural)
        options = await self.delete_options(request)
        dry = "All" in q.getall("dryRun", []) or "All" in (options.get("dryRun") or [])
        out = []
        for obj in c.list_objects(rt, namespace, lreq, freq):
            try:
                o, _ = c.delete(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"], options, dry_run=dry)
                v = c.view(o, rt)
                if rt.builtin:  # typed lists carry no per-item TypeMeta
                    v.pop("apiVersion", None)
                    v.pop("kind", None)
                out.append(v)
            except E.ApiError:
                pass
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": str(c.rv)},
                      "items": out})

    async def scale(self, request, c, rt, namespace, name):
        obj = c.find(rt, namespace if rt.namespaced else "", name)
        if obj is None:
            raise E.not_found(rt, name)
        paths = rt.scale or {}

        def get(o, p):
            node = o
            for part in (p or "").strip(".").split("."):
                node = node.get(part) if isinstance(node, dict) else None
            return node

        def scale_of(o):
            sel = get(o, paths.get("labelSelectorPath"))
            if sel is None and isinstance(get(o, ".spec.selector"), dict):
                sel = ",".join(f"{k}={v}" for k, v in (get(o, ".spec.selector").get("matchLabels") or {}).items())
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {"name": name, "namespace": namespace, "uid": o["metadata"]["uid"],
                                 "resourceVersion": o["metadata"]["resourceVersion"],
                                 "creationTimestamp": o["metadata"]["creationTimestamp"]},
                    "spec": {"replicas": get(o, paths.get("specReplicasPath")) or 0},
                    "status": {"replicas": get(o, paths.get("statusReplicasPath")) or 0,
                               **({"selector": sel} if sel else {})}}
        if request.method == "GET":
            return _json(scale_of(obj))
        dry, fv, manager = self.opts(request)
        raw = await request.read()
        doc = json.loads(raw) if raw else {}
        current = scale_of(obj)
        if request.method == "PATCH":
            ct = (request.headers.get("Content-Type") or "").split(";")[0].strip()
            doc = json_patch(current, doc) if ct == "application/json-patch+json" else json_merge_patch(current, doc)
        replicas = (doc.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise E.invalid(rt, name, [("spec.replicas", "FieldValueInvalid",
                                        f"Invalid value: {replicas}: must be greater than or equal to 0")])
        new = clone(obj)
        node = new
        parts = paths.get("specReplicasPath", ".spec.replicas").strip(".").split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = replicas
        stored, _, _ = c.write(rt, new, namespace=namespace, old=obj, dry_run=dry, manager=manager,
                               subresource="scale")
        return _json(scale_of(stored))

    async def token_request(self, request, c, rt, namespace, name):
        sa = c.find(rt, namespace, name)
        if sa is None:
            raise E.not_found(rt, name)
        body = await self.body(request, rt)
        seconds = int(((body or {}).get("spec") or {}).get("expirationSeconds") or 3600)
        if seconds < 600:
            raise E.ApiError(422, "Invalid", 'TokenRequest.authentication.k8s.io "' + name + '" is invalid: '
                             "spec.expirationSeconds: Invalid value: " + str(seconds) +
                             ": may not specify a duration less than 10 minutes")
        seconds = min(seconds, 48 * 3600)
        import datetime as _dt
        exp = (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        tok = "kofsim-sa." + base64.urlsafe_b64encode(f"{namespace}:{name}:{secrets.token_hex(8)}".encode()).decode()
        c.extra.setdefault("sa_tokens", {})[tok] = (namespace, name, exp)
        return _json({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                      "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                      "spec": {"audiences": (body.get("spec") or {}).get("audiences") or ["https://kubernetes.default"
                                                                                          ".svc"],
                               "expirationSeconds": seconds, "boundObjectRef": None},
                      "status": {"token": tok, "expirationTimestamp": exp}}, 201)


# The routes, as tables. Control API: /kofsim/<endpoint> -> {method ("*": any): handler}.
CONTROL_ROUTES = {
    "healthz": {"*": Api._c_healthz},
    "reset": {"POST": Api._c_reset},
    "requests": {"DELETE": Api._c_clear_requests, "*": Api._c_requests},
    "faults": {"PUT": Api._c_set_faults, "DELETE": Api._c_clear_faults, "*": Api._c_faults},
    "compact": {"POST": Api._c_compact},
    "latency": {"PUT": Api._c_latency},
    "clusters": {"*": Api._c_clusters},
    "stats": {"*": Api._c_stats},
    "scenario": {"PUT": Api._c_scenario},
    "services": {"*": Api._c_services},
}
# The Kubernetes API: fixed paths, then the verbs of a collection, of an object and of the subresources that have
# a handler of their own ((subresource, method), "*": any method).
FIXED_ROUTES = {
    "/healthz": Api._r_ok, "/readyz": Api._r_ok, "/livez": Api._r_ok, "/version": Api._r_version,
    "/api": Api._r_api, "/apis": Api._r_apis, "/openapi/v2": Api._r_openapi_v2, "/openapi/v3": Api._r_openapi_v3,
}
COLLECTION_VERBS = {"GET": Api._v_get_collection, "POST": Api._v_create, "DELETE": Api._v_delete_collection}
OBJECT_VERBS = {"GET": Api._v_get, "PUT": Api._v_replace, "PATCH": Api._v_patch, "DELETE": Api._v_delete}
SUBRESOURCE_VERBS = {("log", "*"): Api._v_log, ("token", "POST"): Api._v_token, ("scale", "*"): Api._v_scale}


class _Dropped(Exception):
    pass


FAULT_KINDS = ("500", "503", "429", "409", "drop", "latency")
FAULT_KEYS = {"rate", "kinds", "count", "methods", "path_regex", "cluster", "latency_ms", "retry_after", "watches",
              "user_agent_regex", "skip_user_agent_regex", "seed"}


def validate_faults(spec) -> dict:
    """The fault spec of PUT /kofsim/faults; `rate` defaults to 1 (every matching request)."""
    if not isinstance(spec, dict):
        raise E.bad_request("fault spec must be an object")
    unknown = sorted(set(spec) - FAULT_KEYS)
    if unknown:
        raise E.bad_request(f"unknown fault spec fields {unknown}; known: {sorted(FAULT_KEYS)}")
    out = dict(spec)
    out.setdefault("rate", 1.0)
    try:
        out["rate"] = float(out["rate"])
    except (TypeError, ValueError):
        raise E.bad_request("rate must be a number between 0 and 1")
    if not 0 <= out["rate"] <= 1:
        raise E.bad_request("rate must be a number between 0 and 1")
    kinds = out.get("kinds")
    if kinds is not None:
        if not isinstance(kinds, list) or not all(str(k) in FAULT_KINDS for k in kinds):
            raise E.bad_request(f"kinds must be a list of {list(FAULT_KINDS)}")
        out["kinds"] = [str(k) for k in kinds]
    for key in ("count", "latency_ms", "retry_after", "seed"):
        if out.get(key) is not None and (not isinstance(out[key], int) or isinstance(out[key], bool)
                                         or out[key] < 0):
            raise E.bad_request(f"{key} must be a non-negative integer")
    if out.get("methods") is not None:
        if not isinstance(out["methods"], list):
            raise E.bad_request("methods must be a list of HTTP methods")
        out["methods"] = [str(m).upper() for m in out["methods"]]
    for key in ("path_regex", "user_agent_regex", "skip_user_agent_regex"):
        if out.get(key) is not None:
            try:
                re.compile(out[key])
            except (re.error, TypeError) as err:
                raise E.bad_request(f"{key} is not a valid regular expression: {err}")
    return out


class _DupDict(dict):
    """A JSON object that remembers keys it saw twice (the last value wins, as in Go)."""
    __slots__ = ("dups",)

    def __init__(self, pairs):
        super().__init__()
        self.dups = []
        for k, v in pairs:
            if k in self and k not in self.dups:
                self.dups.append(k)
            self[k] = v


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied(cfg: dict) -> str:
    """The applied configuration without the annotation itself, as the apiserver encodes it (sorted keys, no
    spaces, a final newline, HTML characters escaped)."""
    obj = clone(cfg)
    meta = obj.get("metadata") or {}
    ann = dict(meta.get("annotations") or {})
    ann.pop(LAST_APPLIED, None)
    if ann:
        meta["annotations"] = ann
    else:
        meta.pop("annotations", None)
    text = json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def _go_json_type(v) -> str:
    return ("object" if isinstance(v, dict) else "array" if isinstance(v, list) else "string" if isinstance(v, str)
            else "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "null")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _duplicates(value, path="") -> list[str]:
    out = []
    if isinstance(value, _DupDict):
        out += [f"{path}.{k}" if path else k for k in value.dups]
        for k, v in value.items():
            out += _duplicates(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _duplicates(v, f"{path}[{i}]")
    return out


def _go_yaml_error(err) -> str:
    """A PyYAML error as go-yaml words it (both are libyaml: the same problem texts)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    return f"yaml: line {mark.line if mark is not None else 0}: {problem}"


def _parse_bool(v) -> bool:
    # strconv.ParseBool, which kube-apiserver uses for query parameters
    return v in ("1", "t", "T", "true", "TRUE", "True")


def _check_apply_fields(rt: ResourceType, cfg: dict, schema, namespace, name) -> None:
    """Server-side apply converts the configuration to a typed object first: a field the schema does not
    declare fails it (kube-apiserver answers 500 without a reason, kubernetes/kubernetes#122480)."""
    if rt.builtin:
        unknown = S.unknown_builtin_fields(rt, cfg)
    else:
        probe = clone(cfg)
        unknown = S.unknown_meta_fields(probe)
        S.drop_fields(probe, unknown)
        unknown += S.process(probe, schema or {}).unknown if schema else []
    if unknown:
        gvk = f"{rt.group}/{rt.version}, Kind={rt.kind}"
        raise E.ApiError(500, "", f"failed to create typed patch object ({namespace or ''}/{name}; {gvk}): "
                         f".{unknown[0]}: field not declared in schema")


def _returns_deleted_object(rt: ResourceType) -> bool:
    # registries with ReturnDeletedObject (as kube-apiserver v1.36 answers: custom resources get a Status)
    return rt.builtin and (rt.group, rt.plural) in {("", "pods"), ("", "services"), ("", "serviceaccounts"),
                                                    ("", "persistentvolumeclaims"), ("", "persistentvolumes"),
                                                    ("storage.k8s.io", "storageclasses")}


def _parse_rv(rv: str) -> int:
    try:
        n = int(rv)
        if n < 0:
            raise ValueError(rv)
        return n
    except ValueError:
        raise E.bad_request(f'invalid resource version "{rv}"')


def _too_large_rv(want: int, have: int) -> E.ApiError:
    return E.ApiError(504, "Timeout", f"Timeout: Too large resource version: {want}, current: {have}",
                      details={"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource "
                                                                                             "version"}],
                               "retryAfterSeconds": 1})


def _okey(obj) -> tuple:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def _continue_key(obj, rt, namespace) -> str:
    """The etcd key after the list's prefix: "/<name>" in one namespace (or cluster-scoped), "/<ns>/<name>" across
    namespaces."""
    meta = obj["metadata"]
    if rt.namespaced and not namespace:
        return f"/{meta.get('namespace', '')}/{meta['name']}"
    return f"/{meta['name']}"


def _encode_continue(key: str, rv: int) -> str:
    # kube-apiserver's token: {"v": "meta.k8s.io/v1", "rv": N, "start": "<key>\x00"}, base64url without padding
    tok = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key}\u0000"}
    return base64.urlsafe_b64encode(json.dumps(tok, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_continue(cont: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4))
    except Exception as err:
        raise E.bad_request(f"invalid continue token: continue key is not valid: {err}")
    problem = E.go_json_error(raw)
    if problem:
        raise E.bad_request(f"invalid continue token: continue key is not valid: {problem}")
    try:
        tok = json.loads(raw)
        if tok.get("v") != "meta.k8s.io/v1":
            raise ValueError("version")
        return tok["start"].rstrip("\u0000"), int(tok["rv"])
    except Exception:
        raise E.bad_request("invalid continue token: continue key is not valid: incorrect encoded start "
                            "resourceVersion (version meta.k8s.io/v1)")


def _validate_list_options(q, *, watch: bool) -> None:
    """ValidateListOptions of apimachinery (WatchList enabled): 422 on ListOptions."""
    errs = []
    match = q.get("resourceVersionMatch", "")
    sie = q.get("sendInitialEvents")
    if watch:
        if sie is not None and match != "NotOlderThan":
            errs.append(("resourceVersionMatch", "FieldValueForbidden", "Forbidden: sendInitialEvents requires "
                         "setting resourceVersionMatch to NotOlderThan"))
        if match:
            if sie is None:
                errs.append(("resourceVersionMatch", "FieldValueForbidden", "Forbidden: resourceVersionMatch is "
                             "forbidden for watch unless sendInitialEvents is provided"))
            if match != "NotOlderThan":
                errs.append(("resourceVersionMatch", "FieldValueNotSupported",
                             f'Unsupported value: "{match}": supported values: "NotOlderThan"'))
            if q.get("continue"):
                errs.append(("resourceVersionMatch", "FieldValueForbidden", "Forbidden: resourceVersionMatch is "
                             "forbidden when continue is provided"))
    else:
        if match:
            if not q.get("resourceVersion"):
                errs.append(("resourceVersionMatch", "FieldValueForbidden", "Forbidden: resourceVersionMatch is "
                             "forbidden unless resourceVersion is provided"))
            if q.get("continue"):
                errs.append(("resourceVersionMatch", "FieldValueForbidden", "Forbidden: resourceVersionMatch is "
                             "forbidden when continue is provided"))
            if match not in ("Exact", "NotOlderThan"):
                errs.append(("resourceVersionMatch", "FieldValueNotSupported", f'Unsupported value: "{match}": '
                             'supported values: "Exact", "NotOlderThan", ""'))
            if match == "Exact" and q.get("resourceVersion") == "0":
                errs.append(("resourceVersionMatch", "FieldValueForbidden", 'Forbidden: resourceVersionMatch '
                             '"exact" is forbidden for resourceVersion "0"'))
        if sie is not None:
            errs.append(("sendInitialEvents", "FieldValueForbidden", "Forbidden: sendInitialEvents is forbidden "
                         "for list"))
    if errs:
        text = ", ".join(f"{f}: {m}" for f, _, m in errs)
        raise E.ApiError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: ' +
                         (f"[{text}]" if len(errs) > 1 else text),
                         details={"group": "meta.k8s.io", "kind": "ListOptions",
                                  "causes": [{"reason": r, "message": m, "field": f} for f, r, m in errs]})


# the watch cache makes its bookmarks from an empty object of the internal type: fields that are values there and
# pointers in the served version show up as zeros
_INTERNAL_ZEROS = {("apps", "Deployment"): {"spec": {"replicas": 0}}, ("apps", "ReplicaSet"): {"spec": {"replicas": 0}},
                   ("apps", "StatefulSet"): {"spec": {"replicas": 0}},
                   ("rbac.authorization.k8s.io", "Role"): {"rules": None},
                   ("rbac.authorization.k8s.io", "ClusterRole"): {"rules": None},
                   ("apiextensions.k8s.io", "CustomResourceDefinition"): {"status": {"conditions": None,
                                                                                     "storedVersions": None}}}


def _bookmark(c: Cluster, rt: ResourceType, rv: int) -> dict:
    obj = {"kind": rt.kind, "apiVersion": rt.api_version}
    if rt.builtin:
        zero = c.zero_object(rt)
        zero.pop("apiVersion", None)
        zero.pop("kind", None)
        for key, val in (_INTERNAL_ZEROS.get((rt.group, rt.kind)) or {}).items():
            if isinstance(val, dict) and isinstance(zero.get(key), dict):
                zero[key].update(val)
            else:
                zero[key] = val
        obj.update(zero)
    obj["metadata"] = {"resourceVersion": str(rv), "annotations": {"k8s.io/initial-events-end": "true"}}
    return obj


def _shallow_view(obj: dict, rt: ResourceType) -> dict:
    """An object as served at `rt`'s version, for serialization only (no deep copy: nothing mutates it)."""
    out = dict(obj)
    out["apiVersion"] = rt.api_version
    return out


def _default_manager(ua: str) -> str:
    # kube-apiserver defaults the field manager to the user agent's program name
    return (ua.split("/")[0] or "unknown").strip() or "unknown"


# ---------------------------------------------------------------------------------- discovery
def version_info(c: Cluster) -> dict:
    v = c.k8s_version.lstrip("v")
    major, minor, *_ = v.split(".")
    return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
            "minCompatibilityMajor": major, "minCompatibilityMinor": str(max(0, int(minor) - 1)),
            "gitVersion": c.k8s_version, "gitCommit": "kofsim", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
            "platform": "linux/amd64"}


AGGREGATED_CT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
CRD_VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]


def _wants_aggregated(accept: str) -> bool:
    """The client lists aggregated discovery (apidiscovery.k8s.io/v2) first among what it accepts."""
    first = accept.split(",")[0].replace(" ", "")
    return "g=apidiscovery.k8s.io" in first and "v=v2" in first.split("g=apidiscovery.k8s.io")[1].split(",")[0] \
        and "as=APIGroupDiscoveryList" in first


def api_group(c: Cluster, group: str) -> dict:
    versions = c.registry.groups.get(group)
    if not versions or group == "":
        raise E.unknown_resource()
    gv = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gv, "preferredVersion": gv[0]}


def api_group_list(c: Cluster) -> dict:
    groups = []
    for g in c.registry.group_names():
        if g:
            entry = api_group(c, g)
            del entry["kind"], entry["apiVersion"]  # inside a list, the groups carry no TypeMeta
            groups.append(entry)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """discovery.StorageVersionHash: the first 8 bytes of sha256("<group>/<version>/<kind>"), base64."""
    return base64.b64encode(hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()[:8]).decode()


_SUB_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"], "log": ["get"],
              "token": ["create"], "finalize": ["update"]}


def _resource_entries(c: Cluster, group: str, version: str) -> list[dict]:
    """The APIResourceList entries of a group-version: the real server's own for the built-in kinds (only what
    kofsim serves), generated for CRDs as apiextensions-apiserver does."""
    key = f"apis/{group}/{version}" if group else f"api/{version}"
    real = {r["name"]: r for r in (S.builtin_openapi().get("discovery") or {}).get(key, [])}
    res = []
    for rt in sorted(c.registry.resources(group, version), key=lambda r: r.plural):
        subs = (["status"] if rt.status else []) + (["scale"] if rt.scale else []) + list(rt.extra_subresources)
        if rt.builtin and rt.plural in real:
            res.append(dict(real[rt.plural]))
            for sub in subs:
                name = f"{rt.plural}/{sub}"
                if name in real:
                    res.append(dict(real[name]))
            continue
        entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
                 "verbs": list(CRD_VERBS) if not rt.builtin else list(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        storage = c.storage_rt(rt)
        entry["storageVersionHash"] = storage_version_hash(rt.group, storage.version, rt.kind)
        res.append(entry)
        for sub in subs:
            item = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced, "kind": rt.kind,
                    "verbs": list(_SUB_VERBS[sub])}
            if sub == "scale":
                item.update(group="autoscaling", version="v1", kind="Scale")
            elif sub == "token":
                item.update(group="authentication.k8s.io", version="v1", kind="TokenRequest")
            elif sub == "log":
                item["kind"] = "Pod"
            res.append(item)
    return res


def resource_list(c: Cluster, group: str, version: str) -> dict:
    out = {"kind": "APIResourceList", "groupVersion": f"{group}/{version}" if group else version,
           "resources": _resource_entries(c, group, version)}
    if group:
        out = {"kind": "APIResourceList", "apiVersion": "v1", **{k: v for k, v in out.items() if k != "kind"}}
    return out


def aggregated_discovery(c: Cluster, core: bool) -> dict:
    """apidiscovery.k8s.io/v2 APIGroupDiscoveryList: /api (the core group) or /apis (every other group)."""
    items = []
    for g in ([""] if core else [g for g in c.registry.group_names() if g]):
        versions = []
        for v in c.registry.groups.get(g, []):
            entries = _resource_entries(c, g, v)
            mains, subs = [], {}
            for e in entries:
                if "/" in e["name"]:
                    subs.setdefault(e["name"].split("/")[0], []).append(e)
                else:
                    mains.append(e)
            resources = []
            for e in sorted(mains, key=lambda x: x["name"]):
                rk = {"group": "", "version": "", "kind": e["kind"]}
                rt = c.registry.get(g, v, e["name"])
                if rt is not None and not rt.builtin:
                    rk = {"group": g, "version": v, "kind": e["kind"]}
                item = {"resource": e["name"], "responseKind": rk,
                        "scope": "Namespaced" if e["namespaced"] else "Cluster",
                        "singularResource": e.get("singularName", ""), "verbs": e["verbs"]}
                if e.get("shortNames"):
                    item["shortNames"] = e["shortNames"]
                if e.get("categories"):
                    item["categories"] = e["categories"]
                sr = []
                for sub in sorted(subs.get(e["name"], []), key=lambda x: x["name"]):
                    kind = {"group": sub.get("group", ""), "version": sub.get("version", ""), "kind": sub["kind"]}
                    if rt is not None and not rt.builtin and "group" not in sub:
                        kind = {"group": g, "version": v, "kind": sub["kind"]}
                    sr.append({"subresource": sub["name"].split("/", 1)[1], "responseKind": kind,
                               "verbs": sub["verbs"]})
                if sr:
                    item["subresources"] = sr
                resources.append(item)
            versions.append({"version": v, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": g} if g else {}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}


# ------------------------------------------------------------------------------------- app
def make_app(sim: Simulator) -> web.Application:
    api = Api(sim)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", api.handle)

    async def on_startup(_app):
        sim.start(asyncio.get_running_loop())
    app.on_startup.append(on_startup)
    return app
