"""The dns role's AWS paths (the guide's "DNS auto-config"): real ansible-playbook runs of playbooks/dns.yml,
amazon.aws against a local moto server, the Secret on kofsim."""
from __future__ import annotations

import base64
import json
import re

from tests.moto_server import ACCOUNT_ID

POLICY_ARN = f"arn:aws:iam::{ACCOUNT_ID}:policy/AllowExternalDNSUpdates"
SECRET = ("kof", "external-dns-aws-credentials")
# The policy document of the guide, step 1
GUIDE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets"], "Resource": ["arn:aws:route53:::hostedzone/*"]},
    {"Effect": "Allow", "Action": ["route53:ListHostedZones", "route53:ListResourceRecordSets",
                                   "route53:ListTagsForResource"], "Resource": ["*"]}]}
NODE_ROLE = "nodes.cluster-api-provider-aws.sigs.k8s.io"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def policy_document(iam, arn=POLICY_ARN) -> dict:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(doc) if isinstance(doc, str) else doc


def secret_ini(dns) -> dict:
    """The Secret's ini file as {key: value}, or {} when the Secret does not exist."""
    sec = dns.secret(*SECRET)
    if sec is None:
        return {}
    assert list(sec["data"]) == ["external-dns-aws-credentials"], sec["data"].keys()
    text = base64.b64decode(sec["data"]["external-dns-aws-credentials"]).decode()
    assert text.startswith("[default]\n"), "not the ini format external-dns reads"
    return dict(re.findall(r"^(\w+) = (\S+)$", text, re.M))


def key_ids(iam, user="external-dns") -> list[str]:
    return [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]


def iam_state(iam) -> tuple:
    return ([u["UserName"] for u in iam.list_users()["Users"]],
            [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]])


def test_static_credentials_check_first_run_rerun_rotation(dns):
    iam = dns.moto.client("iam")
    mode = {"kof_dns_mode": "static_credentials"}

    # --check --diff on a fresh account and cluster: predicts the changes, creates nothing anywhere
    seq = dns.k.last_seq()
    check = dns.play("dns.yml", "--check", "--diff", **mode)
    assert check.rc == 0, check
    assert check.recap["mothership"]["changed"] >= 4, check  # policy, user, key, Secret (and the namespace)
    assert "Would store a new access key of IAM user external-dns" in check.stdout
    assert dns.k.writes(since=seq) == []
    assert iam_state(iam) == ([], [])

    # first run, at -vvv with --diff: the guide's policy, the user with it attached, one key, the Secret with it
    seq = dns.k.last_seq()
    first = dns.play("dns.yml", "-vvv", "--diff", **mode)
    assert first.rc == 0, first
    assert first.recap["mothership"]["changed"] == check.recap["mothership"]["changed"], (check, first)
    assert policy_document(iam) == GUIDE_POLICY
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="external-dns")["AttachedPolicies"]] \
        == [POLICY_ARN]
    keys = key_ids(iam)
    ini = secret_ini(dns)
    assert len(keys) == 1 and ini["aws_access_key_id"] == keys[0]
    assert len(ini["aws_secret_access_key"]) >= 20
    assert dns.secret(*SECRET)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "k0rdent.kof"
    assert {(w["method"], w["path"].rsplit("/", 1)[-1]) for w in dns.k.writes(since=seq)} == \
        {("POST", "namespaces"), ("POST", "secrets")}
    # the secret access key never reaches the output, not even at -vvv with --diff
    out = first.stdout + first.stderr
    assert ini["aws_secret_access_key"] not in out
    assert dns.secret(*SECRET)["data"]["external-dns-aws-credentials"] not in out
    assert keys[0] in out  # the key ID is reported (an identifier, not a secret)

    # second run: nothing changes, no write to the cluster, the key is kept
    seq = dns.k.last_seq()
    second = dns.play("dns.yml", **mode)
    assert second.rc == 0 and second.changed == 0, second
    assert dns.k.writes(since=seq) == []
    assert key_ids(iam) == keys and secret_ini(dns) == ini

    # explicit rotation: a new key in the Secret, the previous one deleted, the new secret not in the output
    rotated = dns.play("dns.yml", "-vvv", kof_dns_rotate_access_key=True, **mode)
    assert rotated.rc == 0, rotated
    new_ini = secret_ini(dns)
    assert new_ini["aws_access_key_id"] != ini["aws_access_key_id"]
    assert key_ids(iam) == [new_ini["aws_access_key_id"]]
    assert new_ini["aws_secret_access_key"] not in rotated.stdout + rotated.stderr


def test_static_credentials_recovers_a_lost_secret_and_removes_with_confirmation(dns):
    """Removal without the confirmation fails before any change: test_bad_input_fails_before_any_change."""
    iam = dns.moto.client("iam")
    mode = {"kof_dns_mode": "static_credentials"}
    assert dns.play("dns.yml", **mode).rc == 0
    old_key = key_ids(iam)

    # the Secret is lost: its key can never be read again, so a new key replaces it and the orphan is deleted
    dns.k.call("DELETE", "/api/v1/namespaces/kof/secrets/external-dns-aws-credentials")
    recovered = dns.play("dns.yml", **mode)
    assert recovered.rc == 0, recovered
    assert key_ids(iam) == [secret_ini(dns)["aws_access_key_id"]] != old_key

    # confirmed removal (a survey's string "true" is a boolean too): Secret, user with its key, policy gone
    removed = dns.play("dns.yml", kof_dns_state="absent", kof_dns_remove_confirm="true", **mode)
    assert removed.rc == 0 and removed.changed == 3, removed
    assert dns.secret(*SECRET) is None and iam_state(iam) == ([], [])


def test_node_role_attaches_the_policy_to_an_existing_role(dns):
    """Removal (iam_managed_policy absent detaches the policy first) is exercised in static credentials mode."""
    iam = dns.moto.client("iam")
    iam.create_role(RoleName=NODE_ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    other = iam.create_policy(PolicyName="other", PolicyDocument=json.dumps(GUIDE_POLICY))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=NODE_ROLE, PolicyArn=other)
    zone_a = dns.moto.client("route53").create_hosted_zone(Name="kof.example.com", CallerReference="a")
    zone_id = zone_a["HostedZone"]["Id"].rsplit("/", 1)[-1]
    mode = {"kof_dns_mode": "node_role", "kof_dns_node_role_name": f"arn:aws:iam::{ACCOUNT_ID}:role/{NODE_ROLE}",
            "kof_dns_hosted_zone_ids": f"/hostedzone/{zone_id}"}  # an AWX survey answer: a string

    seq = dns.k.last_seq()
    first = dns.play("dns.yml", **mode)
    assert first.rc == 0, first
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=NODE_ROLE)["AttachedPolicies"]}
    assert attached == {POLICY_ARN, other}  # others kept
    doc = policy_document(iam)
    assert doc["Statement"][0]["Resource"] == [f"arn:aws:route53:::hostedzone/{zone_id}"]  # restricted
    assert doc["Statement"][1] == GUIDE_POLICY["Statement"][1]
    role = iam.get_role(RoleName=NODE_ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST or json.loads(role["AssumeRolePolicyDocument"]) == TRUST
    assert iam.list_instance_profiles()["InstanceProfiles"] == [] and iam.list_users()["Users"] == []
    assert dns.k.writes(since=seq) == [] and dns.secret(*SECRET) is None  # no credentials in this mode

    second = dns.play("dns.yml", **mode)
    assert second.rc == 0 and second.changed == 0, second



def test_bad_input_fails_before_any_change_naming_each_variable(dns):
    iam = dns.moto.client("iam")
    seq = dns.k.last_seq()
    bad = dns.play("dns.yml", kof_dns_mode="node_role", kof_dns_state="absent",
                   kof_dns_hosted_zone_ids=["Z123", "not-a-zone"], kof_dns_route53_zone_id="zz",
                   kof_dns_route53_zone="example.org", kof_dns_record_prefixes=["vmauth", "Grafana"],
                   kof_dns_aws_endpoint_url="ftp://nowhere", kof_dns_iam_user_name="bad user")
    assert bad.rc != 0, bad
    for expected in ("kof_dns_remove_confirm", "kof_dns_hosted_zone_ids: not-a-zone",
                     "kof_dns_mode=node_role needs kof_dns_node_role_name", "kof_dns_route53_zone_id \"zz\"",
                     "kof_dns_route53_zone or kof_dns_route53_zone_id, not both", "kof_dns_record_prefixes",
                     "kof_dns_aws_endpoint_url", "kof_dns_iam_user_name"):
        assert expected in " ".join((bad.stdout + bad.stderr).split()), expected
    assert dns.k.requests(since=seq) == []  # not even a read
    assert iam_state(iam) == ([], [])

    # a node role that does not exist: named in the message, looked up before anything is created
    missing = dns.play("dns.yml", kof_dns_mode="node_role", kof_dns_node_role_name="no-such-role")
    assert missing.rc != 0 and "IAM role no-such-role does not exist" in " ".join(missing.stdout.split()), missing
    assert iam_state(iam) == ([], []) and iam.list_roles()["Roles"] == []
