"""A small Go text/template evaluator for the Sveltos templates KOF 1.x puts into MultiClusterServices (values and
templateResourceRefs names), with the functions those templates call: Sveltos' resource functions as the
projectsveltos addon-controller defines them (getResource, copy, getField, removeField, setField, chainRemoveField,
chainSetField, over the resources of templateResourceRefs by identifier) and the sprig / helm functions around them
(toYaml, fromYaml, toJson, nindent, indent, adler32sum, printf, quote, default, ...). See kofsim/K0RDENT.md
("KOF 1.x regional and child tiers", values evaluation).

Understood: text and actions with trim markers, comments, `$v := pipeline`, `$v = pipeline`, pipelines of commands
(`a | f x`), parenthesised pipelines, string / raw-string / number / bool literals, `.A.b.c` field chains on the data
and on variables; text/template's and, or, eq, ne, lt, le, gt, ge, len, index. Not understood (TemplateError, the
caller reports it): if/range/with/define/template/block and any function not listed in funcs().
"""
from __future__ import annotations

import base64
import copy as _copy
import json
import re
import zlib

import yaml


class TemplateError(Exception):
    pass


class _Missing(Exception):
    """missingkey=error: a map has no such key."""


# ------------------------------------------------------------------------------------------- lexing
def _split_actions(text):
    """[(kind, str)]: ("text", s) and ("action", inner), trim markers applied."""
    out, pos = [], 0
    while True:
        i = text.find("{{", pos)
        if i < 0:
            out.append(("text", text[pos:]))
            break
        j = _find_close(text, i + 2)
        if j < 0:
            raise TemplateError("unclosed action")
        inner = text[i + 2:j]
        lead = text[pos:i]
        if inner.startswith("- ") or inner.startswith("-\t") or inner.startswith("-\n") or inner == "-":
            lead = lead.rstrip(" \t\r\n")
            inner = inner[1:]
        trail = False
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            trail = True
            inner = inner[:-1]
        out.append(("text", lead))
        out.append(("action", inner.strip()))
        pos = j + 2
        if trail:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
    return out


def _find_close(text, pos):
    """The `}}` closing an action that starts at pos, skipping string literals."""
    i = pos
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "`":
            i = text.find("`", i + 1)
            if i < 0:
                return -1
        elif text.startswith("}}", i):
            return i
        i += 1
    return -1


_TOKEN = re.compile(r'''\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*") | (?P<raw>`[^`]*`) | (?P<lp>\() | (?P<rp>\)) | (?P<pipe>\|) |
    (?P<decl>:=) | (?P<assign>=) |
    (?P<var>\$\w*(?:\.\w+)*) | (?P<field>(?:\.\w+)+|\.) | (?P<num>-?\d+(?:\.\d+)?) |
    (?P<ident>[A-Za-z_]\w*)(?P<fields>(?:\.\w+)*)
    )''', re.X)


def _tokens(s):
    pos, out = 0, []
    while pos < len(s):
        if s[pos:].strip() == "":
            break
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"unexpected {s[pos:pos + 20]!r}")
        kind = m.lastgroup if m.lastgroup != "fields" else "ident"
        if m.group("ident"):
            out.append(("ident", m.group("ident")))
            if m.group("fields"):
                out.append(("field", m.group("fields")))
        else:
            out.append((kind, m.group(kind)))
        pos = m.end()
    return out


# ------------------------------------------------------------------------------------------- evaluation
def _go_str(v):
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_str(x)}" for k, x in sorted(v.items())) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_str(x) for x in v) + "]"
    return str(v)


def _fields(value, chain):
    for f in [x for x in chain.split(".") if x]:
        if isinstance(value, dict):
            if f not in value:
                raise _Missing(f'map has no entry for key "{f}"')
            value = value[f]
        elif value is None:
            return None
        else:
            raise TemplateError(f"can't evaluate field {f} in type {type(value).__name__}")
    return value


def _path(fields):
    return [p for p in str(fields).split(".") if p]


def _remove_nested(obj, fields):
    p = _path(fields)
    cur = obj
    for k in p[:-1]:
        cur = cur.get(k) if isinstance(cur, dict) else None
        if not isinstance(cur, dict):
            return
    if isinstance(cur, dict):
        cur.pop(p[-1], None)


def _set_nested(obj, fields, value):
    p = _path(fields)
    cur = obj
    for k in p[:-1]:
        nxt = cur.get(k)
        if nxt is None:
            nxt = cur[k] = {}
        if not isinstance(nxt, dict):
            raise TemplateError(f"value cannot be set because {'.'.join(p[:-1])} is not a map")
        cur = nxt
    cur[p[-1]] = _copy.deepcopy(value)


def _reset(obj):
    """Sveltos' resetFields: no managedFields, resourceVersion, uid."""
    obj = _copy.deepcopy(obj)
    meta = obj.get("metadata") or {}
    for k in ("managedFields", "resourceVersion", "uid"):
        meta.pop(k, None)
    return obj


def to_yaml(v):
    """helm's / Sveltos' toYaml (sigs.k8s.io/yaml: keys sorted), without the trailing newline."""
    if v is None:
        return "null"
    return yaml.safe_dump(v, sort_keys=True, default_flow_style=False, allow_unicode=True).rstrip("\n")


def _printf(fmt, *args):
    args = list(args)
    out = []

    def repl(m):
        verb = m.group(1)
        if verb == "%":
            return "%"
        a = args.pop(0) if args else None
        if verb == "q":
            return json.dumps(_go_str(a))
        if verb == "d":
            return str(int(a))
        return _go_str(a)
    out.append(re.sub(r"%[-+# 0-9.]*([a-zA-Z%])", repl, fmt))
    return "".join(out)


def _sprint(*args):
    """Go's fmt.Sprint (template `print`): a space between two operands when neither is a string."""
    out = []
    for i, x in enumerate(args):
        if i and not isinstance(x, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_go_str(x))
    return "".join(out)


def merge_overwrite(dst, *srcs):
    """sprig's mergeOverwrite (mergo v1.0.2 WithOverride): maps merge; anything else, empty or null, replaces."""
    for s in srcs:
        for k, v in (s or {}).items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge_overwrite(dst[k], v)
            else:
                dst[k] = _copy.deepcopy(v)
    return dst


def _dig(*args):
    keys, default, d = args[:-2], args[-2], args[-1]
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _indent(n, s):
    pad = " " * int(n)
    return pad + str(s).replace("\n", "\n" + pad)


def _empty(v):
    return v in (None, "", 0, False) or (isinstance(v, (dict, list)) and not v)


def _kind(v):
    """text/template's basic kind of a value for eq/lt: bool, int, float, string (else not comparable)."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("string", str)):
        if isinstance(v, types):
            return kind
    return None


def _compare(a, b, ordered=False):
    """-1/0/1 as Go's eq/lt compare two basic values; values of different kinds are an error, as in Go."""
    ka, kb = _kind(a), _kind(b)
    if ka is None or kb is None:
        raise TemplateError("invalid type for comparison")
    if ka != kb:
        raise TemplateError("incompatible types for comparison")
    if ordered and ka == "bool":
        raise TemplateError("invalid type for comparison")
    return (a > b) - (a < b)


def _len(v):
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise TemplateError(f"len of type {type(v).__name__}")


def _index(v, *keys):
    """Go's index: a map's key (missing: no value), a list's position (out of range: an error)."""
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k)
        elif isinstance(v, (list, str)) and isinstance(k, int) and not isinstance(k, bool):
            if not 0 <= k < len(v):
                raise TemplateError(f"index out of range: {k}")
            v = v[k] if isinstance(v, list) else ord(v[k])
        else:
            raise TemplateError(f"can't index item of type {type(v).__name__}")
    return v


def _ternary(vt, vf, test):
    if not isinstance(test, bool):
        raise TemplateError(f"expected bool; found {json.dumps(test) if isinstance(test, str) else _go_str(test)}")
    return vt if test else vf


class Template:
    """render(text) with `data` as `.` and `resources` (identifier -> object) for Sveltos' resource functions."""

    def __init__(self, data, resources=None):
        self.data = data
        self.resources = {k: _copy.deepcopy(v) for k, v in (resources or {}).items()}
        self.vars = {"$": data}

    def resource(self, ident):
        return self.resources.get(ident)

    def funcs(self):
        r = self.resource

        def get_field(ident, fields):
            u = r(ident)
            if u is None:
                return ""
            try:
                return _copy.deepcopy(_fields(u, fields))
            except _Missing:
                return ""

        def remove_field(ident, fields):
            u = r(ident)
            if u is None:
                return ""
            _remove_nested(u, fields)
            return to_yaml(_reset(u))

        def set_field(ident, fields, value):
            u = r(ident)
            if u is None:
                return ""
            _set_nested(u, fields, value)
            return to_yaml(_reset(u))

        def chain_remove(u, fields):
            if isinstance(u, dict):
                _remove_nested(u, fields)
            return u

        def chain_set(u, fields, value):
            if not isinstance(u, dict):
                return None
            _set_nested(u, fields, value)
            return u

        return {
            "getResource": lambda ident: _reset(r(ident)) if r(ident) is not None else None,
            "copy": lambda ident: to_yaml(_reset(r(ident))) if r(ident) is not None else "",
            "getField": get_field, "removeField": remove_field, "setField": set_field,
            "chainRemoveField": chain_remove, "chainSetField": chain_set,
            "toYaml": to_yaml, "fromYaml": lambda s: yaml.safe_load(s or "") or {},
            "toJson": lambda v: json.dumps(v, sort_keys=True, separators=(",", ":")),
            "fromJson": lambda s: json.loads(s or "{}"),
            "nindent": lambda n, s: "\n" + _indent(n, s), "indent": _indent,
            "adler32sum": lambda s: str(zlib.adler32(str(s).encode()) & 0xffffffff),
            "printf": _printf, "print": _sprint,
            "quote": lambda *a: " ".join(json.dumps(_go_str(x)) for x in a),
            "squote": lambda *a: " ".join(f"'{_go_str(x)}'" for x in a),
            "default": lambda d, *v: d if not v or _empty(v[0]) else v[0],
            "upper": lambda s: str(s).upper(), "lower": lambda s: str(s).lower(),
            "trim": lambda s: str(s).strip(), "replace": lambda old, new, s: str(s).replace(old, new),
            "b64enc": lambda s: base64.b64encode(str(s).encode()).decode(),
            "b64dec": lambda s: base64.b64decode(str(s)).decode(),
            "dict": lambda *kv: {str(kv[i]): kv[i + 1] for i in range(0, len(kv) - 1, 2)},
            "list": lambda *a: list(a), "dig": _dig, "mergeOverwrite": merge_overwrite,
            "hasKey": lambda d, k: isinstance(d, dict) and k in d, "get": lambda d, k: (d or {}).get(k, ""),
            "not": lambda v: _empty(v), "empty": _empty, "deepCopy": _copy.deepcopy,
            # text/template's builtins (and/or: the first empty / non-empty operand, else the last)
            "and": lambda *a: next((x for x in a if _empty(x)), a[-1]),
            "or": lambda *a: next((x for x in a if not _empty(x)), a[-1]),
            "eq": lambda a, *bs: any(_compare(a, b) == 0 for b in bs), "ne": lambda a, b: _compare(a, b) != 0,
            "lt": lambda a, b: _compare(a, b, True) < 0, "le": lambda a, b: _compare(a, b, True) <= 0,
            "gt": lambda a, b: _compare(a, b, True) > 0, "ge": lambda a, b: _compare(a, b, True) >= 0,
            "len": _len, "index": _index,
            # sprig: ternary's test must be a bool; hasPrefix/hasSuffix/contains take the needle first
            "ternary": _ternary,
            "hasPrefix": lambda p, s: str(s).startswith(str(p)), "hasSuffix": lambda p, s: str(s).endswith(str(p)),
            "contains": lambda p, s: str(p) in str(s), "toString": _go_str,
        }

    # pipeline := command ('|' command)*; command := operand+
    def _pipeline(self, toks, i, funcs):
        value, have = None, False
        while True:
            args, i = self._command(toks, i, funcs)
            value = self._call(args, value, have, funcs)
            have = True
            if i < len(toks) and toks[i][0] == "pipe":
                i += 1
                continue
            return value, i

    def _command(self, toks, i, funcs):
        args = []
        while i < len(toks) and toks[i][0] not in ("pipe", "rp"):
            kind, text = toks[i]
            if kind == "lp":
                val, i = self._pipeline(toks, i + 1, funcs)
                if i >= len(toks) or toks[i][0] != "rp":
                    raise TemplateError("unclosed left paren")
                i += 1
                if i < len(toks) and toks[i][0] == "field":
                    val = _fields(val, toks[i][1])
                    i += 1
                args.append(("value", val))
                continue
            if kind == "str":
                args.append(("value", json.loads(text)))
            elif kind == "raw":
                args.append(("value", text[1:-1]))
            elif kind == "num":
                args.append(("value", float(text) if "." in text else int(text)))
            elif kind == "var":
                name, _, chain = text.partition(".")
                if name not in self.vars:
                    raise TemplateError(f"undefined variable: {name}")
                args.append(("value", _fields(self.vars[name], chain)))
            elif kind == "field":
                args.append(("value", self.data if text == "." else _fields(self.data, text)))
            elif kind == "ident":
                if text in ("true", "false"):
                    args.append(("value", text == "true"))
                elif text == "nil":
                    args.append(("value", None))
                else:
                    if text not in funcs:
                        raise TemplateError(f'function "{text}" not defined')
                    args.append(("func", text))
            else:
                raise TemplateError(f"unexpected {text!r}")
            i += 1
        if not args:
            raise TemplateError("missing value for command")
        return args, i

    def _call(self, args, piped, have, funcs):
        kind, head = args[0]
        if kind == "func":
            vals = []
            for k, v in args[1:]:
                if k == "func":
                    vals.append(funcs[v]())  # a niladic function as an argument
                else:
                    vals.append(v)
            if have:
                vals.append(piped)
            try:
                return funcs[head](*vals)
            except TemplateError:
                raise
            except Exception as err:  # noqa: BLE001 - Go reports the call's error
                raise TemplateError(f"error calling {head}: {err}") from err
        if len(args) > 1 or have:
            raise TemplateError("can't give argument to non-function")
        return head

    def _action(self, inner):
        if inner.startswith("/*"):
            return ""
        toks = _tokens(inner)
        if not toks:
            raise TemplateError("missing value for command")
        if toks[0][0] == "ident" and toks[0][1] in ("if", "else", "end", "range", "with", "define", "template",
                                                      "block", "break", "continue"):
            raise TemplateError(f"kofsim does not evaluate {{{{ {toks[0][1]} }}}}")
        funcs = self.funcs()
        var, op = None, None
        if len(toks) > 2 and toks[0][0] == "var" and toks[1][0] in ("decl", "assign"):
            var, op = toks[0][1], toks[1][0]
            toks = toks[2:]
            if op == "assign" and var not in self.vars:
                raise TemplateError(f"undefined variable: {var}")
        value, i = self._pipeline(toks, 0, funcs)
        if i != len(toks):
            raise TemplateError(f"unexpected {toks[i][1]!r} in command")
        if var is not None:
            self.vars[var] = value
            return ""
        return _go_str(value)

    def render(self, text):
        out = []
        for kind, s in _split_actions(text):
            if kind == "text":
                out.append(s)
                continue
            try:
                out.append(self._action(s))
            except _Missing as err:
                raise TemplateError(f"executing template: {err}") from err
        return "".join(out)


def render(text, data, resources=None):
    return Template(data, resources).render(text)
