#!/usr/bin/env bash
# Builds kof-gotemplate (main.go: Go's text/template with sprig v3.3.0 and mergo v1.0.2, the versions kcm v1.10.0
# pins), the oracle kofsim's Go-template evaluator is compared with (kofsim/tests/test_gotemplate_sprig.py), into
# .tools/sprig/bin from the Go module proxy only (go.sum hashes every module). Skipped when the stamp (sha256 of
# go.mod, go.sum, main.go, this script, ../gobuild.sh and `go version`) is unchanged. FORCE=1 rebuilds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../gobuild.sh"
gobuild_init realsprig
OUT="${KOF_SPRIG_DIR:-$ROOT/.tools/sprig}"

stamp="$(inputs_stamp build.sh go.mod go.sum main.go)"
if up_to_date "$OUT" "$stamp" kof-gotemplate; then
  log "kof-gotemplate up to date"
  exit 0
fi
start=$(date +%s)
mkdir -p "$OUT/bin"
rm -f "$OUT/.stamp"
go build -trimpath -ldflags "-s -w" -o "$OUT/bin/kof-gotemplate" .
echo "$stamp" > "$OUT/.stamp"
log "kof-gotemplate built in $(($(date +%s) - start)) s (sprig $(go list -m -f '{{.Version}}' github.com/Masterminds/sprig/v3), mergo $(go list -m -f '{{.Version}}' dario.cat/mergo))"
