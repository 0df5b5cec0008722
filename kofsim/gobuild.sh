#!/usr/bin/env bash
# What kofsim's builds of real components from Go modules share (sourced by realkube/, realvm/ and realsprig/
# build.sh; not run on its own): the Go settings - the Go module proxy only, go.sum verified, no cgo, no VCS
# stamping -, a tagged log, the stamp of a build's inputs and the skip while nothing changed.
#   gobuild_init TAG       the caller's directory as HERE (and the working directory), ROOT, log(), the go check
#   inputs_stamp FILE...   sha256 over `go version`, this file and FILE... (relative to HERE)
#   up_to_date DIR STAMP BIN...  true unless FORCE=1, when every DIR/bin/BIN is executable and DIR/.stamp is STAMP
GOBUILD_SH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gobuild.sh"

gobuild_init() {
  GOBUILD_TAG="$1"
  HERE="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
  ROOT="$(cd "$HERE/../.." && pwd)"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
  command -v go >/dev/null || { echo "$GOBUILD_TAG: the go command is required" >&2; exit 1; }
  cd "$HERE"
}

log() { printf '[%s] %s\n' "$GOBUILD_TAG" "$*"; }

inputs_stamp() {
  { go version; sha256sum "$GOBUILD_SH" "$@"; } | sha256sum | cut -d' ' -f1
}

up_to_date() {
  local dir="$1" stamp="$2" b
  shift 2
  [ "${FORCE:-0}" != 1 ] || return 1
  for b in "$@"; do [ -x "$dir/bin/$b" ] || return 1; done
  [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]
}
