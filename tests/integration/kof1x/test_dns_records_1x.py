"""Manual DNS on KOF 1.10 (docs admin/kof kof-verification, "Manual DNS config": `kubectl get gateway -n kof
gateway`, then an A record for vmauth.$REGIONAL_DOMAIN pointing to its ADDRESS), on kofsim serving kcm 1.x with
a moto Route53 zone. site.yml with kof_dns_mode=manual: after the regional tier, dns_records.yml reads each
regional cluster's Gateway - made by kof-storage, published by envoy-gateway, whose address is the load balancer
of the proxy Service (kofsim's envoy-gateway stand-in) - through the cluster's kubeconfig Secret (the regional
lives in its own namespace here), writes vmauth.<domain> in Route53 (no grafana record: kof-storage 1.x runs no
Grafana by default) and leaves out the regional that is only a ConfigMap. A re-run changes nothing, --check
predicts nothing; with ingress-nginx kept instead of Envoy Gateway the record follows ingress-nginx's load
balancer; removal deletes the records. Then the same fleet moves to external-dns: static credentials (the Secret
copied to the regional cluster by kof-mothership's kcm.kof.mcs MultiClusterService and mounted by kof-storage's
external-dns), then the node IAM role (no mount, the cluster's region)."""
from __future__ import annotations

import base64
import json

import pytest

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.dns.test_dns_records import zone_records
from tests.integration.kof1x import changes_nothing, flat, kubectl_json, tenant_namespace
from tests.integration.tiers.conftest import write_inventory
from tests.moto_server import ACCOUNT_ID, MotoServer

ZONE = "obs.example.net"
HOSTED = {"metrics_read": "https://vm.hosted.example.net/select/0/prometheus",
          "metrics_write": "https://vm.hosted.example.net/insert/0/prometheus/api/v1/write"}
HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"ops": None}},
    "kof_regional": {"hosts": {
        "eu-store": {"kof_regional_region": "eu-west-1", "kof_kcm_namespace": "kof-eu"},
        "us-hosted": {"kof_regional_region": "us-east-1", "kof_regional_configmap_only": True,
                      "kof_regional_endpoints": HOSTED}}},
    "kof_child": {"hosts": {"eu-web": {"kof_regional": "eu-store", "kof_kcm_namespace": "kof-eu"}}}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-dns-1x"), ready_after=0.3, kcm_api_version="v1beta1")
    with MotoServer() as moto:
        k.start()
        try:
            env = tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
            for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
                env.pop(var, None)
            env.update({key: value for key, value in moto.env().items() if key != "AWS_DEFAULT_REGION"})
            route53 = moto.client("route53")
            zone_id = route53.create_hosted_zone(Name=ZONE, CallerReference="kof-1x")["HostedZone"]["Id"]
            report = tmp_path_factory.mktemp("report")
            gv = {"kof_chart_repository": str(ROOT / "kofsim" / "kofsim" / "charts-1.10"),
                  "kof_base_domain": ZONE, "kof_admin_email": "noc@example.net", "kof_dns_mode": "manual",
                  "kof_dns_route53_zone": ZONE, "kof_dns_aws_endpoint_url": moto.url,
                  "kof_verify_timeout": 90, "kof_wait_timeout": 300, "kof_report_dir": str(report)}
            inv = write_inventory(tmp_path_factory.mktemp("inventory"), HOSTS, gv)
            fleet = {"kofsim": k, "env": env, "inv": inv, "route53": route53, "zone_id": zone_id.rsplit("/", 1)[-1],
                     "report": report, "gv": gv, "moto": moto}
            tenant_namespace(fleet, "kof-eu")
            yield fleet
        finally:
            k.stop()


def play(fleet, playbook, *args):
    return ansible_playbook("-i", fleet["inv"], f"playbooks/{playbook}", *args, env=fleet["env"])


def regional_json(fleet, *args, check=True):
    """`kubectl <args> -o json` on eu-store itself, through its kubeconfig Secret (written once to a file);
    check=False: None when kubectl fails."""
    path = fleet["report"].parent / "eu-store.kubeconfig"
    if not path.exists():
        secret = kubectl_json(fleet, "get", "secret", "-n", "kof-eu", "eu-store-kubeconfig")
        path.write_bytes(base64.b64decode(secret["data"]["value"]))
    return kubectl_json(fleet, "--kubeconfig", str(path), *args, check=check)


def gateway_address(fleet):
    """The address envoy-gateway gave eu-store's Gateway kof/gateway, read with the cluster's own kubeconfig."""
    gw = regional_json(fleet, "get", "gateway", "-n", "kof", "gateway")
    return gw["status"]["addresses"][0]["value"]


def test_1_site_writes_the_gateway_record_of_each_regional_cluster(fleet):
    run = play(fleet, "site.yml")
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    address = fleet["gateway_address"] = gateway_address(fleet)
    assert address.endswith(".eu-west-1.elb.amazonaws.com"), address
    # the docs' record, for the regional cluster the collection made; nothing for the one that is only a ConfigMap
    assert zone_records(fleet["route53"], fleet["zone_id"]) == {(f"vmauth.eu-store.{ZONE}", "CNAME"): [address]}
    report = json.loads((fleet["report"] / "dns-records.json").read_text())
    assert [(r["cluster"], r["name"], r["value"], r["status"]) for r in report["records"]] == [
        ("eu-store", f"vmauth.eu-store.{ZONE}", address, "in Route53")]
    assert "Gateway kof/gateway" in flat(run.stdout)


def test_2_rerun_and_check_change_nothing(fleet):
    changes_nothing(fleet, lambda: play(fleet, "site.yml"))
    records = zone_records(fleet["route53"], fleet["zone_id"])
    check = changes_nothing(fleet, lambda: play(fleet, "dns_records.yml", "--check", "--diff"))
    # the management host's play has records only in regionless mode (test_regionless_1x): here it ends at once
    assert sorted(check.recap) == ["eu-store", "ops", "us-hosted"], check.recap
    assert zone_records(fleet["route53"], fleet["zone_id"]) == records
    assert f"vmauth.eu-store.{ZONE}" in check.stdout and "in place" in check.stdout


def test_3_with_ingress_nginx_kept_the_record_follows_its_load_balancer(fleet):
    """kof_values keeping ingress-nginx instead of Envoy Gateway (the docs' "Upgrade to v1.9.0" alternative):
    kof-regional installs ingress-nginx in its namespace, and the record moves to that Service's load balancer."""
    keep = {"kof-regional": {"values": {"ingress-nginx": {"enabled": True}, "envoy-gateway": {"enabled": False}}}}
    inv = write_inventory(fleet["inv"], HOSTS, dict(fleet["gv"], kof_values=keep))
    run = ansible_playbook("-i", inv, "playbooks/site.yml", env=fleet["env"])
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    assert "Service kof/ingress-nginx-controller" in flat(run.stdout)
    svc = regional_json(fleet, "get", "service", "-n", "kof", "ingress-nginx-controller")
    address = svc["status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert address != fleet["gateway_address"]
    assert zone_records(fleet["route53"], fleet["zone_id"]) == {(f"vmauth.eu-store.{ZONE}", "CNAME"): [address]}


def test_4_removal_deletes_the_records(fleet):
    removed = play(fleet, "dns_records.yml", "-e", "kof_dns_state=absent", "-e", "kof_dns_remove_confirm=true")
    assert removed.rc == 0, removed.stdout[-3000:]
    assert zone_records(fleet["route53"], fleet["zone_id"]) == {}


NODE_ROLE = "nodes.cluster-api-provider-aws.sigs.k8s.io"
DNS_SECRET = "external-dns-aws-credentials"


def external_dns(fleet):
    """eu-store's external-dns: (its container, the volumes of its pod, the phases of its pods)."""
    dep = regional_json(fleet, "get", "deployment", "-n", "kof", "kof-storage-external-dns")
    pod = dep["spec"]["template"]["spec"]
    pods = regional_json(fleet, "get", "pods", "-n", "kof", "-l", "app.kubernetes.io/name=external-dns")["items"]
    return pod["containers"][0], pod.get("volumes", []), [p["status"]["phase"] for p in pods]


def storage_values(fleet):
    cd = kubectl_json(fleet, "get", "clusterdeployment", "-n", "kof-eu", "eu-store")
    return cd["metadata"]["labels"], cd["spec"]["config"]["clusterAnnotations"]


def test_5_static_credentials_external_dns_mounts_the_copied_secret(fleet):
    """kof_dns_mode static_credentials on the running 1.x fleet: dns.yml makes the IAM user, key and the Secret in
    kof; kof-mothership's kcm.kof.mcs gets the kof-aws-dns-secrets entry (a MultiClusterService
    kof-aws-dns-secrets-remote copying the Secret to clusters labelled for it); the regional ClusterDeployment gets
    that label and says external-dns on in its kof-storage values, and external-dns runs on eu-store with the
    chart's credentials mount, the Secret there."""
    run = play(fleet, "site.yml", "-e", "kof_dns_mode=static_credentials")
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    mcs = kubectl_json(fleet, "get", "multiclusterservice", "kof-aws-dns-secrets-remote")
    assert mcs["spec"]["clusterSelector"] == {"matchLabels": {"k0rdent.mirantis.com/kof-aws-dns-secrets": "true"}}
    labels, annotations = storage_values(fleet)
    assert labels["k0rdent.mirantis.com/kof-aws-dns-secrets"] == "true"
    assert "external-dns:\n  enabled: true\n" in annotations["k0rdent.mirantis.com/kof-storage-values"]
    copied = regional_json(fleet, "get", "secret", "-n", "kof", DNS_SECRET)
    assert copied["data"] == kubectl_json(fleet, "get", "secret", "-n", "kof", DNS_SECRET)["data"]
    ctr, volumes, phases = external_dns(fleet)
    assert [e["name"] for e in ctr["env"]] == ["AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION"]
    assert [(v["name"], v["secret"]["secretName"]) for v in volumes] == [("aws-credentials", DNS_SECRET)]
    assert "--provider=aws" in ctr["args"] and "--source=gateway-httproute" in ctr["args"]
    assert phases == ["Running"]
    changes_nothing(fleet, lambda: play(fleet, "site.yml", "-e", "kof_dns_mode=static_credentials"))


def test_6_node_role_external_dns_runs_without_credentials(fleet):
    """kof_dns_mode node_role: the policy on the nodes' IAM role; the regional ClusterDeployment loses the secret
    label, and its kof-storage values drop the credentials mount and file (the annotation's empty lists replace
    the chart's under mergeOverwrite) and give the cluster's region: external-dns runs with the instance role,
    without any Secret. A re-run changes nothing."""
    iam = fleet["moto"].client("iam")
    iam.create_role(RoleName=NODE_ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    mode = ("-e", "kof_dns_mode=node_role", "-e", f"kof_dns_node_role_name=arn:aws:iam::{ACCOUNT_ID}:role/{NODE_ROLE}")
    run = play(fleet, "site.yml", *mode)
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    attached = iam.list_attached_role_policies(RoleName=NODE_ROLE)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AllowExternalDNSUpdates"]
    labels, _ = storage_values(fleet)
    assert "k0rdent.mirantis.com/kof-aws-dns-secrets" not in labels
    assert kubectl_json(fleet, "get", "multiclusterservice", "kof-aws-dns-secrets-remote", check=False) is None
    # the copy MultiClusterService gone, Sveltos uninstalled its kof-propagation service: the copy went with it
    assert regional_json(fleet, "get", "secret", "-n", "kof", DNS_SECRET, check=False) is None
    ctr, volumes, phases = external_dns(fleet)
    assert ctr["env"] == [{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}]
    assert volumes == [] and "volumeMounts" not in ctr
    assert phases == ["Running"]
    changes_nothing(fleet, lambda: play(fleet, "site.yml", *mode))
