"""The DNS gate's decision, from resolver answers built with dnspython: each failure says what to fix."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.rrset
import pytest

from vmshift.azure.dns_gate import (
    Resolution,
    chain_from_response,
    hosts_file_addresses,
    judge,
    parse_dns_servers,
    resolve_blob_fqdn,
)
from vmshift.azure.errors import DnsGateFailed
from vmshift.azure.private_dns import ZoneView

ACCOUNT = "vmshiftcache01"
FQDN = f"{ACCOUNT}.blob.core.windows.net"
PRIVATELINK = f"{ACCOUNT}.privatelink.blob.core.windows.net"
ENDPOINT_IP = "10.10.2.4"
HEALTHY_ZONE = ZoneView(zone_exists=True, linked=True, record_addresses=(ENDPOINT_IP,))


def _response(*records: tuple[str, str, str]) -> dns.message.Message:
    query = dns.message.make_query(FQDN, "A")
    response = dns.message.make_response(query)
    for name, rdtype, value in records:
        response.answer.append(dns.rrset.from_text(name, 60, "IN", rdtype, value))
    return response


def _dns(*records: tuple[str, str, str]) -> Resolution:
    cnames, addresses = chain_from_response(FQDN, _response(*records))
    return Resolution(FQDN, "DNS 127.0.0.1:5353", cnames=cnames, addresses=addresses)


PRIVATE_ANSWER = (
    (FQDN, "CNAME", f"{PRIVATELINK}."),
    (PRIVATELINK, "A", ENDPOINT_IP),
)
PUBLIC_ANSWER = (
    (FQDN, "CNAME", f"{PRIVATELINK}."),
    (PRIVATELINK, "CNAME", "blob.ams07prdstr02a.store.core.windows.net."),
    ("blob.ams07prdstr02a.store.core.windows.net", "A", "20.60.223.4"),
)


def test_cname_chain_is_followed_to_the_final_address():
    cnames, addresses = chain_from_response(FQDN, _response(*PUBLIC_ANSWER))
    assert cnames == (PRIVATELINK, "blob.ams07prdstr02a.store.core.windows.net")
    assert addresses == ("20.60.223.4",)


def test_gate_passes_on_the_endpoints_private_address_and_reports_the_path():
    outcome = judge(_dns(*PRIVATE_ANSWER), account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=HEALTHY_ZONE)
    assert outcome.passed and outcome.reason == "passed"
    assert "through DNS 127.0.0.1:5353 to 10.10.2.4" in outcome.message


def test_zone_not_linked_says_to_add_the_virtual_network_link():
    zone = ZoneView(zone_exists=True, linked=False, record_addresses=(ENDPOINT_IP,))
    outcome = judge(_dns(*PUBLIC_ANSWER), account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=zone)
    assert (outcome.passed, outcome.reason) == (False, "zone-not-linked")
    assert outcome.message.startswith("zone not linked")
    assert "add a virtual network link" in outcome.message


def test_record_missing_says_to_add_the_zone_group():
    zone = ZoneView(zone_exists=True, linked=True, record_addresses=())
    outcome = judge(_dns(*PUBLIC_ANSWER), account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=zone)
    assert outcome.reason == "record-missing"
    assert f"holds no A record {ACCOUNT}" in outcome.message and "zone group" in outcome.message


def test_record_pointing_elsewhere_is_a_stale_address():
    stale = ((FQDN, "CNAME", f"{PRIVATELINK}."), (PRIVATELINK, "A", "10.10.2.99"))
    outcome = judge(_dns(*stale), account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=HEALTHY_ZONE)
    assert outcome.reason == "stale-address"
    assert "10.10.2.99" in outcome.message and f"NIC has {ENDPOINT_IP}" in outcome.message


def test_no_cname_to_privatelink_means_the_resolver_does_not_see_the_endpoint():
    outcome = judge(_dns((FQDN, "A", "20.60.223.4")), account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=HEALTHY_ZONE)
    assert outcome.reason == "no-privatelink-cname"
    assert f"no CNAME to {PRIVATELINK}" in outcome.message


def test_public_address_with_a_healthy_zone_blames_the_resolvers_forwarding():
    outcome = judge(_dns(*PUBLIC_ANSWER), account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=HEALTHY_ZONE)
    assert outcome.reason == "public-address"
    assert "168.63.129.16" in outcome.message


def test_hosts_file_entry_with_the_endpoint_ip_passes_and_says_so(tmp_path: Path):
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{ENDPOINT_IP}  {FQDN.upper()}  # added for Private Link\n")
    resolution = resolve_blob_fqdn(FQDN, servers=[("127.0.0.1", 9)], hosts_file=hosts)
    outcome = judge(resolution, account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=None)
    assert outcome.passed
    assert "answered by the hosts file" in outcome.message and str(hosts) in outcome.message


def test_hosts_file_override_to_another_address_fails_and_names_the_file(tmp_path: Path):
    hosts = tmp_path / "hosts"
    hosts.write_text(f"10.99.0.7 {FQDN}\n")
    resolution = resolve_blob_fqdn(FQDN, hosts_file=hosts)
    outcome = judge(resolution, account_name=ACCOUNT, endpoint_ip=ENDPOINT_IP, zone=HEALTHY_ZONE)
    assert outcome.reason == "hosts-file-override"
    assert outcome.message.startswith("hosts-file override present") and str(hosts) in outcome.message


def test_hosts_file_lines_are_read_as_the_system_resolver_reads_them(tmp_path: Path):
    hosts = tmp_path / "hosts"
    hosts.write_text(f"# 10.0.0.1 {FQDN}\n10.0.0.2 other {FQDN}.\n10.0.0.3 {FQDN}x\n")
    assert hosts_file_addresses(FQDN, hosts) == ("10.0.0.2",)
    assert hosts_file_addresses(FQDN, tmp_path / "absent") == ()


@pytest.mark.parametrize(
    ("value", "servers"),
    [
        ("127.0.0.1:5353", [("127.0.0.1", 5353)]),
        ("10.10.1.4, 10.10.1.5:53", [("10.10.1.4", 53), ("10.10.1.5", 53)]),
        ("[::1]:5353,::1", [("::1", 5353), ("::1", 53)]),
    ],
)
def test_dns_servers_setting_accepts_ports_and_ipv6(value, servers):
    assert parse_dns_servers(value) == servers


def test_a_resolver_that_does_not_answer_fails_the_gate_with_where_to_look(tmp_path: Path):
    with pytest.raises(DnsGateFailed) as failed:
        resolve_blob_fqdn(FQDN, servers=[("127.0.0.1", 9)], hosts_file=tmp_path / "hosts", lifetime_s=0.5)
    assert failed.value.reason == "resolver-unreachable"
    assert "127.0.0.1" in str(failed.value) and "VMSHIFT_DNS_SERVERS" in str(failed.value)
