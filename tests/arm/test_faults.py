"""Throttling and outages on demand: the SDK's own retry policy carries a chain of creates through them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from arm_clients import LOCATION, Arm
from azure.core.exceptions import HttpResponseError
from azure.mgmt.privatedns.models import ARecord, PrivateZone, RecordSet, SubResource, VirtualNetworkLink
from raw_arm import arm_get

pytestmark = pytest.mark.lab


@pytest.fixture
def faults(arm: Arm) -> Iterator[None]:
    yield
    arm.admin("/_lab/faults", {"rate": 0})


def test_fifty_creates_complete_through_20_percent_throttling_each_exactly_once(
    arm: Arm, group: str, faults: None
) -> None:
    arm.admin("/_lab/faults", {"rate": 0.2, "statuses": [429, 503], "retry_after": 0.05, "seed": 20})
    for i in range(10):
        vnet = arm.network.virtual_networks.begin_create_or_update(group, f"vnet-{i}", {
            "location": LOCATION, "properties": {
                "addressSpace": {"addressPrefixes": [f"10.{100 + i}.0.0/16"]},
                "subnets": [{"name": "snet", "properties": {"addressPrefix": f"10.{100 + i}.1.0/24"}}]}}).result()
        arm.network.network_interfaces.begin_create_or_update(group, f"nic-{i}", {
            "location": LOCATION, "properties": {"ipConfigurations": [
                {"name": "ipconfig1", "properties": {"subnet": {"id": vnet.subnets[0].id}}}]}}).result()
        zone = f"zone{i}.lab.internal"
        arm.private_dns.private_zones.begin_create_or_update(group, zone, PrivateZone(location="global")).result()
        arm.private_dns.virtual_network_links.begin_create_or_update(group, zone, "link", VirtualNetworkLink(
            location="global", virtual_network=SubResource(id=vnet.id), registration_enabled=False)).result()
        arm.private_dns.record_sets.create_or_update(group, zone, "A", "app", RecordSet(
            ttl=10, a_records=[ARecord(ipv4_address=f"10.{100 + i}.1.10")]))
    faults = arm.admin("/_lab/faults")
    arm.admin("/_lab/faults", {"rate": 0})

    injected, by_status = faults["injected"], faults["injected_by_status"]
    assert by_status.get("429", 0) > 0 and by_status.get("503", 0) > 0, by_status  # seeded: both occur
    assert injected == sum(by_status.values())
    assert sorted(v.name for v in arm.network.virtual_networks.list(group)) == sorted(f"vnet-{i}" for i in range(10))
    for i in range(10):
        [subnet] = arm.network.virtual_networks.get(group, f"vnet-{i}").subnets
        nic = arm.network.network_interfaces.get(group, f"nic-{i}")
        assert nic.ip_configurations[0].private_ip_address == f"10.{100 + i}.1.4"
        assert subnet.address_prefix == f"10.{100 + i}.1.0/24"
        zone = f"zone{i}.lab.internal"
        assert [link.name for link in arm.private_dns.virtual_network_links.list(group, zone)] == ["link"]
        assert [r.name for r in arm.private_dns.record_sets.list_by_type(group, zone, "A")] == ["app"]
    assert len(list(arm.private_dns.private_zones.list_by_resource_group(group))) == 10


def test_next_requests_to_an_operation_fail_until_the_retries_are_spent(arm: Arm, group: str, faults: None) -> None:
    arm.admin("/_lab/faults", {"next": [{"operation": "GET .*/virtualNetworks/vnet-hub$", "count": 20,
                                         "status": 500}]})
    with pytest.raises(HttpResponseError) as failed:
        arm.network.virtual_networks.get("rg-hub", "vnet-hub", retry_total=2, retry_backoff_factor=0.01)
    assert failed.value.status_code == 500
    assert failed.value.error.code == "InternalServerError"


def test_throttling_says_when_to_come_back_and_outages_answer_azures_error_body(arm: Arm, faults: None) -> None:
    hub = f"{arm.scope('rg-hub')}/providers/Microsoft.Network/virtualNetworks/vnet-hub?api-version=2026-03-01"
    arm.admin("/_lab/faults", {"retry_after": 2, "next": [
        {"operation": "GET .*/virtualNetworks/vnet-hub$", "count": 1, "status": 429},
        {"operation": "GET .*/virtualNetworks/vnet-hub$", "count": 1, "status": 503}]})
    throttled = arm_get(arm, hub)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    unavailable = arm_get(arm, hub)
    assert unavailable.status_code == 503
    assert unavailable.headers["Retry-After"] == "2"
    assert unavailable.json() == {"error": {"code": "ServiceUnavailable", "message":
                                            "The service is currently unavailable. Please try again later."}}
    assert arm_get(arm, hub).json()["name"] == "vnet-hub"
