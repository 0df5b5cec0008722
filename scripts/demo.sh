#!/usr/bin/env bash
# make demo: the full KOF rollout (playbooks/site.yml) against the embedded local target — a kofsim
# management cluster with simulated k0rdent — then the fleet report. Leaves nothing running.
# KOF_API=real (make demo KOF_API=real): the same on a real kube-apiserver (kofsim up --api real: the simulated
# k0rdent as controllers against it, a real kube-apiserver per workload cluster).
# KOF_VERSION=1.10.0 (make demo KOF_VERSION=1.10.0): the KOF 1.x flow - kofsim serves kcm 1.x (v1beta1, Flux, the
# MultiClusterService controller, kof-operator) and the same inventory installs the umbrella kof chart.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/kof-demo.XXXXXX")"
OUT="${KOF_DEMO_OUT:-$ROOT/out}"
cleanup() {
  python3 "$ROOT/kofsim/realvm/kofvm.py" down --dir "$STATE/vm" >/dev/null 2>&1 || true
  kofsim down --dir "$STATE/kofsim" >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

KOF_API="${KOF_API:-emulator}"
KOF_VERSION="${KOF_VERSION:-0.1.1}"
case "$KOF_VERSION" in
  0.*) role_label='kof'; cost_label=clusterName ;;
  *) export KOFSIM_KCM_API_VERSION=v1beta1; role_label='k0rdent\.mirantis\.com/kof-cluster-role'; cost_label=cluster
     if [ "$KOF_API" = real ]; then
       echo "make demo KOF_API=real KOF_VERSION=$KOF_VERSION: the real-API backend runs kcm 0.1 (KOF 0.1.1) only so far" >&2
       exit 2
     fi ;;
esac
if [ "$KOF_API" = real ]; then
  echo "==> starting a real kube-apiserver with kofsim's simulated k0rdent (kofsim up --api real)"
  kofsim up --api real --dir "$STATE/kofsim" --ready-after "${KOF_DEMO_READY_AFTER:-0}" >/dev/null
else
  echo "==> starting kofsim (simulated k0rdent management cluster)"
  kofsim up --dir "$STATE/kofsim" --ready-after "${KOF_DEMO_READY_AFTER:-3}" >/dev/null
fi
export K8S_AUTH_KUBECONFIG="$STATE/kofsim/kubeconfig"
echo "    API $(grep -m1 'server:' "$K8S_AUTH_KUBECONFIG" | awk '{print $2}')"

echo "==> ansible-playbook -i inventories/local playbooks/site.yml -e kof_version=$KOF_VERSION"
start=$(date +%s)
rc=0
ansible-playbook -i inventories/local playbooks/site.yml -e "kof_version=$KOF_VERSION" -e "kof_report_dir=$OUT" "$@" || rc=$?
end=$(date +%s)

echo
echo "==> deployed on the management cluster"
kubectl --kubeconfig "$K8S_AUTH_KUBECONFIG" get clusterdeployments -n kcm-system \
  -o custom-columns="CLUSTER:.metadata.name,ROLE:.metadata.labels.$role_label,"'READY:.status.conditions[?(@.type=="Ready")].status,TEMPLATE:.spec.template' 2>/dev/null || true
helm --kubeconfig "$K8S_AUTH_KUBECONFIG" list -n kof 2>/dev/null || true
echo
if [ -f "$OUT/fleet-report.md" ]; then
  echo "==> fleet report ($OUT/fleet-report.{md,json,html})"
  cat "$OUT/fleet-report.md"
fi
echo "==> site.yml finished in $((end - start))s with exit code $rc"
[ "$rc" = 0 ] || exit $rc

# FinOps: kofsim's pods run nothing, so promxy's Service answers from a real VictoriaMetrics (kofsim/realvm) loaded
# with 30 days of OpenCost series for the demo's children; cost_report.yml reads it through the API server's
# service proxy, as on a real management cluster. The real backend proxies only to real endpoints: skipped there.
if [ "$KOF_API" = real ]; then
  echo "==> cost report: skipped on the real backend (its service proxy needs a real promxy pod)"
  exit 0
fi
children="$(ansible-inventory -i inventories/local --list | python3 -c '
import json, sys
inv = json.load(sys.stdin)
hv = inv.get("_meta", {}).get("hostvars", {})
def hosts(g):
    return inv.get(g, {}).get("hosts", []) + [h for c in inv.get(g, {}).get("children", []) for h in hosts(c)]
print(",".join(h + "=" + hv[h]["kof_regional"] for h in hosts("kof_child")))')"
echo "==> FinOps: VictoriaMetrics with 30 days of OpenCost series for $children behind kof/kof-mothership-promxy"
vm_url="$(python3 "$ROOT/kofsim/realvm/kofvm.py" up --dir "$STATE/vm" --clusters "$children" --label "$cost_label")"
kofsim expose --dir "$STATE/kofsim" kof/kof-mothership-promxy:8082 "$vm_url"
echo "==> ansible-playbook -i inventories/local playbooks/cost_report.yml"
# two monthly budgets per namespace: the report shows their spend, the budget alert rules go to kof's VMRule
ansible-playbook -i inventories/local playbooks/cost_report.yml -e "kof_version=$KOF_VERSION" -e "kof_report_dir=$OUT" \
  -e '{"kof_budgets": [{"namespace": "ml", "amount": 500}, {"namespace": "shop", "amount": 1000}]}' || exit $?
kubectl --kubeconfig "$K8S_AUTH_KUBECONFIG" get vmrules -A 2>/dev/null || true
if [ -f "$OUT/cost-report.md" ]; then
  echo "==> cost report ($OUT/cost-report.{md,csv,json,html})"
  cat "$OUT/cost-report.md"
fi
