#!/usr/bin/env bash
# Builds real VictoriaMetrics single-node and vmalert for the FinOps tests from their Go module (the Go module
# proxy only): .tools/vm/bin/{victoria-metrics,vmalert}. go.mod pins github.com/VictoriaMetrics/VictoriaMetrics
# (tool directives; go.sum hashes every module). promxy is not built: the proxy refuses github.com/jacksontj/promxy
# (403 "This module version is not available", v0.0.95 and every other version), see README.md.
# Skipped when the stamp (sha256 of go.mod, go.sum, this script and `go version`) is unchanged. FORCE=1 rebuilds.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${KOF_VM_DIR:-$ROOT/.tools/vm}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
log() { printf '[realvm] %s\n' "$*"; }
command -v go >/dev/null || { echo "realvm: the go command is required" >&2; exit 1; }

cd "$HERE"
stamp="$( { go version; sha256sum build.sh go.mod go.sum; } | sha256sum | cut -d' ' -f1)"
bins=(victoria-metrics vmalert)
have_all=1
for b in "${bins[@]}"; do [ -x "$OUT/bin/$b" ] || have_all=0; done
if [ "${FORCE:-0}" != 1 ] && [ "$have_all" = 1 ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "VictoriaMetrics up to date ($("$OUT/bin/victoria-metrics" -version 2>/dev/null))"
  exit 0
fi
start=$(date +%s)
vm="$(go list -m -f '{{.Version}}' github.com/VictoriaMetrics/VictoriaMetrics)"
# VictoriaMetrics' own version string (lib/buildinfo), as its Makefile sets it for a release build.
ldflags="-s -w -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-metrics-$vm"
log "building victoria-metrics and vmalert $vm (CGO_ENABLED=0, $(nproc) cores)"
mkdir -p "$OUT/bin"
rm -f "$OUT/.stamp"
go build -trimpath -ldflags "$ldflags" -o "$OUT/bin/" \
  github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert
echo "$stamp" > "$OUT/.stamp"
log "done in $(($(date +%s) - start)) s: $(cd "$OUT/bin" && du -m "${bins[@]}" | awk '{printf "%s %s MB  ", $2, $1}')"
