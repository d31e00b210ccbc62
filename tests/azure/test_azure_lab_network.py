"""On the lab: the cache account's preflight, its private endpoint, private DNS and the DNS gate."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import pytest

from vmshift.azure import dns_gate
from vmshift.azure.endpoint import (
    PrivateEndpointInfo,
    ensure_private_endpoint,
    existing_private_endpoint,
    private_endpoint_name,
)
from vmshift.azure.errors import (
    ApprovalTimedOut,
    DnsGateFailed,
    PreflightFailed,
    PrivateEndpointConflict,
    PrivateEndpointRejected,
)
from vmshift.azure.preflight import preflight_cache_account
from vmshift.azure.private_dns import BLOB_ZONE, ensure_private_dns, zone_view
from vmshift.migration.appliance import Appliance
from vmshift.migration.private_link import reach_endpoint

pytestmark = pytest.mark.lab

ACCOUNT = "vmshiftcache01"
MANUAL_ACCOUNT = "vmshiftmanual01"  # the lab's app may not approve private endpoints on it


@pytest.fixture(scope="module")
def endpoint(azure, ids) -> PrivateEndpointInfo:
    account = preflight_cache_account(
        azure, resource_group="rg-migration", account_name=ACCOUNT, target_region="westeurope"
    )
    return ensure_private_endpoint(
        azure,
        account,
        subnet_id=ids("rg-hub", "virtualNetworks", "vnet-hub", "snet-endpoints"),
        resource_group="rg-hub",
        approval_timeout_s=5,
        poll_interval_s=0.2,
    )


@pytest.fixture(scope="module")
def private_dns(azure, ids, endpoint):
    return ensure_private_dns(
        azure, endpoint, zone_resource_group="rg-hub", vnet_id=ids("rg-hub", "virtualNetworks", "vnet-hub")
    )


def _gate(azure, ids, endpoint, tmp_path: Path) -> dns_gate.GateResult:
    zone = zone_view(
        azure,
        zone_resource_group="rg-hub",
        vnet_id=ids("rg-hub", "virtualNetworks", "vnet-hub"),
        account_name=ACCOUNT,
    )
    return dns_gate.check_dns_gate(
        ACCOUNT,
        endpoint.private_ip,
        zone=zone,
        servers=dns_gate.dns_servers_from_env(),
        hosts_file=tmp_path / "hosts",
    )


def test_preflight_refuses_an_account_of_another_kind_or_region(azure):
    with pytest.raises(PreflightFailed) as classic:
        preflight_cache_account(
            azure, resource_group="rg-migration", account_name="vmshiftclassic01", target_region="westeurope"
        )
    assert "kind is Storage" in str(classic.value) and "StorageV2" in str(classic.value)
    with pytest.raises(PreflightFailed) as elsewhere:
        preflight_cache_account(
            azure, resource_group="rg-migration", account_name="vmshiftcacheeus", target_region="westeurope"
        )
    assert "location is eastus" in str(elsewhere.value)


@pytest.mark.parametrize(
    ("closed", "problem"),
    [
        ({"publicNetworkAccess": "Disabled"}, "public network access is Disabled"),
        ({"networkAcls": {"defaultAction": "Deny", "bypass": "None"}}, "bypass AzureServices"),
    ],
)
def test_preflight_refuses_an_account_the_disk_import_cannot_read(azure, owner, closed, problem):
    accounts = owner.storage.storage_accounts  # the account's owner closes it; vmshift may not change it
    seeded = accounts.get_properties("rg-migration", ACCOUNT)["properties"]
    accounts.update("rg-migration", ACCOUNT, {"properties": closed})
    try:
        with pytest.raises(PreflightFailed, match=problem):
            preflight_cache_account(
                azure, resource_group="rg-migration", account_name=ACCOUNT, target_region="westeurope"
            )
    finally:
        restore = {key: seeded[key] for key in ("publicNetworkAccess", "networkAcls") if key in seeded}
        accounts.update("rg-migration", ACCOUNT, {"properties": restore})
    preflight_cache_account(azure, resource_group="rg-migration", account_name=ACCOUNT, target_region="westeurope")


def test_private_endpoint_is_approved_with_a_private_ip_in_its_subnet(endpoint):
    assert endpoint.name == private_endpoint_name(ACCOUNT)
    assert (endpoint.status, endpoint.approval) == ("Approved", "automatic")
    assert endpoint.account_id.lower().endswith(f"/storageaccounts/{ACCOUNT}")
    assert ipaddress.ip_address(endpoint.private_ip) in ipaddress.ip_network("10.10.2.0/24")


def test_private_endpoint_in_a_vnet_the_appliance_cannot_reach_is_refused_before_creation(azure, ids):
    account = azure.storage.storage_accounts.get_properties("rg-migration", "vmshiftcacheeus")
    before = _endpoint_counts(azure)
    with pytest.raises(PrivateEndpointConflict, match="neither is nor is peered"):
        ensure_private_endpoint(
            azure,
            account,
            subnet_id=ids("rg-target", "virtualNetworks", "vnet-target", "snet-app"),
            resource_group="rg-hub",
            appliance_vnet_id=ids("rg-hub", "virtualNetworks", "vnet-hub"),
        )
    assert _endpoint_counts(azure) == before


def test_private_endpoint_on_a_classic_account_is_refused_and_nothing_is_created(azure, ids):
    classic = azure.storage.storage_accounts.get_properties("rg-migration", "vmshiftclassic01")
    before = [e.name for e in azure.network.private_endpoints.list("rg-hub")]
    with pytest.raises(PreflightFailed, match="general-purpose v2"):
        ensure_private_endpoint(
            azure,
            classic,
            subnet_id=ids("rg-hub", "virtualNetworks", "vnet-hub", "snet-endpoints"),
            resource_group="rg-hub",
        )
    assert [e.name for e in azure.network.private_endpoints.list("rg-hub")] == before


def _endpoint_counts(azure) -> tuple[int, int]:
    return (
        len(list(azure.network.private_endpoints.list("rg-hub"))),
        len(list(azure.network.network_interfaces.list("rg-hub"))),
    )


def _network_counts(azure) -> tuple[int, int, int, int]:
    return (
        *_endpoint_counts(azure),
        len(list(azure.privatedns.private_zones.list_by_resource_group("rg-hub"))),
        len(list(azure.privatedns.virtual_network_links.list("rg-hub", BLOB_ZONE))),
    )


def test_endpoint_and_private_dns_run_twice_create_nothing_new(azure, ids, endpoint, private_dns):
    before = _network_counts(azure)
    account = azure.storage.storage_accounts.get_properties("rg-migration", ACCOUNT)
    subnet = ids("rg-hub", "virtualNetworks", "vnet-hub", "snet-endpoints")
    again = ensure_private_endpoint(azure, account, subnet_id=subnet, resource_group="rg-hub")
    dns_again = ensure_private_dns(
        azure, again, zone_resource_group="rg-hub", vnet_id=ids("rg-hub", "virtualNetworks", "vnet-hub")
    )
    assert again == endpoint
    assert dns_again == private_dns
    assert _network_counts(azure) == before
    assert before[2:] == (1, 1)
    record = azure.privatedns.record_sets.get("rg-hub", BLOB_ZONE, "A", ACCOUNT)
    assert [a.ipv4_address for a in record.properties.a_records] == [endpoint.private_ip]


def test_gate_between_cycles_finds_the_endpoint_and_names_the_fix_when_it_is_gone(azure, endpoint):
    assert existing_private_endpoint(azure, "rg-hub", ACCOUNT) == endpoint
    before = _endpoint_counts(azure)
    with pytest.raises(DnsGateFailed) as missing:
        existing_private_endpoint(azure, "rg-hub", "vmshiftcacheeus")
    assert missing.value.reason == "endpoint-missing"
    assert str(missing.value) == (
        "storage account vmshiftcacheeus has no vmshift private endpoint pe-vmshiftcacheeus-blob in rg-hub: run "
        "the wave's migrate-wave flow again to create it (and its private DNS), then the delta sync resumes"
    )
    assert _endpoint_counts(azure) == before


def test_dns_gate_passes_when_the_name_resolves_to_the_endpoint(azure, ids, endpoint, private_dns, tmp_path):
    outcome = _gate(azure, ids, endpoint, tmp_path)
    assert outcome.passed
    assert outcome.resolution.cnames[0] == f"{ACCOUNT}.{BLOB_ZONE}"
    assert outcome.resolution.addresses == (endpoint.private_ip,)
    assert outcome.resolution.path.startswith("DNS ")


def test_dns_gate_fails_when_the_zone_is_not_linked(azure, owner, ids, endpoint, private_dns, tmp_path):
    links = owner.privatedns.virtual_network_links  # vmshift never deletes a link
    link_name = private_dns.link_id.rsplit("/", 1)[1]
    links.begin_delete("rg-hub", BLOB_ZONE, link_name).result()
    try:
        with pytest.raises(DnsGateFailed) as failed:
            _gate(azure, ids, endpoint, tmp_path)
        assert failed.value.reason == "zone-not-linked"
        assert "add a virtual network link" in str(failed.value)
    finally:
        ensure_private_dns(
            azure, endpoint, zone_resource_group="rg-hub", vnet_id=ids("rg-hub", "virtualNetworks", "vnet-hub")
        )
    assert _gate(azure, ids, endpoint, tmp_path).passed


def test_dns_gate_fails_when_the_record_is_missing(azure, owner, ids, endpoint, private_dns, tmp_path):
    owner.privatedns.record_sets.delete("rg-hub", BLOB_ZONE, "A", ACCOUNT)
    try:
        with pytest.raises(DnsGateFailed) as failed:
            _gate(azure, ids, endpoint, tmp_path)
        assert failed.value.reason == "record-missing"
        assert f"holds no A record {ACCOUNT}" in str(failed.value)
    finally:
        _restore_record(owner, endpoint)
    assert _gate(azure, ids, endpoint, tmp_path).passed


def test_dns_gate_fails_when_the_record_points_elsewhere(azure, owner, ids, endpoint, private_dns, tmp_path):
    owner.privatedns.record_sets.create_or_update(
        "rg-hub", BLOB_ZONE, "A", ACCOUNT, {"properties": {"ttl": 10, "aRecords": [{"ipv4Address": "10.10.2.250"}]}}
    )
    try:
        with pytest.raises(DnsGateFailed) as failed:
            _gate(azure, ids, endpoint, tmp_path)
        assert failed.value.reason == "stale-address"
        assert "10.10.2.250" in str(failed.value) and endpoint.private_ip in str(failed.value)
    finally:
        _restore_record(owner, endpoint)


def test_dns_gate_fails_on_a_hosts_file_override_and_honours_a_right_one(azure, ids, endpoint, private_dns, tmp_path):
    (tmp_path / "hosts").write_text(f"10.10.2.251 {ACCOUNT}.blob.core.windows.net\n")
    with pytest.raises(DnsGateFailed) as failed:
        _gate(azure, ids, endpoint, tmp_path)
    assert failed.value.reason == "hosts-file-override"
    assert "hosts-file override present" in str(failed.value)
    (tmp_path / "hosts").write_text(f"{endpoint.private_ip} {ACCOUNT}.blob.core.windows.net\n")
    outcome = _gate(azure, ids, endpoint, tmp_path)
    assert outcome.passed and outcome.resolution.from_hosts_file
    assert "answered by the hosts file" in outcome.message


def _restore_record(owner, endpoint: PrivateEndpointInfo) -> None:
    """The zone group's record back, as its owner puts it (vmshift writes no record itself)."""
    owner.privatedns.record_sets.create_or_update(
        "rg-hub",
        BLOB_ZONE,
        "A",
        ACCOUNT,
        {"properties": {"ttl": 10, "aRecords": [{"ipv4Address": endpoint.private_ip}]}},
    )


def _decide(owner, status: str) -> None:
    """The account owner's click in Networking > Private endpoint connections."""
    connections = owner.storage.private_endpoint_connections
    (pending,) = [c for c in connections.list("rg-migration", MANUAL_ACCOUNT)]
    connections.put(
        "rg-migration",
        MANUAL_ACCOUNT,
        pending.name,
        {"properties": {"privateLinkServiceConnectionState": {"status": status, "description": f"{status} by owner"}}},
    )


def test_endpoint_without_approval_rights_waits_for_the_owner_and_fails_on_rejection(azure, owner, ids):
    account = azure.storage.storage_accounts.get_properties("rg-migration", MANUAL_ACCOUNT)
    subnet = ids("rg-hub", "virtualNetworks", "vnet-hub", "snet-endpoints")

    def ensure(timeout_s: float) -> PrivateEndpointInfo:
        return ensure_private_endpoint(
            azure, account, subnet_id=subnet, resource_group="rg-hub", approval_timeout_s=timeout_s, poll_interval_s=0.1
        )

    with pytest.raises(ApprovalTimedOut) as waited:
        ensure(0.3)
    assert f"{MANUAL_ACCOUNT} > Networking > Private endpoint connections" in str(waited.value)
    pending = azure.network.private_endpoints.get("rg-hub", private_endpoint_name(MANUAL_ACCOUNT))
    assert pending.properties.private_link_service_connections == []
    assert len(pending.properties.manual_private_link_service_connections) == 1

    _decide(owner, "Rejected")
    with pytest.raises(PrivateEndpointRejected, match=f"to storage account {MANUAL_ACCOUNT} is Rejected"):
        ensure(5)

    owner.network.private_endpoints.begin_delete("rg-hub", private_endpoint_name(MANUAL_ACCOUNT)).result()
    approval = threading.Timer(0.5, _decide, (owner, "Approved"))
    approval.start()
    try:
        approved = ensure(60)
    finally:
        approval.join()
    assert (approved.status, approved.approval) == ("Approved", "manual")
    assert ensure(0) == approved


def test_the_wave_waits_for_a_manual_approval_as_long_as_vmshift_approval_wait_s_says(azure, owner, monkeypatch):
    appliance = Appliance()  # endpoints in rg-migration, as a wave places them
    name = private_endpoint_name(MANUAL_ACCOUNT)
    monkeypatch.setenv("VMSHIFT_APPROVAL_WAIT_S", "soon")
    with pytest.raises(ValueError, match="VMSHIFT_APPROVAL_WAIT_S='soon': the seconds to wait"):
        reach_endpoint(MANUAL_ACCOUNT, "westeurope", appliance)
    assert name not in [e.name for e in azure.network.private_endpoints.list("rg-migration")]

    monkeypatch.setenv("VMSHIFT_APPROVAL_WAIT_S", "0.5")
    try:
        with pytest.raises(ApprovalTimedOut) as waited:
            reach_endpoint(MANUAL_ACCOUNT, "westeurope", appliance)
        assert f"the owner of storage account {MANUAL_ACCOUNT} approves it under {MANUAL_ACCOUNT} > Networking > " \
            "Private endpoint connections; not approved within 0.5 s" in str(waited.value)
        pending = azure.network.private_endpoints.get("rg-migration", name)
        assert len(pending.properties.manual_private_link_service_connections) == 1
    finally:  # the other tests find the account without a pending connection
        owner.network.private_endpoints.begin_delete("rg-migration", name).result()
