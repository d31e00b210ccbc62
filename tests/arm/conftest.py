"""The ARM simulator of the session's lab, reached only through azure-identity and the azure-mgmt-* clients."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from arm_clients import LOCATION, Arm, admin_credential, management_client
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import AddressSpace, Subnet, VirtualNetwork
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient


@pytest.fixture(scope="session")
def arm(lab: dict) -> Arm:
    credential = admin_credential(lab)
    return Arm(
        lab, credential,
        resources=management_client(ResourceManagementClient, lab, credential),
        network=management_client(NetworkManagementClient, lab, credential),
        private_dns=management_client(PrivateDnsManagementClient, lab, credential),
        storage=management_client(StorageManagementClient, lab, credential),
        compute=management_client(ComputeManagementClient, lab, credential),
    )


_names = itertools.count()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses, so tests share one lab without stepping on each other."""
    return lambda prefix: f"{prefix}{next(_names)}"


@pytest.fixture
def group(arm: Arm, unique: Callable[[str], str]) -> str:
    name = unique("rg-test-")
    arm.resources.resource_groups.create_or_update(name, {"location": LOCATION})
    return name


@pytest.fixture
def endpoint_subnet(arm: Arm, group: str, unique: Callable[[str], str]) -> str:
    """A subnet of a fresh virtual network in the test's group, for private endpoints."""
    vnet = arm.network.virtual_networks.begin_create_or_update(group, unique("vnet-"), VirtualNetwork(
        location=LOCATION, address_space=AddressSpace(address_prefixes=["10.60.0.0/16"]),
        subnets=[Subnet(name="snet-endpoints", address_prefix="10.60.2.0/24")])).result()
    return vnet.subnets[0].id
