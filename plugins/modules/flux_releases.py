# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: flux_releases
short_description: Wait until the Flux HelmReleases of KOF 1.x's umbrella kof chart are Ready
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). KOF 1.8 and later install their components (kof-operators,
    victoria-metrics-operator, kof-mothership, kof-regional, kof-child) as Flux C(HelmRelease) objects made by the
    umbrella C(kof) chart; C(helm upgrade -i kof) succeeds as soon as those objects are written, whatever happens
    to the components afterwards (k0rdent/kof#294, k0rdent/kof#653). This module judges the install from the HelmReleases'
    status instead - the 1.x docs' C(kubectl wait --for=condition=Ready helmreleases --all -n kof).
  - A HelmRelease is done when Flux reports C(Ready=True) for its current generation; it has failed when Flux
    reports C(Stalled=True) (retries exhausted, invalid values); the task then fails at once with Flux's message
    instead of waiting out O(wait_timeout).
  - Flux keeps retrying a release whose install or upgrade failed (C(RetryOnFailure)); after O(failure_threshold)
    failed attempts at the same desired state (C(status.failures)) the task fails with Flux's message rather than
    wait out O(wait_timeout) - a wrong value does not fix itself.
  - One list and one watch for the whole namespace. Check mode reports the current state without waiting.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  namespace:
    description: Namespace of the HelmReleases (the kof chart's C(global.namespace)).
    type: str
    default: kof
  label_selector:
    description: Which HelmReleases to wait for; the kof chart labels each with C(k0rdent.mirantis.com/component).
    type: str
    default: k0rdent.mirantis.com/component
  wait:
    description:
      - Wait for every selected HelmRelease to be Ready (or failed).
      - V(false) only reports their state (none, when the kind is not served or nothing is installed yet).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1200
  failure_threshold:
    description: Failed attempts (C(status.failures)) after which a release counts as failed. V(0) waits for C(Stalled) or the timeout.
    type: int
    default: 3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    support: full
"""

EXAMPLES = r"""
- name: Install the umbrella kof chart
  k0rdent.kof.helm_release:
    release_name: kof
    release_namespace: kof
    chart_ref: oci://ghcr.io/k0rdent/kof/charts/kof
    chart_version: 1.10.0
    create_namespace: true

- name: Wait for every component to be installed by Flux
  k0rdent.kof.flux_releases:
    namespace: kof
    wait_timeout: 1200
"""

RETURN = r"""
releases:
  description:
    - HelmRelease name -> C(state) (ready, failed, pending), C(message) (Flux's Ready or Stalled message),
      C(revision) (the chart version Flux last attempted) and C(depends_on).
  returned: always
  type: dict
api_requests:
  description: API requests sent.
  returned: success
  type: int
"""
