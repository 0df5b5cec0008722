"""Manual DNS (the guide's "Manual DNS config"): playbooks/dns_records.yml reads each regional cluster's
ingress-nginx address through its kubeconfig Secret on kofsim, reports the records and writes them in a moto
Route53 zone. In the first test cloud1-region2's ingress-nginx never deploys (kofsim scenario fail_service): it
is reported pending and fails, alone, after cloud1-region1's records were written."""
from __future__ import annotations

import json

from tests.helpers import flat
from tests.integration.dns.conftest import create_regional_clusters

ZONE = "kof.example.com"
FAST = {"kof_dns_address_timeout": 2, "kof_dns_address_interval": 1}


def zone_records(route53, zone_id) -> dict:
    """{(name, type): [values]} of the zone, without its own NS and SOA."""
    sets = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {(s["Name"].rstrip("."), s["Type"]): sorted(r["Value"] for r in s.get("ResourceRecords", []))
            for s in sets if s["Type"] not in ("NS", "SOA")}


def test_manual_records_reported_written_in_route53_idempotent_and_removed(dns):
    route53 = dns.moto.client("route53")
    zone_id = route53.create_hosted_zone(Name=ZONE, CallerReference="kof")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    dns.k.scenario(fail_service={"cloud1-region2": ["ingress-nginx"]})
    lb = create_regional_clusters(dns, ["cloud1-region1", "cloud1-region2"], wait_for_address=["cloud1-region1"])
    expected = {(f"{p}.{c}.{ZONE}", "CNAME"): [lb[c]] for c in lb for p in ("vmauth", "grafana")}
    route53_vars = dict(FAST, kof_dns_route53_zone=ZONE)

    # --check: the table predicts the writes; nothing written in Route53, no request but reads, no report file
    seq = dns.k.last_seq()
    check = dns.play("dns_records.yml", "--check", "--diff", **route53_vars)
    assert check.rc == 0, check  # a check run reports the missing address, it does not fail on it
    for (name, _), (value,) in expected.items():
        assert any(name in line and value in line and line.rstrip().endswith("to write")
                   for line in check.stdout.splitlines()), (name, check.stdout[-3000:])
    assert "cloud1-region2: Service ingress-nginx/ingress-nginx-controller does not exist" in flat(check.stdout)
    assert zone_records(route53, zone_id) == {}
    assert dns.k.writes(since=seq) == [] and not dns.report_dir.exists()

    # first run at -vvv: the CNAMEs of the ready region written; region2 fails alone, with its reason
    first = dns.play("dns_records.yml", "-vvv", **route53_vars)
    assert first.rc != 0 and first.failed_hosts == ["cloud1-region2"], first
    assert zone_records(route53, zone_id) == expected
    assert "cloud1-region2: no DNS records: Service ingress-nginx/ingress-nginx-controller does not exist after 2s" \
        in flat(first.stdout)
    report = json.loads((dns.report_dir / "dns-records.json").read_text())
    assert report["zone"] == ZONE
    assert {(r["name"], r["type"], r["value"], r["status"]) for r in report["records"]} == \
        {(n, t, v[0], "in Route53") for (n, t), v in expected.items()} | \
        {(f"{p}.cloud1-region2.{ZONE}", None, None, "pending") for p in ("vmauth", "grafana")}
    markdown = (dns.report_dir / "dns-records.md").read_text()
    assert f"| cloud1-region1 | `vmauth.cloud1-region1.{ZONE}` | CNAME | `{lb['cloud1-region1']}` |" in markdown
    assert "**cloud1-region2**" in markdown
    # the regional clusters' credentials (their kubeconfigs) never reach the output
    for cluster in ("cloud1-region1", "cloud1-region2"):
        assert dns.regional_token(cluster) not in first.stdout + first.stderr

    # second run: nothing changes (Route53, report files), no write on any cluster
    seq = dns.k.last_seq()
    second = dns.play("dns_records.yml", **route53_vars)
    assert second.changed == 0 and second.failed_hosts == ["cloud1-region2"], second
    assert dns.k.writes(since=seq) == [] and zone_records(route53, zone_id) == expected

    # removal, confirmed: the records of every region are deleted, whatever they point to
    removed = dns.play("dns_records.yml", kof_dns_state="absent", kof_dns_remove_confirm=True, **route53_vars)
    assert removed.rc == 0, removed
    assert zone_records(route53, zone_id) == {}


def test_manual_records_without_route53_are_reported_only(dns):
    lb = create_regional_clusters(dns, ["cloud1-region1", "cloud1-region2"],
                                  wait_for_address=["cloud1-region1", "cloud1-region2"])
    run = dns.play("dns_records.yml", **FAST)
    assert run.rc == 0, run
    assert "No Route53 zone configured (kof_dns_route53_zone): create these records in your DNS" in flat(run.stdout)
    report = json.loads((dns.report_dir / "dns-records.json").read_text())
    assert report["zone"] is None
    assert sorted((r["name"], r["type"], r["value"], r["status"]) for r in report["records"]) == sorted(
        (f"{p}.{c}.{ZONE}", "CNAME", lb[c], "to create") for c in lb for p in ("vmauth", "grafana"))
    # written as every KOF report is (k0rdent.kof.report_files): the stable names and a timestamped copy of each
    # change; an unchanged re-run writes nothing
    stamped = sorted(p.name for p in dns.report_dir.glob("dns-records-*"))
    assert sorted(n.rsplit(".", 1)[1] for n in stamped) == ["json", "md"], stamped
    again = dns.play("dns_records.yml", **FAST)
    assert again.rc == 0 and again.changed == 0, again
    assert sorted(p.name for p in dns.report_dir.glob("dns-records-*")) == stamped
