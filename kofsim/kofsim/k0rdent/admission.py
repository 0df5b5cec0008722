"""kcm's ClusterDeployment admission rules, as pure functions of the request and a reader of the cluster.

The rules and messages are kcm v0.1.0's (github.com/K0rdent/kcm@v0.1.0: internal/webhook/
clusterdeployment_webhook.go, multiclusterservice_webhook.go validateServices, internal/providers and
providers/*.yml for the identity kinds). kube-apiserver prefixes a denial with
`admission webhook "<name>" denied the request: ` and answers 403; a webhook's warnings become Warning headers.

`get(plural, namespace, name)` returns a k0rdent.mirantis.com object or None. Nothing here touches kofsim's store,
so the same code can serve a real ValidatingWebhookConfiguration.
"""
from __future__ import annotations

WEBHOOK = "validation.clusterdeployment.k0rdent.mirantis.com"
INVALID = "the ClusterDeployment is invalid"
INFRA_PREFIX = "infrastructure-"
# kcm v0.1.0 providers/{aws,azure,openstack,vsphere}.yml: clusterIdentityKinds per infrastructure provider
IDENTITY_KINDS = {
    "aws": ("AWSClusterStaticIdentity", "AWSClusterRoleIdentity", "AWSClusterControllerIdentity"),
    "azure": ("AzureClusterIdentity", "Secret"),
    "openstack": ("Secret",),
    "vsphere": ("VSphereClusterIdentity",),
}


class Denied(Exception):
    """The webhook's answer: message (without the apiserver's prefix) and the warnings it returned."""

    def __init__(self, message: str, warnings=()):
        super().__init__(message)
        self.message = message
        self.warnings = list(warnings)


def _not_found(plural: str, name: str) -> str:
    return f'{plural}.k0rdent.mirantis.com "{name}" not found'


def _template_valid(tpl: dict) -> str | None:
    status = tpl.get("status") or {}
    if not status.get("valid"):
        return f"the template is not valid: {status.get('validationError', '')}"
    return None


def _credential(cd: dict, tpl: dict, get) -> str | None:
    """validateCredential: the template's providers, the Credential, its readiness and identity kind."""
    providers = (tpl.get("status") or {}).get("providers") or []
    name = tpl["metadata"]["name"]
    if not providers:
        return f'template "{name}" has no providers defined'
    if not any(p.startswith(INFRA_PREFIX) for p in providers):
        return f'template "{name}" has no infrastructure providers defined'
    cred_name = (cd.get("spec") or {}).get("credential", "")
    cred = get("credentials", cd["metadata"]["namespace"], cred_name)
    if cred is None:
        return _not_found("credentials", cred_name)
    if not (cred.get("status") or {}).get("ready"):
        return "credential is not Ready"
    kind = (((cred.get("spec") or {}).get("identityRef")) or {}).get("kind", "")
    for provider in providers:
        if provider == INFRA_PREFIX + "internal":
            if kind != "Secret":
                return f'wrong kind of the ClusterIdentity "{kind}" for provider "{provider}"'
            continue
        kinds = IDENTITY_KINDS.get(provider[len(INFRA_PREFIX):]) if provider.startswith(INFRA_PREFIX) else None
        if kinds is None:
            if provider.startswith(INFRA_PREFIX):
                return f"unsupported infrastructure provider {provider}"
            continue
        if kind not in kinds:
            return f'wrong kind of the ClusterIdentity "{kind}" for provider "{provider}"'
    return None


def _cross_namespace(cd: dict) -> str | None:
    ns = cd["metadata"]["namespace"]
    spec = (cd.get("spec") or {}).get("serviceSpec") or {}
    errs = []
    for ref in spec.get("templateResourceRefs") or []:
        res = ref.get("resource") or {}
        if res.get("namespace") and res["namespace"] != ns:
            errs.append(f'{res.get("kind", "")} "{res.get("name", "")}" is in namespace {res["namespace"]}, cannot '
                        f"refer to a resource in a namespace other than {ns} in .spec.serviceSpec.templateResourceRefs")
    if errs:
        return "\n".join(errs)
    for svc in spec.get("services") or []:
        for ref in svc.get("valuesFrom") or []:
            if ref.get("namespace") and ref["namespace"] != ns:
                errs.append(f'{ref.get("kind", "")} "{ref.get("name", "")}" is in namespace {ref["namespace"]}, '
                            f"cannot refer to a resource in a namespace other than {ns} in "
                            ".spec.serviceSpec.services[].valuesFrom")
    return "\n".join(errs) or None


def _services(cd: dict, get) -> str | None:
    """validateServices: every service's ServiceTemplate exists and is valid (errors.Join: one per line)."""
    ns = cd["metadata"]["namespace"]
    errs = []
    for svc in ((cd.get("spec") or {}).get("serviceSpec") or {}).get("services") or []:
        st = get("servicetemplates", ns, svc.get("template", ""))
        if st is None:
            errs.append(_not_found("servicetemplates", svc.get("template", "")))
            continue
        bad = _template_valid(st)
        if bad:
            errs.append(bad)
    return "\n".join(errs) or None


def validate_cluster_deployment(op: str, new: dict | None, old: dict | None, get) -> list[str]:
    """kcm v0.1.0's ValidateCreate / ValidateUpdate (ValidateDelete allows everything). Raises Denied; returns
    the warnings of an allowed request (none in v0.1.0)."""
    if op not in ("CREATE", "UPDATE") or new is None:
        return []
    ns = new["metadata"]["namespace"]
    spec = new.get("spec") or {}
    name = spec.get("template", "")
    tpl = get("clustertemplates", ns, name)
    if tpl is None:
        raise Denied(f"{INVALID}: {_not_found('clustertemplates', name)}")
    changed = op == "CREATE" or ((old or {}).get("spec") or {}).get("template") != name
    if op == "UPDATE" and changed:
        offered = ((old or {}).get("status") or {}).get("availableUpgrades") or []
        if name not in offered:
            previous = ((old or {}).get("spec") or {}).get("template", "")
            raise Denied("cluster upgrade is forbidden", [f"Cluster can't be upgraded from {previous} to {name}. "
                                                          "This upgrade sequence is not allowed"])
    if changed:
        bad = _template_valid(tpl)
        if bad:
            raise Denied(f"{INVALID}: {bad}")
    # validateK8sCompatibility needs the template's status.k8sVersion, which kcm v0.1.0's template controller never
    # sets: the check is a no-op there and is not modelled.
    for check in (lambda: _credential(new, tpl, get), lambda: _cross_namespace(new), lambda: _services(new, get)):
        bad = check()
        if bad:
            raise Denied(f"{INVALID}: {bad}")
    return []


def available_upgrades(template: str, chains: list) -> list[str]:
    """kcm v0.1.0's setAvailableUpgrades: the names every ClusterTemplateChain of the namespace offers for the
    ClusterDeployment's template (supportedTemplates[name == template].availableUpgrades[].name)."""
    out = []
    for chain in chains:
        for supported in ((chain.get("spec") or {}).get("supportedTemplates") or []):
            if supported.get("name") == template:
                for up in supported.get("availableUpgrades") or []:
                    if up.get("name") and up["name"] not in out:
                        out.append(up["name"])
    return sorted(out)


def validate_template_delete(kind: str, template: dict, cluster_deployments: list,
                             multi_cluster_services: list = (), system_namespace: str = "kcm-system"):
    """kcm v0.1.0's ClusterTemplate / ServiceTemplate ValidateDelete (template_webhook.go): refused while a
    ClusterDeployment of the namespace references it (one being deleted still does), while a template chain owns
    it, or (a ServiceTemplate of the system namespace) while a MultiClusterService references it. Raises Denied
    with kcm's error and warning."""
    name = template["metadata"]["name"]
    for cd in cluster_deployments:
        spec = cd.get("spec") or {}
        uses = spec.get("template") == name if kind == "ClusterTemplate" else any(
            s.get("template") == name for s in (spec.get("serviceSpec") or {}).get("services") or [])
        if uses:
            raise Denied("template deletion is forbidden",
                         [f"The {kind} object can't be removed if ClusterDeployment objects referencing it still exist"])
    chain = f"{kind}Chain"
    owners = [o.get("name", "") for o in template["metadata"].get("ownerReferences") or [] if o.get("kind") == chain]
    if owners:
        raise Denied("template deletion is forbidden",
                     [f"The {kind} object can't be removed if it is managed by {chain}: {', '.join(owners)}"])
    if kind == "ServiceTemplate" and template["metadata"].get("namespace") == system_namespace:
        for mcs in multi_cluster_services:
            if any(s.get("template") == name for s in ((mcs.get("spec") or {}).get("serviceSpec") or {})
                   .get("services") or []):
                raise Denied("template deletion is forbidden", ["The ServiceTemplate object can't be removed if "
                                                                "MultiClusterService objects referencing it still exist"])


def validate_template_delete_v1beta1(kind: str, template: dict, cluster_deployments: list,
                                     multi_cluster_services: list = (), owner_exists=lambda ref, ns: True,
                                     system_namespace: str = "kcm-system"):
    """kcm v1.10.0's ClusterTemplate / ServiceTemplate ValidateDelete (internal/webhook/template_webhook.go), the
    webhooks `validation.clustertemplate.k0rdent.mirantis.com` / `validation.servicetemplate...` (DELETE only,
    failurePolicy Fail; templates/provider/kcm/templates/webhooks.yaml). Refused, error "template deletion is
    forbidden" with one warning, while
    - a ClusterDeployment of the template's namespace references it (spec.template, or for a ServiceTemplate
      spec.serviceSpec.services[].template; the field index counts ClusterDeployments being deleted too);
    - an owner of kind <kind>Chain that still exists owns it;
    - (a ServiceTemplate of the system namespace) a MultiClusterService not being deleted lists it in
      spec.serviceSpec.services[].template: warning "The <name> ServiceTemplate object can't be removed if
      MultiClusterService objects [<mcs>] referencing it still exist". kcm lists them from its cache with
      Limit(1), so the warning names one MCS; which one, when several do, is the cache's order (kofsim: the
      first by name that is not being deleted)."""
    name, ns = template["metadata"]["name"], template["metadata"].get("namespace")
    for cd in cluster_deployments:
        if cd["metadata"].get("namespace") != ns:
            continue
        spec = cd.get("spec") or {}
        uses = spec.get("template") == name if kind == "ClusterTemplate" else any(
            s.get("template") == name for s in (spec.get("serviceSpec") or {}).get("services") or [])
        if uses:
            raise Denied("template deletion is forbidden", [f"The {kind} object can't be removed if "
                                                            "ClusterDeployment objects referencing it still exist"])
    chain = f"{kind}Chain"
    owners = [o.get("name", "") for o in template["metadata"].get("ownerReferences") or []
              if o.get("kind") == chain and owner_exists(o, ns)]
    if owners:
        raise Denied("template deletion is forbidden",
                     [f"The {kind} object can't be removed if it is managed by {chain}: {', '.join(owners)}"])
    if kind == "ServiceTemplate" and ns == system_namespace:
        users = sorted(m["metadata"]["name"] for m in multi_cluster_services
                       if not m["metadata"].get("deletionTimestamp") and
                       any(s.get("template") == name
                           for s in ((m.get("spec") or {}).get("serviceSpec") or {}).get("services") or []))
        if users:
            raise Denied("template deletion is forbidden",
                         [f"The {name} ServiceTemplate object can't be removed if MultiClusterService objects "
                          f"[{users[0]}] referencing it still exist"])
