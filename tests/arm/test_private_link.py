"""The private link chain vmshift builds for its cache account, and the DNS answer the appliance gets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dns.message
import dns.query
import dns.rdatatype
import pytest
from arm_clients import Arm, blob_endpoint, create_account, decide
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network.models import PrivateDnsZoneConfig, PrivateDnsZoneGroup
from azure.mgmt.privatedns.models import CnameRecord, PrivateZone, RecordSet, SubResource, VirtualNetworkLink

pytestmark = pytest.mark.lab

BLOB_ZONE = "privatelink.blob.core.windows.net"


def resolve(arm: Arm, name: str, tcp: bool = False) -> list[tuple[str, str]]:
    """(type, value) of each answer record, as the appliance's resolver gets them."""
    host, port = arm.dns_address
    query = dns.message.make_query(name, "A")
    reply = dns.query.tcp(query, host, port=port, timeout=5) if tcp else dns.query.udp(query, host, port=port,
                                                                                        timeout=5)
    return [(dns.rdatatype.to_text(rrset.rdtype), item.to_text()) for rrset in reply.answer for item in rrset]


def link_zone(arm: Arm, group: str, zone: str, link: str, vnet_id: str) -> None:
    arm.private_dns.virtual_network_links.begin_create_or_update(group, zone, link, VirtualNetworkLink(
        location="global", virtual_network=SubResource(id=vnet_id), registration_enabled=False)).result()


def blob_zone_group(arm: Arm, group: str, endpoint: str) -> None:
    """The endpoint's zone group: it writes the account's A record into the group's blob zone."""
    arm.network.private_dns_zone_groups.begin_create_or_update(group, endpoint, "default", PrivateDnsZoneGroup(
        private_dns_zone_configs=[PrivateDnsZoneConfig(
            name="blob", private_dns_zone_id=f"{arm.scope(group)}/providers/Microsoft.Network/privateDnsZones/"
                                             f"{BLOB_ZONE}")])).result()


@pytest.fixture
def hub_link(arm: Arm, group: str) -> Iterator[Callable[[], None]]:
    """Link the group's blob zone to the appliance's hub VNet; unlinked again after the test. A VNet takes one
    blob zone: the hub's link to another group's (a wave's, when a wave ran earlier in this lab) is set aside
    for the test and put back after it."""
    hub = arm.network.virtual_networks.get("rg-hub", "vnet-hub")
    set_aside = [(zone.id.split("/")[4], link.name)
                 for zone in arm.private_dns.private_zones.list() if zone.name == BLOB_ZONE
                 for link in arm.private_dns.virtual_network_links.list(zone.id.split("/")[4], BLOB_ZONE)
                 if link.virtual_network.id.lower() == hub.id.lower()]
    for other_group, name in set_aside:
        arm.private_dns.virtual_network_links.begin_delete(other_group, BLOB_ZONE, name).result()

    def link() -> None:
        link_zone(arm, group, BLOB_ZONE, "link-hub", hub.id)

    yield link
    arm.private_dns.virtual_network_links.begin_delete(group, BLOB_ZONE, "link-hub").result()
    for other_group, name in set_aside:
        link_zone(arm, other_group, BLOB_ZONE, name, hub.id)


def test_blob_name_resolves_to_the_endpoint_ip_once_the_chain_is_built(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str, hub_link: Callable[[], None]
) -> None:
    account = unique("vmshiftchain")
    endpoint = blob_endpoint(arm, group, "pe-cache", endpoint_subnet, create_account(arm, group, account))
    state = endpoint.private_link_service_connections[0].private_link_service_connection_state
    assert state.status == "Approved"
    nic = arm.network.network_interfaces.get(group, endpoint.network_interfaces[0].id.rsplit("/", 1)[-1])
    private_ip = nic.ip_configurations[0].private_ip_address
    assert private_ip.startswith("10.60.2.")
    fqdn = f"{account}.blob.core.windows.net"
    public = resolve(arm, fqdn)
    assert ("CNAME", f"{account}.privatelink.blob.core.windows.net.") in public
    assert public[-1][1].startswith("20.60.")

    arm.private_dns.private_zones.begin_create_or_update(group, BLOB_ZONE, PrivateZone(location="global")).result()
    hub_link()
    blob_zone_group(arm, group, "pe-cache")

    record = arm.private_dns.record_sets.get(group, BLOB_ZONE, "A", account)
    assert [a.ipv4_address for a in record.a_records] == [private_ip]
    assert resolve(arm, fqdn) == [("CNAME", f"{account}.privatelink.blob.core.windows.net."), ("A", private_ip)]
    assert resolve(arm, fqdn, tcp=True)[-1] == ("A", private_ip)

    arm.private_dns.virtual_network_links.begin_delete(group, BLOB_ZONE, "link-hub").result()
    assert resolve(arm, fqdn)[-1][1].startswith("20.60.")


def test_cname_in_a_zone_linked_to_the_appliance_vnet_resolves_to_its_target(
    arm: Arm, group: str, unique: Callable[[str], str]
) -> None:
    zone = f"{unique('apps')}.vmshift.internal"
    arm.private_dns.private_zones.begin_create_or_update(group, zone, PrivateZone(location="global")).result()
    link_zone(arm, group, zone, "link-hub", arm.network.virtual_networks.get("rg-hub", "vnet-hub").id)
    target = "vmshiftcache01.blob.core.windows.net"
    record = arm.private_dns.record_sets.create_or_update(group, zone, "CNAME", "cache", RecordSet(
        ttl=10, cname_record=CnameRecord(cname=target)))
    assert record.cname_record.cname == target and record.fqdn == f"cache.{zone}."

    answer = resolve(arm, f"cache.{zone}")
    assert answer[0] == ("CNAME", f"{target}.")
    assert answer[1:] == resolve(arm, target)  # Azure DNS follows the alias in the same answer
    assert answer[-1][0] == "A"
    arm.private_dns.virtual_network_links.begin_delete(group, zone, "link-hub").result()


def test_zone_linked_only_to_a_vnet_without_the_appliance_leaves_the_public_answer(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str
) -> None:
    account = unique("vmshiftnolink")
    endpoint = blob_endpoint(arm, group, "pe-nolink", endpoint_subnet, create_account(arm, group, account))
    arm.private_dns.private_zones.begin_create_or_update(group, BLOB_ZONE, PrivateZone(location="global")).result()
    link_zone(arm, group, BLOB_ZONE, "link-target", arm.network.virtual_networks.get("rg-target", "vnet-target").id)
    blob_zone_group(arm, group, "pe-nolink")
    nic = arm.network.network_interfaces.get(group, endpoint.network_interfaces[0].id.rsplit("/", 1)[-1])
    record = arm.private_dns.record_sets.get(group, BLOB_ZONE, "A", account)
    assert [a.ipv4_address for a in record.a_records] == [nic.ip_configurations[0].private_ip_address]

    answer = resolve(arm, f"{account}.blob.core.windows.net")
    assert answer[0] == ("CNAME", f"{account}.privatelink.blob.core.windows.net.")
    assert answer[-1][0] == "A" and answer[-1][1].startswith("20.60.")
    arm.private_dns.virtual_network_links.begin_delete(group, BLOB_ZONE, "link-target").result()


def test_manual_connection_stays_pending_until_approved_on_the_account(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str
) -> None:
    account = unique("vmshiftmanual")
    endpoint = blob_endpoint(arm, group, "pe-manual", endpoint_subnet, create_account(arm, group, account),
                             manual=True)
    assert endpoint.manual_private_link_service_connections[0].private_link_service_connection_state.status \
        == "Pending"
    [connection] = arm.storage.private_endpoint_connections.list(group, account)
    assert connection.private_endpoint.id == endpoint.id
    decide(arm, group, account, connection.name, "Approved")
    endpoint = arm.network.private_endpoints.get(group, "pe-manual")
    assert endpoint.manual_private_link_service_connections[0].private_link_service_connection_state.status \
        == "Approved"


def test_auto_approval_refused_when_the_caller_may_not_approve(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str
) -> None:
    account = unique("vmshiftnoapprove")
    account_id = create_account(arm, group, account)
    arm.admin("/_lab/approvals", {"account": account, "caller_may_approve": False})
    with pytest.raises(HttpResponseError) as refused:
        blob_endpoint(arm, group, "pe-auto", endpoint_subnet, account_id)
    assert refused.value.error.code == "LinkedAuthorizationFailed"
    assert list(arm.storage.private_endpoint_connections.list(group, account)) == []
    endpoint = blob_endpoint(arm, group, "pe-auto", endpoint_subnet, account_id, manual=True)
    assert endpoint.manual_private_link_service_connections[0].private_link_service_connection_state.status \
        == "Pending"


def test_private_endpoint_on_a_general_purpose_v1_account_is_refused(
    arm: Arm, group: str, endpoint_subnet: str
) -> None:
    classic = arm.storage.storage_accounts.get_properties("rg-migration", "vmshiftclassic01")
    assert classic.kind == "Storage"
    with pytest.raises(HttpResponseError) as refused:
        blob_endpoint(arm, group, "pe-classic", endpoint_subnet, classic.id)
    assert refused.value.error.code == "OperationNotAllowedOnKind"


def test_storage_account_names_follow_azure_rules(arm: Arm, group: str) -> None:
    for name in ("Vmshift_Cache", "ab", "vmshiftcache01"):
        with pytest.raises(HttpResponseError) as refused:
            create_account(arm, group, name)
        assert refused.value.error.code == ("StorageAccountAlreadyTaken" if name == "vmshiftcache01"
                                            else "AccountNameInvalid")


def test_the_nic_of_a_private_endpoint_cannot_be_deleted_on_its_own(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str
) -> None:
    endpoint = blob_endpoint(arm, group, "pe-nic", endpoint_subnet,
                             create_account(arm, group, unique("vmshiftnic")))
    nic_name = endpoint.network_interfaces[0].id.rsplit("/", 1)[1]
    with pytest.raises(HttpResponseError) as refused:
        arm.network.network_interfaces.begin_delete(group, nic_name).result()
    assert refused.value.error.code == "NicInUse"
    nic = arm.network.network_interfaces.get(group, nic_name)
    assert nic.id == endpoint.network_interfaces[0].id
    with pytest.raises(HttpResponseError) as refused:  # nor changed: it belongs to its endpoint
        arm.network.network_interfaces.begin_create_or_update(group, nic_name, nic).result()
    assert refused.value.error.code == "CannotModifyNicAttachedToPrivateEndpoint"
