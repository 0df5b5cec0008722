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
        body["code"] = body.pop("code")  # metav1.Status field order: ..., reason, details, code
        return body


def _qualified(rt) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def _details(name, group, kind, **extra) -> dict:
    """StatusDetails as kube-apiserver serializes it: empty name and group are omitted (omitempty)."""
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    d.update(extra)
    return d


def not_found(rt, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(rt)} "{name}" not found',
                    details=_details(name, rt.group, rt.plural))


def unknown_resource() -> ApiError:
    # What kube-apiserver answers for a group/version/resource it does not serve: no details.name.
    return ApiError(404, "NotFound", "the server could not find the requested resource", details={})


def already_exists(rt, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(rt)} "{name}" already exists',
                    details=_details(name, rt.group, rt.plural))


def conflict(rt, name: str, why: str = "the object has been modified; please apply your changes to the "
             "latest version and try again") -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(rt)} "{name}": {why}',
                    details=_details(name, rt.group, rt.plural))


def precondition_failed(rt, name: str, what: str, want: str, have: str) -> ApiError:
    """A delete whose precondition does not hold (the storage layer's error: the Kind, not the resource)."""
    tail = ("The object might have been deleted and then recreated" if what == "UID" else
            "The object might have been modified")
    qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": the {what} in the '
                    f"precondition ({want}) does not match the {what} in record ({have}). {tail}",
                    details=_details(name, rt.group, rt.kind))


def invalid(rt, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """causes: (field, reasonType e.g. FieldValueRequired, message)."""
    return invalid_kind(rt.kind, rt.group, name, causes)


def invalid_kind(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid as apierrors.NewInvalid words it: `<Kind>.<group> "<name>" is invalid: <field>: <msg>` (one
    cause) or `[<field>: <msg>, ...]`; a cause without a field is the message alone."""
    parts = [f"{field}: {msg}" if field else msg for field, _, msg in causes]
    # the aggregate drops duplicate messages (utilerrors.NewAggregate + Reduce do not; ToAggregate dedups)
    seen, uniq = set(), []
    for p in parts:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    text = uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"
    qualified = f"{kind}.{group}" if group else kind
    cs = []
    for f, r, m in causes:
        c = {"reason": r, "message": m}
        if f:
            c["field"] = f
        cs.append(c)
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}',
                    details=_details(name, group, kind, causes=cs))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media(ct: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                    f'accepted media types include: application/json-patch+json, application/merge-patch+json, '
                    f'application/apply-patch+yaml' if ct else "unsupported media type")


def method_not_allowed(verb: str, rt) -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                    details={})


def forbidden_ns_terminating(rt, name, ns) -> ApiError:
    return ApiError(403, "Forbidden", f'{rt.plural} "{name}" is forbidden: unable to create new content in '
                    f'namespace {ns} because it is being terminated',
                    details=_details(name, rt.group, rt.plural,
                                     causes=[{"reason": "NamespaceTerminating", "message": f"namespace {ns} is being "
                                                                                           f"terminated",
                                              "field": "metadata.namespace"}]))


def ns_not_found(ns: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                    details={"name": ns, "kind": "namespaces"})


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


# ------------------------------------------------------------------------------------- Go's JSON errors
def _quote_char(c: str) -> str:
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    s = json.dumps(c)[1:-1]
    if len(c) == 1 and (ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0):
        s = "\\u%04x" % ord(c) if ord(c) >= 0x7f else {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, "\\x%02x" % ord(c))
    return "'" + s + "'"


def go_json_error(data: bytes) -> str | None:
    """The error encoding/json reports for invalid JSON (its scanner's wording), or None when it is valid."""
    text = data.decode("latin-1")
    i, n = 0, len(text)

    def ws():
        nonlocal i
        while i < n and text[i] in " \t\r\n":
            i += 1

    def err(ctx):
        return f"invalid character {_quote_char(text[i])} {ctx}"

    def value(ctx="looking for beginning of value"):
        nonlocal i
        ws()
        if i >= n:
            raise _Eof()
        ch = text[i]
        if ch == "{":
            i += 1
            ws()
            if i < n and text[i] == "}":
                i += 1
                return None
            while True:
                ws()
                if i >= n:
                    raise _Eof()
                if text[i] != '"':
                    return err("looking for beginning of object key string")
                e = string()
                if e:
                    return e
                ws()
                if i >= n:
                    raise _Eof()
                if text[i] != ":":
                    return err("after object key")
                i += 1
                e = value()
                if e:
                    return e
                ws()
                if i >= n:
                    raise _Eof()
                if text[i] == ",":
                    i += 1
                    continue
                if text[i] == "}":
                    i += 1
                    return None
                return err("after object key:value pair")
        if ch == "[":
            i += 1
            ws()
            if i < n and text[i] == "]":
                i += 1
                return None
            while True:
                e = value()
                if e:
                    return e
                ws()
                if i >= n:
                    raise _Eof()
                if text[i] == ",":
                    i += 1
                    continue
                if text[i] == "]":
                    i += 1
                    return None
                return err("after array element")
        if ch == '"':
            return string()
        if ch == "-" or ch.isdigit():
            return number()
        for lit in ("true", "false", "null"):
            if ch == lit[0]:
                i += 1
                for k, expect in enumerate(lit[1:]):
                    if i >= n:
                        raise _Eof()
                    if text[i] != expect:
                        return err(f"in literal {lit} (expecting {_quote_char(expect)})")
                    i += 1
                return None
        return err(ctx)

    def string():
        nonlocal i
        i += 1
        while True:
            if i >= n:
                raise _Eof()
            ch = text[i]
            if ch == '"':
                i += 1
                return None
            if ch == "\\":
                i += 1
                if i >= n:
                    raise _Eof()
                if text[i] in 'bfnrt\\/"':
                    i += 1
                    continue
                if text[i] == "u":
                    i += 1
                    for _ in range(4):
                        if i >= n:
                            raise _Eof()
                        if text[i] not in "0123456789abcdefABCDEF":
                            return err("in \\u hexadecimal character escape")
                        i += 1
                    continue
                return err("in string escape code")
            if ord(ch) < 0x20:
                return err("in string literal")
            i += 1

    def number():
        nonlocal i
        if text[i] == "-":
            i += 1
            if i >= n:
                raise _Eof()
            if not text[i].isdigit():
                return err("in numeric literal")
        if text[i] == "0":
            i += 1
        else:
            while i < n and text[i].isdigit():
                i += 1
        if i < n and text[i] == ".":
            i += 1
            if i >= n:
                raise _Eof()
            if not text[i].isdigit():
                return err("after decimal point in numeric literal")
            while i < n and text[i].isdigit():
                i += 1
        if i < n and text[i] in "eE":
            i += 1
            if i < n and text[i] in "+-":
                i += 1
            if i >= n:
                raise _Eof()
            if not text[i].isdigit():
                return err("in exponent of numeric literal")
            while i < n and text[i].isdigit():
                i += 1
        return None

    try:
        e = value()
        if e:
            return e
        ws()
        if i < n:
            return err("after top-level value")
        return None
    except _Eof:
        return "unexpected end of JSON input"


class _Eof(Exception):
    pass


def summarize(data: bytes, limit: int = 30) -> str:
    if not data:
        return "<empty>"
    if data[:2] == b"\x1f\x8b":
        return "<gzip>"
    text = data.decode("utf-8", errors="replace")
    return text[:limit] + " ..." if len(data) > limit else text


def options_invalid(kind: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 for request options (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions, ListOptions)."""
    return invalid_kind(kind, "meta.k8s.io", "", causes)


import json  # noqa: E402
