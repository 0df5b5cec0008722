"""kofsim's Go-template evaluator (k0rdent/gotemplate.py) against the real thing: Go's text/template with sprig
v3.3.0 and mergo v1.0.2, the versions kcm v1.10.0 pins (kofsim/realsprig, built by `make setup`), on the sprig
functions and template forms KOF's MultiClusterService templates use. Where they differ, kofsim is wrong.

Not covered here: Sveltos' own functions (getResource, getField, ...) and toYaml / fromYaml, which are not sprig's."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kofsim.k0rdent import gotemplate

ORACLE = Path(__file__).resolve().parents[2] / ".tools" / "sprig" / "bin" / "kof-gotemplate"

DATA = {"Cluster": {"metadata": {"name": "eu-1", "namespace": "kcm-system",
                                 "annotations": {"k0rdent.mirantis.com/kof-regional-domain": "eu.example.net",
                                                 "k0rdent.mirantis.com/kof-storage-class": "",
                                                 "k0rdent.mirantis.com/kof-write-metrics-endpoint": "https://m/w"},
                                 "labels": {"k0rdent.mirantis.com/kof-cluster-role": "regional"}}},
        "Values": {"n": 3, "on": True, "off": False, "empty": "", "list": ["a", "b"], "nested": {"x": {"y": 1}}}}

# (name, template): what the KOF 1.x MultiClusterService templates do with sprig - dig with defaults, merges of
# values layers (mergeOverwrite: empty values, lists, maps over scalars), printf, default, dict/list, checksums
CASES = [
    ("dig found", '{{ .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-regional-domain" "" }}'),
    ("dig missing", '{{ .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-gateway-name" "gw" }}'),
    ("dig empty value", '{{ .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-storage-class" "std" }}'),
    ("dig through a missing map", '{{ .Cluster.metadata | dig "nope" "deeper" "fallback" }}'),
    ("variables and printf", '{{ $d := .Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-regional-domain"'
                             ' "" }}{{ $h := printf "vmauth.%s" $d }}{{ $h }}'),
    ("printf verbs", '{{ printf "%s-%d-%v-%q" "a" 3 true "q" }}'),
    ("default empty", '{{ default "fallback" .Values.empty }}|{{ default "fallback" "set" }}|{{ .Values.empty | default "p" }}'),
    ("default false and zero", '{{ default "d" .Values.off }}|{{ default 7 0 }}'),
    ("not and empty", '{{ not .Values.on }}|{{ not .Values.empty }}|{{ empty .Values.list }}|{{ empty (list) }}'),
    ("mergeOverwrite empties", '{{ mergeOverwrite (dict "a" (dict "l" (list 1 2) "b" true "s" "x" "n" 5)) '
                               '(dict "a" (dict "l" (list) "b" false "s" "" "n" 0)) | toJson }}'),
    ("mergeOverwrite layers", '{{ mergeOverwrite (dict) (dict "g" (dict "c" "eu" "sc" "std")) (dict "g" (dict "sc" "fast")) '
                              '(dict "x" 1) | toJson }}'),
    ("mergeOverwrite map over scalar", '{{ mergeOverwrite (dict "a" "v" "b" (dict "x" 1)) (dict "a" (dict "k" 1) "b" 2) | toJson }}'),
    ("mergeOverwrite empty map", '{{ mergeOverwrite (dict "a" (dict "x" 1) "s" "v") (dict "a" (dict) "s" (dict)) | toJson }}'),
    ("mergeOverwrite null replaces", '{{ mergeOverwrite (dict "a" (dict "x" 1) "b" 2) (dict "a" nil) | toJson }}'),
    ("mergeOverwrite fresh key with empty list", '{{ mergeOverwrite (dict) (dict "e" (dict "extraVolumes" (list))) | toJson }}'),
    ("dict and list", '{{ dict "b" 2 "a" (list 1 "x" true) | toJson }}'),
    ("hasKey and get", '{{ hasKey .Values "n" }}|{{ hasKey .Values "zz" }}|{{ get .Values.nested "x" | toJson }}'),
    ("adler32sum", '{{ adler32sum "kof-cluster-config-eu-1" }}|{{ printf "%s" .Cluster.metadata.name | adler32sum }}'),
    ("quote and squote", '{{ quote "a b" }}|{{ squote "c" }}|{{ quote 5 }}'),
    ("strings", '{{ upper "Ab" }}|{{ lower "Ab" }}|{{ trim "  x  " }}|{{ replace "." "-" "1.10.0" }}'),
    ("base64", '{{ b64enc "user:pass" }}|{{ b64dec "dXNlcjpwYXNz" }}'),
    ("indent and nindent", 'a:{{ "x: 1\\ny: 2" | nindent 2 }}\nb:\n{{ "z: 3" | indent 4 }}'),
    ("toJson of data", '{{ .Values.nested | toJson }}|{{ .Values.list | toJson }}|{{ .Values.n | toJson }}'),
    ("fromJson", '{{ $v := fromJson "{\\"a\\": {\\"b\\": [1, 2]}}" }}{{ $v.a.b | toJson }}'),
    ("print", '{{ print "a" 1 true }}'),
    ("deepCopy leaves the original", '{{ $c := deepCopy .Values.nested }}{{ $_ := mergeOverwrite $c (dict "x" 2) }}'
                                     '{{ .Values.nested | toJson }}{{ $c | toJson }}'),
    ("trim markers", 'a {{- "b" -}} c'),
    ("missing key is an error", '{{ .Cluster.metadata.nope }}'),
    # text/template's builtins and sprig's tests: kof-regional's metricsHost is a ternary, its Azure branch an eq
    ("ternary", '{{ $m := not (.Cluster.metadata | dig "annotations" "k0rdent.mirantis.com/kof-write-metrics-endpoint" '
                '"") }}[{{ $m | ternary (printf "vmauth.%s" "eu") "" }}]|{{ ternary "a" "b" true }}'),
    ("ternary wants a bool", '{{ ternary "a" "b" "yes" }}'),
    ("eq and ne", '{{ eq "a" "a" }}|{{ eq "a" "b" "a" }}|{{ eq true false }}|{{ ne 1 2 }}|'
                  '{{ eq (get .Cluster.metadata.labels "k0rdent.mirantis.com/kof-cluster-role") "regional" }}'),
    ("eq of incompatible types is an error", '{{ eq "1" 1 }}'),
    ("ordering", '{{ lt 1 2 }}|{{ le 2 2 }}|{{ gt 2.5 1.5 }}|{{ ge "b" "a" }}'),
    ("and and or", '{{ and true "x" }}|{{ and "" true }}|{{ or "" "y" }}|{{ or false 0 }}|{{ and 1 (list) 2 }}'),
    ("len", '{{ len .Values.list }}|{{ len "abc" }}|{{ len .Cluster.metadata.annotations }}'),
    ("index", '{{ index .Values.list 1 }}|{{ index .Values "nested" "x" | toJson }}|{{ index .Values.nested "zz" }}'),
    ("index out of range is an error", '{{ index .Values.list 5 }}'),
    ("strings tests", '{{ hasPrefix "external-dns" "external-dns-aws-credentials" }}|{{ hasSuffix "x" "ab" }}|'
                      '{{ contains "dns" "external-dns" }}|{{ toString 5 }}|{{ toString true }}'),
]
ERRORS = ["missing key is an error", "ternary wants a bool", "eq of incompatible types is an error",
          "index out of range is an error"]


@pytest.fixture(scope="module")
def oracle():
    if not ORACLE.exists():
        pytest.fail(f"{ORACLE} is missing: run make setup (kofsim/realsprig/build.sh builds it from Go modules)")

    def run(cases):
        proc = subprocess.run([str(ORACLE)], input=json.dumps([{"template": t, "data": DATA} for t in cases]),
                              capture_output=True, text=True, check=True, timeout=60)
        return json.loads(proc.stdout)
    return run


def test_kofsim_renders_what_go_and_sprig_render(oracle):
    answers = oracle([t for _name, t in CASES])
    differ = []
    for (name, text), want in zip(CASES, answers):
        try:
            got = {"out": gotemplate.render(text, json.loads(json.dumps(DATA)))}
        except gotemplate.TemplateError as err:
            got = {"error": str(err)}
        if ("error" in want) != ("error" in got) or got.get("out") != want.get("out"):
            differ.append((name, text, want, got))
    # every case renders except those meant to fail: a case both sides refuse by accident would compare nothing
    assert [name for (name, _t), want in zip(CASES, answers) if "error" in want] == ERRORS
    assert not differ, "\n".join(f"{n}: {t}\n  go+sprig: {w}\n  kofsim:   {g}" for n, t, w, g in differ)
