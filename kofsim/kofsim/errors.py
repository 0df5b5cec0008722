"""Kubernetes API errors, rendered as `Status` objects exactly as kube-apiserver does."""
from __future__ import annotations


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, *, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if not self.reason:  # errors that are not API statuses carry no reason (omitempty)
            del body["reason"]
        if self.details is not None:
            body["details"] = self.details
        return body


def _qualified(rt) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(rt)} "{name}" not found',
                    details={"name": name, "group": rt.group, "kind": rt.plural})


def unknown_resource() -> ApiError:
    # What kube-apiserver answers for a group/version/resource it does not serve: no details.name.
    return ApiError(404, "NotFound", "the server could not find the requested resource", details={})


def already_exists(rt, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(rt)} "{name}" already exists',
                    details={"name": name, "group": rt.group, "kind": rt.plural})


def conflict(rt, name: str, why: str = "the object has been modified; please apply your changes to the "
             "latest version and try again") -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(rt)} "{name}": {why}',
                    details={"name": name, "group": rt.group, "kind": rt.plural})


def invalid(rt, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """causes: (field, reasonType e.g. FieldValueRequired, message)."""
    text = ", ".join(f"{field}: {msg}" for field, _, msg in causes)
    if len(causes) > 1:
        text = "[" + text + "]"
    qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}',
        details={"name": name, "group": rt.group, "kind": rt.kind,
                 "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media(ct: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                    f'accepted media types include: application/json-patch+json, application/merge-patch+json, '
                    f'application/apply-patch+yaml' if ct else "unsupported media type")


def method_not_allowed(verb: str, rt) -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource",
                    details={"group": rt.group, "kind": rt.plural})


def forbidden_ns_terminating(rt, name, ns) -> ApiError:
    return ApiError(403, "Forbidden", f'{rt.plural} "{name}" is forbidden: unable to create new content in '
                    f'namespace {ns} because it is being terminated',
                    details={"name": name, "group": rt.group, "kind": rt.plural,
                             "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                         "message": f"namespace {ns} is being terminated"}]})


def ns_not_found(ns: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                    details={"name": ns, "kind": "namespaces"})


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
