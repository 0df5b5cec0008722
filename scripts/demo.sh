#!/usr/bin/env bash
# make demo: the full KOF rollout (playbooks/site.yml) against the embedded local target — a kofsim
# management cluster with simulated k0rdent — then the fleet report. Leaves nothing running.
# KOF_API=real (make demo KOF_API=real): the same on a real kube-apiserver (kofsim up --api real: the simulated
# k0rdent as controllers against it, a real kube-apiserver per workload cluster).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/kof-demo.XXXXXX")"
OUT="${KOF_DEMO_OUT:-$ROOT/out}"
cleanup() { kofsim down --dir "$STATE/kofsim" >/dev/null 2>&1 || true; rm -rf "$STATE"; }
trap cleanup EXIT

KOF_API="${KOF_API:-emulator}"
if [ "$KOF_API" = real ]; then
  echo "==> starting a real kube-apiserver with kofsim's simulated k0rdent (kofsim up --api real)"
  kofsim up --api real --dir "$STATE/kofsim" --ready-after "${KOF_DEMO_READY_AFTER:-0}" >/dev/null
else
  echo "==> starting kofsim (simulated k0rdent management cluster)"
  kofsim up --dir "$STATE/kofsim" --ready-after "${KOF_DEMO_READY_AFTER:-3}" >/dev/null
fi
export K8S_AUTH_KUBECONFIG="$STATE/kofsim/kubeconfig"
echo "    API $(grep -m1 'server:' "$K8S_AUTH_KUBECONFIG" | awk '{print $2}')"

echo "==> ansible-playbook -i inventories/local playbooks/site.yml"
start=$(date +%s)
rc=0
ansible-playbook -i inventories/local playbooks/site.yml -e "kof_report_dir=$OUT" "$@" || rc=$?
end=$(date +%s)

echo
echo "==> deployed on the management cluster"
kubectl --kubeconfig "$K8S_AUTH_KUBECONFIG" get clusterdeployments -n kcm-system \
  -o custom-columns='CLUSTER:.metadata.name,ROLE:.metadata.labels.kof,READY:.status.conditions[?(@.type=="Ready")].status,TEMPLATE:.spec.template' 2>/dev/null || true
helm --kubeconfig "$K8S_AUTH_KUBECONFIG" list -n kof 2>/dev/null || true
echo
if [ -f "$OUT/fleet-report.md" ]; then
  echo "==> fleet report ($OUT/fleet-report.{md,json,html})"
  cat "$OUT/fleet-report.md"
fi
echo "==> site.yml finished in $((end - start))s with exit code $rc"
exit $rc
