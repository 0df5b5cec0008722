"""Check mode and secrets on one fleet (kofsim + moto), in the order an operator lives it.

Every playbook of playbooks/ runs with --check on a state where its real run changes something: kofsim's request
log (and moto's state) must show nothing persisted, then the real run must change exactly the hosts the check run
said, as many times (per-host changed counts of the recap). Every run is at -vvv with --diff; the known secret
values (the credentials kof-mothership generates, the bearer tokens of the management and virtual clusters, the
AWS secret keys of the controller and of the external-dns IAM user, the Sveltos token, the vault password) must
appear in no output, no rendered file, report, DNS report or backup archive: only in the 0600 files the access
playbooks write, and vault-encrypted in a backup that asked for Secrets."""
from __future__ import annotations

import base64
import copy
import json
import secrets as pysecrets

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, bumped_charts, tool_env
from tests.integration.security.conftest import Secrets, file_texts, kubeconfig_with_ca, mode
from tests.integration.tiers.conftest import base_inventory, write_inventory
from tests.moto_server import MotoServer

pytestmark = pytest.mark.slow
CHILDREN = ("all", "children", "kof_child", "children")
DASHBOARD = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDashboard",
             "metadata": {"name": "security-overview", "namespace": "kof"},
             "spec": {"instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                      "json": '{"title": "Security overview", "panels": []}'}}


class Fleet:
    def __init__(self, k: Kofsim, moto: MotoServer, tmp):
        self.k, self.moto, self.tmp = k, moto, tmp
        self.runs: list[tuple[str, object]] = []
        self.secrets = Secrets()
        # the controller's own AWS credentials (an AWX "Amazon Web Services" credential): moto accepts any
        self.controller_aws_secret = pysecrets.token_urlsafe(30)
        self.vault_password = "vault-" + pysecrets.token_hex(12)
        (tmp / "vault-password").write_text(self.vault_password + "\n")
        (tmp / "vault-password").chmod(0o600)
        self.env = tool_env(home=tmp / "home", extra={
            "K8S_AUTH_KUBECONFIG": k.kubeconfig, "AWS_ACCESS_KEY_ID": "AKIACONTROLLER0000001",
            "AWS_SECRET_ACCESS_KEY": self.controller_aws_secret})
        for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_URL", "AWS_SESSION_TOKEN"):
            self.env.pop(var, None)
        self.hosts, self.gv = base_inventory()
        # manual DNS with Route53 records first (site.yml runs dns_records.yml); test_02 moves to static credentials
        self.zone = moto.client("route53").create_hosted_zone(Name="kof.example.com", CallerReference="security")[
            "HostedZone"]["Id"]
        self.gv.update(kof_dns_mode="manual", kof_dns_route53_zone="kof.example.com", kof_dns_aws_endpoint_url=moto.url,
                       kof_report_dir=str(tmp / "report"), kof_access_dir=str(tmp / "access"),
                       kof_backup_dir=str(tmp / "backups"), kof_verify_timeout=60, kof_verify_interval=1)
        self.inv = write_inventory(tmp / "inventory", self.hosts, self.gv)

    def play(self, *items, args=(), inv=None, label=None):
        """ansible-playbook of playbooks/<name>.yml (several in one run; other items are options) at -vvv with
        --diff; the run is kept for the leak scan."""
        books = [f"playbooks/{i}" for i in items if i.endswith(".yml")]
        opts = [i for i in items if not i.endswith(".yml")] + [str(a) for a in args]
        run = ansible_playbook("-i", inv or self.inv, *books, "-vvv", "--diff", *opts, env=self.env, timeout=900)
        self.runs.append((label or " ".join(items + tuple(args)), run))
        (self.tmp / "logs").mkdir(exist_ok=True)  # for the reader of a failure; not scanned (the runs are)
        (self.tmp / "logs" / f"{len(self.runs):02d}.log").write_text(
            f"{' '.join(books + opts)}\n{run.stdout}\n--- stderr\n{run.stderr}")
        return run

    def api_requests(self, since):
        return [r for r in self.k.requests(since) if not r["path"].startswith("/kofsim/")]

    def variant(self, name, mutate=None, **gv):
        hosts = copy.deepcopy(self.hosts)
        if mutate:
            mutate(hosts)
        return write_inventory(self.tmp / name, hosts, dict(self.gv, **gv))

    def get(self, path):
        status, body = self.k.call("GET", path, raw=True)
        return json.loads(body) if status == 200 else None

    def replace(self, path, mutate):
        """GET, change, PUT (kofsim's control client speaks JSON only: no merge patch)."""
        obj = self.get(path)
        mutate(obj)
        self.k.call("PUT", path, obj)

    def secret_data(self, namespace, name) -> dict:
        sec = self.get(f"/api/v1/namespaces/{namespace}/secrets/{name}") or {}
        return {key: base64.b64decode(v).decode() for key, v in (sec.get("data") or {}).items()}

    def collect_secrets(self):
        """Every secret value the fleet holds now (values already known are kept: rotated keys stay secret)."""
        for name in ("storage-vmuser-credentials", "grafana-admin-credentials"):
            for key, value in self.secret_data("kof", name).items():
                self.secrets.add(f"{name}.{key}", value)
        ini = self.secret_data("kof", "external-dns-aws-credentials").get("external-dns-aws-credentials", "")
        keys = dict(line.replace(" ", "").split("=", 1) for line in ini.splitlines() if "=" in line)
        if keys:
            self.secrets.add(f"external-dns secret key of {keys['aws_access_key_id']}", keys["aws_secret_access_key"])
        self.secrets.add("management cluster token", self.k.token)
        self.secrets.add("controller AWS secret key", self.controller_aws_secret)
        self.secrets.add("vault password", self.vault_password)
        for sec in self.get("/api/v1/namespaces/kcm-system/secrets")["items"]:
            name = sec["metadata"]["name"]
            if name.endswith("-kubeconfig"):
                kc = yaml.safe_load(base64.b64decode(sec["data"]["value"]))
                self.secrets.add(f"{name} token", kc["users"][0]["user"]["token"])
        token = self.tmp / "access" / "mothership-sveltos-dashboard.token"
        if token.exists():
            self.secrets.add("Sveltos dashboard token", token.read_text().strip())

    def assert_no_leak(self, runs=None):
        assert len(self.secrets.values) >= 12, sorted(self.secrets.values)
        leaks = [f"{label} {stream}: {hits}" for label, run in (runs or self.runs)
                 for stream in ("stdout", "stderr") if (hits := self.secrets.find(getattr(run, stream)))]
        assert leaks == [], "secret values in the output of\n" + "\n".join(leaks)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    (tmp / "home").mkdir()
    with MotoServer() as moto:
        k = Kofsim(tmp / "kofsim", ready_after=0.3)
        k.start()
        try:
            yield Fleet(k, moto, tmp)
        finally:
            k.stop()


def changed_by_host(run) -> dict:
    return {h: r["changed"] for h, r in run.recap.items()}


def assert_predicted(check, real):
    assert check.rc == 0, check
    assert real.rc == 0 and not real.failed_hosts, real
    assert changed_by_host(check) == changed_by_host(real), (check.recap, real.recap)
    assert real.changed > 0, "the real run changed nothing: the check run predicted nothing worth checking"


def iam_state(fleet) -> tuple:
    iam = fleet.moto.client("iam")
    users = [u["UserName"] for u in iam.list_users()["Users"]]
    return (users, [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]],
            {u: sorted(k["AccessKeyId"] for k in iam.list_access_keys(UserName=u)["AccessKeyMetadata"]) for u in users})


def cname_records(fleet) -> list:
    sets = fleet.moto.client("route53").list_resource_record_sets(HostedZoneId=fleet.zone)["ResourceRecordSets"]
    return sorted(r["Name"] for r in sets if r["Type"] == "CNAME")


def tree(path) -> dict:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")} if path.exists() else {}


# --------------------------------------------------------------------------------------- rollout
def test_01_site_check_on_a_fresh_fleet_predicts_the_first_run(fleet):
    """Every tier, and the manual DNS records in Route53 (dns_records.yml)."""
    k = fleet.k
    seq = k.last_seq()
    check = fleet.play("site.yml", "--check", label="site.yml --check")
    assert k.writes(since=seq) == [], "site.yml --check wrote to the API"
    assert cname_records(fleet) == [], "site.yml --check wrote DNS records"
    assert tree(fleet.tmp / "report") == {}, "site.yml --check wrote report files"
    first = fleet.play("site.yml", label="site.yml (first run)")
    assert_predicted(check, first)
    assert all(first.recap[h]["changed"] > 0 for h in ("mothership", "cloud1-region1", "cloud1-region2-child1"))
    assert cname_records(fleet) == ["grafana.cloud1-region1.kof.example.com.", "grafana.cloud1-region2.kof.example.com.",
                                    "vmauth.cloud1-region1.kof.example.com.", "vmauth.cloud1-region2.kof.example.com."]
    assert (fleet.tmp / "report" / "dns-records.json").exists()
    fleet.collect_secrets()


def test_02_tier_playbooks_check_predicts_their_run(fleet):
    """Moving to external-dns with static credentials (dns.yml: IAM policy, user, key, Secret; mothership.yml:
    the DNS ClusterProfile; regional.yml: external-dns), a region and a child resized (regional.yml, child.yml),
    then verify.yml: one run of the five."""
    k = fleet.k

    def grow(hosts):
        hosts["all"]["children"]["kof_regional"]["hosts"]["cloud1-region1"]["kof_regional_workers_number"] = 4
        hosts["all"]["children"]["kof_child"]["children"]["kof_child_region2"]["hosts"]["cloud1-region2-child1"] = \
            {"kof_child_workers_number": 4}
    gv = {"kof_dns_mode": "static_credentials", "kof_dns_route53_zone": ""}
    inv = fleet.variant("inventory-tiers", grow, **gv)
    tiers = ("dns.yml", "mothership.yml", "regional.yml", "child.yml", "verify.yml")
    reports = tree(fleet.tmp / "report")
    seq = k.last_seq()
    check = fleet.play(*tiers, "--check", inv=inv)
    assert k.writes(since=seq) == []
    assert iam_state(fleet) == ([], [], {}), "dns.yml --check changed AWS"
    assert tree(fleet.tmp / "report") == reports, "verify.yml --check wrote the report"
    real = fleet.play(*tiers, inv=inv)
    assert_predicted(check, real)
    assert iam_state(fleet)[0] == ["external-dns"]
    changed = {w["path"].rsplit("/", 1)[-1] for w in k.changes(since=seq)}
    assert {"cloud1-region1", "cloud1-region2", "cloud1-region2-child1"} <= changed, changed
    assert fleet.secret_data("kof", "external-dns-aws-credentials")
    assert any(p.startswith("sh.helm.release.v1.kof-mothership.v") for p in changed), changed
    assert tree(fleet.tmp / "report") != reports
    fleet.hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    fleet.gv.update(gv)
    fleet.inv = fleet.variant("inventory")
    fleet.collect_secrets()  # the external-dns key


def test_02b_dns_records_check_predicts_the_route53_records(fleet):
    """dns_records.yml on its own (site.yml ran it in test_01 before the clusters had addresses): the records of
    both regions in another hosted zone, addresses known."""
    route53 = fleet.moto.client("route53")
    zone = route53.create_hosted_zone(Name="kof.example.com", CallerReference="security-2")["HostedZone"]["Id"]

    def records():
        sets = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        return sorted(r["Name"] for r in sets if r["Type"] == "CNAME")
    args = ("-e", "kof_dns_mode=manual", "-e", f"kof_dns_route53_zone_id={zone.rsplit('/', 1)[-1]}",
            "-e", "kof_dns_route53_zone=")
    seq = fleet.k.last_seq()
    check = fleet.play("dns_records.yml", "--check", args=args)
    assert records() == [] and fleet.k.writes(since=seq) == []
    real = fleet.play("dns_records.yml", args=args)
    assert_predicted(check, real)
    assert len(records()) == 4 and fleet.k.writes(since=seq) == []


def test_03_render_check_writes_no_file_and_contacts_no_cluster(fleet):
    render = fleet.tmp / "rendered"
    args = ("-e", f"kof_render_dir={render}", "-e", "kof_cluster_template=aws-standalone-cp-0-1-1")
    seq = fleet.k.last_seq()
    check = fleet.play("render.yml", args=args + ("--check",))
    assert not render.exists(), "render.yml --check wrote files"
    real = fleet.play("render.yml", args=args)
    assert_predicted(check, real)
    assert fleet.api_requests(seq) == [], "render mode contacted the cluster"
    assert (render / "helm" / "kof-mothership.values.yaml").exists()
    assert len(list(render.rglob("*.yaml"))) >= 8, sorted(render.rglob("*"))


def test_04_access_check_predicts_the_run(fleet):
    access = fleet.tmp / "access"
    playbooks = ("grafana_access.yml", "sveltos_access.yml")
    seq = fleet.k.last_seq()
    check = fleet.play(*playbooks, "--check")
    assert fleet.k.writes(since=seq) == [] and not access.exists(), "access --check wrote something"
    real = fleet.play(*playbooks)
    assert_predicted(check, real)
    files = {p.name: mode(p) for p in access.iterdir()}
    assert files == {"mothership-grafana-admin.yml": 0o600, "mothership-sveltos-dashboard.token": 0o600,
                     "mothership-sveltos-dashboard.token.json": 0o600}, files
    assert mode(access) == 0o700
    fleet.collect_secrets()  # the Sveltos token


def test_05_backup_and_restore_check_predict_their_run(fleet):
    k, backups = fleet.k, fleet.tmp / "backups"
    k.call("POST", "/apis/grafana.integreatly.org/v1beta1/namespaces/kof/grafanadashboards", DASHBOARD)
    seq = k.last_seq()
    plain = fleet.play("backup.yml")
    assert plain.rc == 0 and plain.changed == 1 and k.writes(since=seq) == [], plain
    assert len(list(backups.glob("*.tar.gz"))) == 1

    # with the Secrets (vault-encrypted): the check run writes no archive
    vault = ("-e", "kof_backup_include_secrets=true", "--vault-password-file", str(fleet.tmp / "vault-password"))
    check = fleet.play("backup.yml", "--check", args=vault)
    assert len(list(backups.glob("*.tar.gz"))) == 1
    real = fleet.play("backup.yml", args=vault)
    assert_predicted(check, real)
    archives = sorted(backups.glob("*.tar.gz"))
    assert len(archives) == 2 and all(mode(a) == 0o600 for a in archives)
    assert k.writes(since=seq) == [], "a backup only reads"

    # lose the dashboard and the Grafana password: restore (objects, then Secrets) predicts and puts them back
    k.call("DELETE", "/apis/grafana.integreatly.org/v1beta1/namespaces/kof/grafanadashboards/security-overview")
    password = fleet.secret_data("kof", "grafana-admin-credentials")["GF_SECURITY_ADMIN_PASSWORD"]
    fleet.replace("/api/v1/namespaces/kof/secrets/grafana-admin-credentials",
                  lambda o: o["data"].update(GF_SECURITY_ADMIN_PASSWORD=base64.b64encode(b"lost-password").decode()))
    restore = ("-e", "kof_restore_secrets=true", "--vault-password-file", str(fleet.tmp / "vault-password"))
    seq = k.last_seq()
    check = fleet.play("restore.yml", "--check", args=restore)
    assert k.writes(since=seq) == []
    real = fleet.play("restore.yml", args=restore)
    assert_predicted(check, real)
    assert fleet.secret_data("kof", "grafana-admin-credentials")["GF_SECURITY_ADMIN_PASSWORD"] == password
    assert fleet.get("/apis/grafana.integreatly.org/v1beta1/namespaces/kof/grafanadashboards/security-overview")


# ------------------------------------------------------------------------------------------ secrets
def test_06_no_secret_in_any_output_file_report_or_archive(fleet):
    fleet.collect_secrets()
    # the scanner finds a token inside a base64 blob (here the kubeconfig Secret as the API returns it)
    raw = json.dumps(fleet.get("/api/v1/namespaces/kcm-system/secrets/cloud1-region1-kubeconfig"))
    hits = fleet.secrets.find(raw)
    assert len(hits) == 1 and hits[0].startswith("cloud1-region1-kubeconfig token (base64 "), hits
    fleet.assert_no_leak()
    access = fleet.tmp / "access"
    # the access files hold their own secret and no other, and are private
    grafana = yaml.safe_load((access / "mothership-grafana-admin.yml").read_text())
    assert set(grafana.values()) == {v for k_, v in fleet.secrets.values.items() if k_.startswith("grafana-admin")}
    token = (access / "mothership-sveltos-dashboard.token").read_text().strip()
    assert fleet.secrets.find(token) == ["Sveltos dashboard token (plain)"]
    # everything else the runs wrote: reports, DNS records report, rendered files, archives, the inventories,
    # HOME (ansible's local temp and caches)
    texts = file_texts(fleet.tmp, skip=[fleet.tmp / "kofsim", access, fleet.tmp / "vault-password", fleet.tmp / "logs"])
    assert any(name.endswith("dns-records.json") for name in texts)
    assert any(name.endswith("fleet-report.html") for name in texts)
    assert any("!" in name and name.endswith("secrets.vault") for name in texts)
    leaks = {name: hits for name, data in texts.items() if (hits := fleet.secrets.find(data))}
    assert leaks == {}, leaks
    assert (fleet.tmp / "vault-password").read_text().strip() == fleet.vault_password


# -------------------------------------------------------------------- TLS of the workload kubeconfigs
def test_07_workload_clusters_are_verified_against_their_kubeconfig_ca(fleet):
    """A regional/child cluster is reached through the kubeconfig k0rdent wrote in a Secret: its CA is trusted,
    nothing else. A kubeconfig whose CA is not the cluster's makes that cluster unhealthy, with a clear reason."""
    k = fleet.k
    path = "/api/v1/namespaces/kcm-system/secrets/cloud1-region2-child1-kubeconfig"
    original = fleet.get(path)["data"]["value"]
    wrong = kubeconfig_with_ca(k.kubeconfig, fleet.tmp / "wrong-ca.kubeconfig")
    doc = yaml.safe_load(base64.b64decode(original))
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = \
        yaml.safe_load(wrong.read_text())["clusters"][0]["cluster"]["certificate-authority-data"]
    fleet.replace(path, lambda o: o["data"].update(value=base64.b64encode(yaml.safe_dump(doc).encode()).decode()))
    try:
        run = fleet.play("verify.yml", args=("-e", "kof_verify_timeout=2"))
        assert run.rc != 0 and run.failed_hosts == ["cloud1-region2-child1"], run
        assert "CERTIFICATE_VERIFY_FAILED" in run.stdout and "Traceback" not in run.stdout
        report = json.loads((fleet.tmp / "report" / "fleet-report.json").read_text())
        bad = {c["name"]: c["problems"] for c in report["clusters"] if c["state"] != "healthy"}
        assert list(bad) == ["cloud1-region2-child1"] and "CERTIFICATE_VERIFY_FAILED" in " ".join(bad[
            "cloud1-region2-child1"]), bad
        insecure = fleet.play("verify.yml", args=("-e", "kof_validate_certs=false", "-e", "kof_verify_timeout=2"))
        assert insecure.rc == 0, insecure
        assert "WARNING: kof_validate_certs is false" in insecure.stdout
    finally:
        fleet.replace(path, lambda o: o["data"].update(value=original))


# ---------------------------------------------------------------------------------------- day 2
def test_08_upgrade_check_predicts_the_upgrade(fleet):
    k = fleet.k
    inv = fleet.variant("inventory-upgrade", kof_chart_repository=str(bumped_charts(fleet.tmp)),
                        kof_chart_version="0.1.2")
    seq = k.last_seq()
    check = fleet.play("upgrade.yml", "--check", inv=inv)
    assert k.writes(since=seq) == []
    real = fleet.play("upgrade.yml", inv=inv)
    assert_predicted(check, real)
    fleet.inv, fleet.gv = inv, yaml.safe_load((inv / "group_vars" / "all.yml").read_text())
    fleet.assert_no_leak(fleet.runs[-2:])


def test_09_prune_check_predicts_the_deletions(fleet):
    k = fleet.k

    def drop_region2(hosts):
        del hosts["all"]["children"]["kof_regional"]["hosts"]["cloud1-region2"]
        del hosts["all"]["children"]["kof_child"]["children"]["kof_child_region2"]
    inv = fleet.variant("inventory-pruned", drop_region2)
    seq = k.last_seq()
    check = fleet.play("prune.yml", "--check", args=("-e", "kof_prune_confirm=true"), inv=inv)
    assert k.writes(since=seq) == []
    real = fleet.play("prune.yml", args=("-e", "kof_prune_confirm=true"), inv=inv)
    assert_predicted(check, real)
    assert fleet.get("/apis/k0rdent.mirantis.com/v1alpha1/namespaces/kcm-system/clusterdeployments/cloud1-region2") \
        is None
    fleet.inv = inv
    fleet.assert_no_leak(fleet.runs[-2:])


def test_10_uninstall_check_predicts_the_uninstall(fleet):
    k, backups = fleet.k, fleet.tmp / "backups"
    archives = set(backups.glob("*.tar.gz"))
    seq = k.last_seq()
    check = fleet.play("uninstall.yml", "--check", args=("-e", "kof_uninstall_confirm=true"))
    assert k.writes(since=seq) == [] and set(backups.glob("*.tar.gz")) == archives
    assert (fleet.tmp / "access" / "mothership-sveltos-dashboard.token").exists()
    real = fleet.play("uninstall.yml", args=("-e", "kof_uninstall_confirm=true"))
    assert_predicted(check, real)
    assert fleet.get("/api/v1/namespaces/kof") is None
    fleet.assert_no_leak(fleet.runs[-2:])
    leaks = {n: h for n, d in file_texts(backups).items() if (h := fleet.secrets.find(d))}
    assert leaks == {}, leaks
