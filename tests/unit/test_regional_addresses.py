"""The address the manual DNS records point at (action plugin regional_addresses): the first load-balancer ingress
of ingress-nginx's Service, its hostname (an AWS ELB) before its IP, nothing when the load balancer is pending."""
from __future__ import annotations

import pytest

from ansible_collections.k0rdent.kof.plugins.action.regional_addresses import lb_address


@pytest.mark.parametrize("status, address", [
    ({"loadBalancer": {"ingress": [{"hostname": "a1.elb.us-east-2.amazonaws.com"}]}}, "a1.elb.us-east-2.amazonaws.com"),
    ({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}, "203.0.113.7"),
    ({"loadBalancer": {"ingress": [{"hostname": "lb.example.com", "ip": "203.0.113.7"}]}}, "lb.example.com"),
    ({"loadBalancer": {"ingress": [{"ip": "2001:db8::1"}, {"ip": "203.0.113.7"}]}}, "2001:db8::1"),
    ({"loadBalancer": {}}, ""),
    ({"loadBalancer": {"ingress": []}}, ""),
    ({"loadBalancer": {"ingress": [{"ports": [{"port": 80}]}]}}, ""),
    ({}, ""),
    (None, ""),
])
def test_first_ingress_hostname_else_ip(status, address):
    assert lb_address({"metadata": {"name": "ingress-nginx-controller"}, "status": status}) == address
