#!/usr/bin/env bash
# Builds the real control plane for `kofsim up --api real` from Go modules (the Go module proxy only):
#   .tools/kube/bin/{etcd,kube-apiserver,kube-controller-manager}   go.mod pins the versions (see pin.sh)
#   .tools/kube/crds/<component>/*.yaml, index.json               upstream CRDs (crds/sources.tsv, crds/go.sum)
# Each part is skipped when its stamp is unchanged: the binaries' (sha256 of go.mod, go.sum, the Go sources, this
# script, ../gobuild.sh and `go version`, in .stamp) and the CRDs' (crds/*, this script, ../gobuild.sh and
# `go version`, in crds/.stamp), so a
# new CRD source re-extracts the CRDs (seconds) without relinking. FORCE=1 rebuilds both. Uses the usual
# GOMODCACHE/GOCACHE.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../gobuild.sh"
gobuild_init realkube
OUT="${KOFSIM_KUBE_DIR:-$ROOT/.tools/kube}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3

mapfile -t sources < <(find cmd -name '*.go' -type f | LC_ALL=C sort)
stamp="$(inputs_stamp build.sh go.mod go.sum "${sources[@]}")"
crds_stamp="$(inputs_stamp build.sh crds/go.mod crds/go.sum crds/sources.tsv crds/extract.py)"
crds() {
  if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT/crds/index.json" ] && [ "$(cat "$OUT/crds/.stamp" 2>/dev/null)" = "$crds_stamp" ]; then
    return 0
  fi
  local t0; t0=$(date +%s)
  "$PY" crds/extract.py "$OUT/crds"
  echo "$crds_stamp" > "$OUT/crds/.stamp"
  log "CRDs extracted in $(($(date +%s) - t0)) s"
}
bins=(etcd kube-apiserver kube-controller-manager)
if up_to_date "$OUT" "$stamp" "${bins[@]}"; then
  crds
  log "control plane up to date ($("$OUT/bin/kube-apiserver" --version 2>/dev/null), etcd $("$OUT/bin/etcd" --version 2>/dev/null | awk 'NR==1{print $3}'))"
  exit 0
fi

start=$(date +%s)
k8s="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
minor="${k8s#v1.}"; minor="${minor%%.*}"
# The release's commit time, from the proxy's .info, is the build date: the same inputs give the same binary.
info="$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p')"
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date"
done
log "building kube-apiserver, kube-controller-manager $k8s and etcd $etcd (CGO_ENABLED=0, $(nproc) cores)"
mkdir -p "$OUT/bin"
rm -f "$OUT/.stamp"
go build -trimpath -ldflags "$ldflags" -o "$OUT/bin/" ./cmd/etcd ./cmd/kube-apiserver ./cmd/kube-controller-manager
built=$(date +%s)
log "binaries built in $((built - start)) s: $(cd "$OUT/bin" && du -m "${bins[@]}" | awk '{printf "%s %s MB  ", $2, $1}')"
echo "$stamp" > "$OUT/.stamp"
crds
log "done in $(($(date +%s) - start)) s: $("$OUT/bin/kube-apiserver" --version)"
