#!/usr/bin/env bash
# Builds real VictoriaMetrics single-node and vmalert for the FinOps tests, and VictoriaLogs single-node, from their
# Go modules (the Go module proxy only): .tools/vm/bin/{victoria-metrics,vmalert,victoria-logs}. go.mod pins
# github.com/VictoriaMetrics/VictoriaMetrics and github.com/VictoriaMetrics/VictoriaLogs (tool directives; go.sum
# hashes every module). promxy is not built: the proxy refuses github.com/jacksontj/promxy
# (403 "This module version is not available", v0.0.95 and every other version), see README.md.
# Skipped when the stamp (sha256 of go.mod, go.sum, this script, ../gobuild.sh and `go version`) is unchanged. FORCE=1 rebuilds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../gobuild.sh"
gobuild_init realvm
OUT="${KOF_VM_DIR:-$ROOT/.tools/vm}"

stamp="$(inputs_stamp build.sh go.mod go.sum)"
bins=(victoria-metrics vmalert victoria-logs)
if up_to_date "$OUT" "$stamp" "${bins[@]}"; then
  log "VictoriaMetrics and VictoriaLogs up to date ($("$OUT/bin/victoria-metrics" -version 2>/dev/null), $("$OUT/bin/victoria-logs" -version 2>/dev/null))"
  exit 0
fi
start=$(date +%s)
vm="$(go list -m -f '{{.Version}}' github.com/VictoriaMetrics/VictoriaMetrics)"
vl="$(go list -m -f '{{.Version}}' github.com/VictoriaMetrics/VictoriaLogs)"
# The apps' own version string (lib/buildinfo.Version of the VictoriaMetrics module, which VictoriaLogs uses too),
# as their Makefiles set it for a release build. One variable for both modules: one `go build` per version string.
buildinfo=github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version
log "building victoria-metrics and vmalert $vm, victoria-logs $vl (CGO_ENABLED=0, $(nproc) cores)"
mkdir -p "$OUT/bin"
rm -f "$OUT/.stamp"
go build -trimpath -ldflags "-s -w -X $buildinfo=victoria-metrics-$vm" -o "$OUT/bin/" \
  github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert
go build -trimpath -ldflags "-s -w -X $buildinfo=victoria-logs-$vl" -o "$OUT/bin/" \
  github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs
echo "$stamp" > "$OUT/.stamp"
log "done in $(($(date +%s) - start)) s: $(cd "$OUT/bin" && du -m "${bins[@]}" | awk '{printf "%s %s MB  ", $2, $1}')"
