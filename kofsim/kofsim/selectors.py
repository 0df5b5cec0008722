"""Label and field selectors, parsed and matched as kube-apiserver does."""
from __future__ import annotations

import re

from .errors import bad_request

_KEY = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-zA-Z0-9](?:[-a-zA-Z0-9_.]*[a-zA-Z0-9])?"


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


_SPECIAL = "=!(),><"
_TOKENS = {")": "CLOSE", ",": "COMMA", "!": "NOT", "==": "DEQ", "=": "EQ", ">": "GT", "in": "IN", "<": "LT",
           "!=": "NEQ", "notin": "NOTIN", "(": "OPEN"}
_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                  "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                  "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
              "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
              "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


class _SelectorError(Exception):
    pass


def _lex(s: str) -> list[tuple[str, str]]:
    """k8s.io/apimachinery/pkg/labels Lexer: identifiers, keywords and operators."""
    out, i = [], 0
    while True:
        while i < len(s) and s[i] in " \t\r\n":
            i += 1
        if i >= len(s):
            out.append(("END", ""))
            return out
        if s[i] in _SPECIAL:
            j = i + 1
            while j < len(s) and s[i:j + 1] in _TOKENS:
                j += 1
            lit = s[i:j]
            if lit not in _TOKENS:
                out.append(("ERROR", lit))
            else:
                out.append((_TOKENS[lit], lit))
            i = j
            continue
        j = i
        while j < len(s) and s[j] not in _SPECIAL and s[j] not in " \t\r\n":
            j += 1
        lit = s[i:j]
        out.append((_TOKENS.get(lit, "ID") if lit in ("in", "notin") else "ID", lit))
        i = j


def _key_errors(key: str) -> list[str]:
    errs = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errs.append("prefix part must be no more than 253 characters")
        elif not _DNS1123_SUB.match(prefix):
            errs.append("prefix part " + _SUBDOMAIN_MSG)
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
                "and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not _NAME_PART.match(name):
        errs.append(_NAME_MSG)
    return errs


class _Parser:
    def __init__(self, s):
        self.toks = _lex(s)
        self.pos = 0

    def look(self, values=True):
        t, lit = self.toks[self.pos]
        if values and t in ("IN", "NOTIN"):
            t = "ID"
        return t, lit

    def take(self, values=True):
        t = self.look(values)
        if self.pos < len(self.toks) - 1:
            self.pos += 1
        return t

    def parse(self):
        reqs = []
        while True:
            t, lit = self.look()
            if t in ("ID", "NOT"):
                try:
                    reqs.append(self.requirement())
                except _SelectorError as err:
                    raise _SelectorError(f"unable to parse requirement: {err}")
                t, lit = self.take()
                if t == "END":
                    return reqs
                if t == "COMMA":
                    t2, l2 = self.look()
                    if t2 not in ("ID", "NOT"):
                        raise _SelectorError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise _SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif t == "END":
                return reqs
            else:
                raise _SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self):
        op = None
        t, lit = self.take()
        if t == "NOT":
            op = "!"
            t, lit = self.take()
        if t != "ID":
            raise _SelectorError(f"found '{lit}', expected: identifier")
        errs = _key_errors(lit)
        if errs:
            raise _SelectorError(f'<nil>: Invalid value: "{lit}": ' + "; ".join(errs))
        key = lit
        if self.look()[0] in ("END", "COMMA"):
            return (key, op or "exists", [])
        if op == "!":
            raise _SelectorError(f"found '{self.look()[1]}', expected: ',' or 'end of string'")
        t, lit = self.take(values=False)
        ops = {"IN": "in", "NOTIN": "notin", "EQ": "=", "DEQ": "=", "NEQ": "!=", "GT": "gt", "LT": "lt"}
        if t not in ops:
            raise _SelectorError(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")
        op = ops[t]
        if op in ("in", "notin"):
            values = self.values()
            if not values:
                raise _SelectorError("values: Invalid value: []string{}: for 'in', 'notin' operators, values set "
                                     "can't be empty")
        else:
            values = self.exact()
            if op in ("gt", "lt"):
                try:
                    int(values[0])
                except ValueError:
                    raise _SelectorError(f"values[0]: Invalid value: \"{values[0]}\": for 'Gt', 'Lt' operators, "
                                         "the value must be an integer")
        for i, v in enumerate(values):
            if len(v) > 63:
                raise _SelectorError(f'values[{i}]: Invalid value: "{v}": must be no more than 63 characters')
            if not _LABEL_VALUE.match(v):
                raise _SelectorError(f'values[{i}]: Invalid value: "{v}": {_VALUE_MSG}')
        return (key, op, values)

    def values(self):
        t, lit = self.take()
        if t != "OPEN":
            raise _SelectorError(f"found '{lit}' expected: '('")
        t, lit = self.look()
        if t in ("ID", "COMMA"):
            vals = self.identifiers()
            t2, _ = self.take()
            if t2 != "CLOSE":
                raise _SelectorError(f"found '{lit}', expected: ')'")
            return vals
        if t == "CLOSE":
            self.take()
            return [""]
        raise _SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self):
        out = []
        while True:
            t, lit = self.take()
            if t == "ID":
                if lit not in out:
                    out.append(lit)
                t2, l2 = self.look()
                if t2 == "COMMA":
                    continue
                if t2 == "CLOSE":
                    return sorted(out)
                raise _SelectorError(f"found '{l2}', expected: ',' or ')'")
            if t == "COMMA":
                if not out:
                    out.append("")
                t2, _ = self.look()
                if t2 == "CLOSE":
                    if "" not in out:
                        out.append("")
                    return sorted(out)
                if t2 == "COMMA":
                    self.take()
                    if "" not in out:
                        out.append("")
                continue
            raise _SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact(self):
        t, _ = self.look()
        if t in ("END", "COMMA"):
            return [""]
        t, lit = self.take()
        if t == "ID":
            return [lit]
        raise _SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(s: str | None):
    """Returns a list of (key, op, values) requirements; 400 with the apimachinery parser's message otherwise."""
    if not s:
        return []
    try:
        return _Parser(s).parse()
    except _SelectorError as err:
        raise bad_request(str(err))


def match_labels(reqs, labels: dict | None) -> bool:
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and (not has or v != vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and (not has or v not in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op in ("gt", "lt"):
            try:
                n = int(v) if has else None
            except ValueError:
                return False
            if n is None or (op == "gt" and not n > int(vals[0])) or (op == "lt" and not n < int(vals[0])):
                return False
    return True


def match_label_selector_obj(selector: dict | None, labels: dict | None) -> bool:
    """metav1.LabelSelector (matchLabels / matchExpressions). An empty selector matches everything."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, vals = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


FIELD_LABELS = {
    "pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "status.phase", "status.podIP", "status.nominatedNodeName"},
    "secrets": {"type"},
    "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"},
    "namespaces": {"status.phase"},
    "nodes": {"spec.unschedulable"},
    "replicasets": {"status.replicas"},
    "jobs": {"status.successful"},
}


def parse_field_selector(s: str | None, plural: str):
    reqs = []
    if not s:
        return reqs
    allowed = {"metadata.name", "metadata.namespace"} | FIELD_LABELS.get(plural, set())
    for part in _split_top(s):
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)", part)
        if not m:
            raise bad_request(f'invalid selector: \'{s}\'; can\'t understand \'{part}\'')
        key = m.group(1)
        if key not in allowed:
            if plural not in FIELD_LABELS:  # resources with only the generic field selectors
                raise bad_request(f'"{key}" is not a known field selector: only "metadata.name", '
                                  f'"metadata.namespace"')
            raise bad_request(f'field label not supported: {key}')
        reqs.append((key, "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return reqs


def match_fields(reqs, obj: dict) -> bool:
    for key, op, val in reqs:
        node = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        sval = "" if node is None else (str(node).lower() if isinstance(node, bool) else str(node))
        if op == "=" and sval != val:
            return False
        if op == "!=" and sval == val:
            return False
    return True
