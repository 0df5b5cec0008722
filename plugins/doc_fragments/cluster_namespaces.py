# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The option of the plugins that reach clusters by their ClusterDeployment: where each one lives when not in the
module's kcm_namespace (plugin_utils.day2.cluster_namespace). Roles pass kof_cluster_namespaces.

extends_documentation_fragment: [k0rdent.kof.cluster_namespaces]
"""
from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
options:
  namespaces:
    description:
      - The namespace of each cluster whose ClusterDeployment is not in O(kcm_namespace) (cluster name -> namespace;
        KOF 1.x clusters of other tenants).
    type: dict
    default: {}
"""
