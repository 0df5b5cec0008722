"""CRD validation rules (x-kubernetes-validations), evaluated with cel-python (celpy) as kube-apiserver does:

- every rule of a schema node is evaluated with `self` bound to the node's value (for every list item and map
  value under `items` / `additionalProperties`); a node that is absent is not validated;
- a rule that uses `oldSelf` is a transition rule: evaluated only on update, and only where the old object has a
  correlated value (reached through properties, map values, and list items of x-kubernetes-list-type map (by key)
  or set (by value)); `optionalOldSelf` rules always run, with oldSelf an optional value (not modelled: skipped
  when absent);
- ratcheting: on update, a node whose value is unchanged from its correlated old value is not re-validated;
- a failure is `<path>: Invalid value: <message>` (the value is not shown), or with `reason` FieldValueForbidden /
  FieldValueRequired / FieldValueDuplicate the matching error; `fieldPath` (a JSON path relative to the node)
  names the field; `messageExpression` (a CEL string expression) replaces the message when it evaluates to a
  non-empty string; without any message the text is `failed rule: <rule>`;
- a rule that fails to evaluate (a missing field without has(), a type error) reports
  `<path>: Invalid value: "object": <rule>: <error>`... approximated: kofsim reports the celpy error text.
"""
from __future__ import annotations

import json
import re

try:
    import celpy
    from celpy.evaluation import CELEvalError
except ImportError:  # pragma: no cover - cel-python is a dependency; without it rules are not evaluated
    celpy = None
    CELEvalError = Exception

_ENV = None
_PROGRAMS: dict = {}
_MISSING = object()


def _program(rule: str):
    global _ENV
    prg = _PROGRAMS.get(rule)
    if prg is None:
        if _ENV is None:
            _ENV = celpy.Environment()
        try:
            prg = _ENV.program(_ENV.compile(rule))
        except Exception as err:  # noqa: BLE001 - a rule celpy cannot compile is reported, not a crash
            prg = err
        _PROGRAMS[rule] = prg
    return prg


def has_rules(schema) -> bool:
    """Whether a structural schema carries any x-kubernetes-validations."""
    if isinstance(schema, dict):
        if schema.get("x-kubernetes-validations"):
            return True
        return any(has_rules(v) for k, v in schema.items() if k in ("properties", "items", "additionalProperties")
                   or (isinstance(v, dict) and k not in ("default", "example", "enum")))
    return False


def _uses_old_self(rule: dict) -> bool:
    return bool(re.search(r"\boldSelf\b", rule.get("rule", "")))


def _field_path(base: str, field_path: str) -> str:
    if not field_path:
        return base
    fp = field_path if field_path.startswith((".", "[")) else "." + field_path
    return (base + fp) if base else fp.lstrip(".")


def _to_cel(value):
    return celpy.json_to_cel(value)


def _truthy(result) -> bool | None:
    if isinstance(result, CELEvalError):
        return None
    try:
        return bool(result) if isinstance(result, (bool, celpy.celtypes.BoolType)) else None
    except Exception:  # noqa: BLE001
        return None


def _error(path, rule, message):
    reason = rule.get("reason")
    if reason == "FieldValueForbidden":
        return (path, "FieldValueForbidden", f"Forbidden: {message}")
    if reason == "FieldValueRequired":
        return (path, "FieldValueRequired", f"Required value: {message}")
    if reason == "FieldValueDuplicate":
        return (path, "FieldValueDuplicate", f"Duplicate value: {message}")
    return (path, "FieldValueInvalid", f"Invalid value: {message}")


def _eval_rules(schema, value, old, path, errors):
    for rule in schema.get("x-kubernetes-validations") or []:
        transition = _uses_old_self(rule)
        if transition and old is _MISSING:
            continue
        prg = _program(rule.get("rule", ""))
        if isinstance(prg, Exception):
            errors.append((path or "<nil>", "FieldValueInvalid", f"Invalid value: compilation failed: {prg}"))
            continue
        activation = {"self": _to_cel(value)}
        if transition:
            activation["oldSelf"] = _to_cel(old)
        try:
            result = prg.evaluate(activation)
        except Exception as err:  # noqa: BLE001
            result = err
        ok = _truthy(result)
        if ok:
            continue
        target = _field_path(path, rule.get("fieldPath", ""))
        if ok is None:
            detail = result.args[0] if isinstance(result, Exception) and result.args else result
            errors.append((target, "FieldValueInvalid", f"Invalid value: \"object\": {rule.get('rule')}: {detail}"))
            continue
        message = rule.get("message") or f"failed rule: {rule.get('rule')}"
        if rule.get("messageExpression"):
            mprg = _program(rule["messageExpression"])
            if not isinstance(mprg, Exception):
                try:
                    m = mprg.evaluate(activation)
                    if isinstance(m, str) and m.strip():
                        message = str(m)
                except Exception:  # noqa: BLE001 - the static message stands
                    pass
        errors.append(_error(target, rule, message))


def _walk(schema, value, old, path, errors):
    if not isinstance(schema, dict) or value is _MISSING or value is None:
        return
    if old is not _MISSING and old == value and _same_types(old, value):
        return  # ratcheting: unchanged values are not re-validated
    _eval_rules(schema, value, old, path, errors)
    props = schema.get("properties")
    if isinstance(value, dict):
        if props:
            for name, sub in props.items():
                if name in value:
                    o = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                    _walk(sub, value[name], o, f"{path}.{name}" if path else name, errors)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for name, v in value.items():
                if props and name in props:
                    continue
                o = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                _walk(addl, v, o, f"{path}[{name}]", errors)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        lt = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        for i, item in enumerate(value):
            o = _MISSING
            if isinstance(old, list):
                if lt == "map" and isinstance(item, dict):
                    ident = {k: item.get(k) for k in keys}
                    o = next((x for x in old if isinstance(x, dict) and {k: x.get(k) for k in keys} == ident),
                             _MISSING)
                elif lt == "set":
                    o = item if item in old else _MISSING
            _walk(items, item, o, f"{path}[{i}]", errors)


def _same_types(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def validate(obj: dict, old: dict | None, schema: dict) -> list:
    """Errors (field, reason, message) of the CEL rules of `schema` for `obj` (old: the stored object on update)."""
    if celpy is None or not isinstance(schema, dict):
        return []
    errors: list = []
    root_old = old if old is not None else _MISSING
    # the root's own rules see the whole object
    _eval_rules(schema, obj, root_old, "", errors)
    for name, sub in (schema.get("properties") or {}).items():
        if name in ("metadata", "apiVersion", "kind") or name not in obj:
            continue
        o = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
        _walk(sub, obj[name], o, name, errors)
    return errors
