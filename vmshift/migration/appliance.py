"""The appliance a wave runs from: where its private endpoints go and which VNet resolves the blob names.

A flow parameter, defaulted from the appliance's environment so that deployments need not repeat it.
"""

from __future__ import annotations

import os

from azure.mgmt.core.tools import resource_id
from pydantic import BaseModel


class Appliance(BaseModel):
    name: str = "appliance-01"
    # Resource group of the cache storage accounts and of their private endpoints.
    migration_resource_group: str = "rg-migration"
    # The appliance's VNet (or one peered with it): endpoint subnet and private DNS zone link.
    network_resource_group: str = "rg-hub"
    vnet: str = "vnet-hub"
    endpoint_subnet: str = "snet-endpoints"
    vcenter: str = "vcenter"

    @classmethod
    def from_env(cls) -> Appliance:
        """`VMSHIFT_APPLIANCE_<FIELD>` overrides each default (e.g. VMSHIFT_APPLIANCE_VNET=vnet-hub)."""
        values = {name: os.environ[f"VMSHIFT_APPLIANCE_{name.upper()}"]
                  for name in cls.model_fields if f"VMSHIFT_APPLIANCE_{name.upper()}" in os.environ}
        return cls(**values)

    def vnet_id(self, subscription_id: str) -> str:
        return resource_id(subscription=subscription_id, resource_group=self.network_resource_group,
                           namespace="Microsoft.Network", type="virtualNetworks", name=self.vnet)

    def endpoint_subnet_id(self, subscription_id: str) -> str:
        return resource_id(subscription=subscription_id, resource_group=self.network_resource_group,
                           namespace="Microsoft.Network", type="virtualNetworks", name=self.vnet,
                           child_type_1="subnets", child_name_1=self.endpoint_subnet)
