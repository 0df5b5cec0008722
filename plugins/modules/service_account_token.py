# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_account_token
short_description: A bounded ServiceAccount token (TokenRequest API) in a private file on the controller
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). Requests a token for a ServiceAccount of the management cluster
    through the TokenRequest API (C(POST .../serviceaccounts/<name>/token), what C(kubectl create token) does) with
    O(duration) seconds of validity, and writes it to O(dest) with mode C(0600). Its expiry, the ServiceAccount's
    uid and the request (no secret) go to C(<dest>.json).
  - Idempotent - a new token is requested only when there is none, it expires within O(renew_before) seconds,
    O(duration) or O(audiences) changed, the ServiceAccount was re-created, or O(force) is set. A re-run sends
    no write request.
  - The token never becomes a task variable, result or log line.
author:
  - k0rdent.kof maintainers (@k0rdent)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - k0rdent.kof.action_plugin
  - k0rdent.kof.kube_connection
options:
  name:
    description: ServiceAccount name.
    type: str
    required: true
  namespace:
    description: ServiceAccount namespace.
    type: str
    required: true
  duration:
    description: Token lifetime in seconds, between 600 (the API minimum) and O(max_duration).
    type: int
    required: true
  max_duration:
    description: Upper bound for O(duration); longer requests fail before any API request.
    type: int
    default: 86400
  dest:
    description: Token file (C(~) is expanded).
    type: path
    required: true
  audiences:
    description: Token audiences (default - the API server's).
    type: list
    elements: str
    default: []
  renew_before:
    description: Request a new token when the current one expires within this many seconds.
    type: int
    default: 600
  force:
    description: Always request a new token.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reports whether a new token would be requested; requests none.
  diff_mode:
    support: none
  action:
    support: full
notes:
  - The API server may shorten the duration (C(--service-account-max-token-expiration)); RV(expiration) is the real one.
"""

EXAMPLES = r"""
- name: A one-hour token for the Sveltos dashboard
  k0rdent.kof.service_account_token:
    name: kof-sveltos-viewer
    namespace: kof
    duration: 3600
    dest: ~/.kof/sveltos-dashboard.token
"""

RETURN = r"""
dest:
  description: The token file.
  returned: success
  type: str
expiration:
  description: When the token in O(dest) expires (UTC, RFC 3339).
  returned: success and not check mode
  type: str
service_account:
  description: namespace/name of the ServiceAccount.
  returned: success
  type: str
"""
