"""HTTP for Microsoft.Network/privateDnsZones: zones, record sets, virtual network links."""

from __future__ import annotations

from vmshift.lab.arm.privatedns.models import PrivateDnsBackend
from vmshift.lab.arm.responses import BaseResponse
from vmshift.lab.arm.routing import ArmResponse


class PrivateDnsResponse(BaseResponse[PrivateDnsBackend]):
    backend_class = PrivateDnsBackend

    def create_or_update_private_zone(self) -> ArmResponse:
        zone, created = self.backend.create_or_update_private_zone(self.subscription_id, self.group,
                                                                   self.param("privateZoneName"), self.body)
        return self.accepted_put(zone, created)

    def get_private_zone(self) -> ArmResponse:
        return self.ok(self.backend.get_private_zone(self.subscription_id, self.group, self.param("privateZoneName")))

    def list_private_zones(self) -> ArmResponse:
        return self.listing(self.backend.list_private_zones(self.subscription_id, self.group_if_any))

    def delete_private_zone(self) -> ArmResponse:
        return self.deleted(self.backend.delete_private_zone(self.subscription_id, self.group,
                                                             self.param("privateZoneName")))

    def create_or_update_record_set(self) -> ArmResponse:
        record, created = self.backend.create_or_update_record_set(
            self.subscription_id, self.group, self.param("privateZoneName"), self.param("recordType"),
            self.param("relativeRecordSetName"), self.body)
        return ArmResponse(201 if created else 200, record)

    def get_record_set(self) -> ArmResponse:
        return self.ok(self.backend.get_record_set(self.subscription_id, self.group, self.param("privateZoneName"),
                                                   self.param("recordType"), self.param("relativeRecordSetName")))

    def list_record_sets(self) -> ArmResponse:
        return self.listing(self.backend.list_record_sets(self.subscription_id, self.group,
                                                          self.param("privateZoneName"), None))

    def list_record_sets_by_type(self) -> ArmResponse:
        return self.listing(self.backend.list_record_sets(self.subscription_id, self.group,
                                                          self.param("privateZoneName"), self.param("recordType")))

    def delete_record_set(self) -> ArmResponse:
        self.backend.delete_record_set(self.subscription_id, self.group, self.param("privateZoneName"),
                                       self.param("recordType"), self.param("relativeRecordSetName"))
        return ArmResponse(200)

    def create_or_update_virtual_network_link(self) -> ArmResponse:
        link, created = self.backend.create_or_update_virtual_network_link(
            self.subscription_id, self.group, self.param("privateZoneName"), self.param("virtualNetworkLinkName"),
            self.body)
        return self.accepted_put(link, created)

    def get_virtual_network_link(self) -> ArmResponse:
        return self.ok(self.backend.get_virtual_network_link(
            self.subscription_id, self.group, self.param("privateZoneName"), self.param("virtualNetworkLinkName")))

    def list_virtual_network_links(self) -> ArmResponse:
        return self.listing(self.backend.list_virtual_network_links(self.subscription_id, self.group,
                                                                    self.param("privateZoneName")))

    def delete_virtual_network_link(self) -> ArmResponse:
        return self.deleted(self.backend.delete_virtual_network_link(
            self.subscription_id, self.group, self.param("privateZoneName"), self.param("virtualNetworkLinkName")))
