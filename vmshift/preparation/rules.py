"""The rules preparation runs, in order, with the documentation each follows. One table: the report, the docs and
the plan's per-VM switch all name rules from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from vmshift.preparation import linux_rules, windows_rules

MIGRATE = "https://learn.microsoft.com/azure/migrate/prepare-for-agentless-migration"
LINUX_GENERIC = "https://learn.microsoft.com/azure/virtual-machines/linux/create-upload-generic"
RHEL = "https://learn.microsoft.com/azure/virtual-machines/linux/redhat-create-upload-vhd"
WINDOWS = "https://learn.microsoft.com/azure/virtual-machines/windows/prepare-for-upload-vhd-image"


@dataclass(frozen=True)
class Rule:
    name: str
    os: Literal["linux", "windows"]
    anchors: tuple[str, ...]
    apply: Callable  # Linux rules take the Guest, Windows rules the guest's Registry


RULES: tuple[Rule, ...] = (
    Rule("hyperv-drivers-in-initramfs", "linux", (MIGRATE, LINUX_GENERIC, RHEL),
         linux_rules.hyperv_drivers_in_initramfs),
    Rule("fstab-by-uuid", "linux", (MIGRATE,), linux_rules.fstab_by_uuid),
    Rule("serial-console", "linux", (MIGRATE, LINUX_GENERIC, RHEL), linux_rules.serial_console),
    Rule("network-dhcp", "linux", (MIGRATE, RHEL), linux_rules.network_dhcp),
    Rule("persistent-net-rules-removed", "linux", (MIGRATE, RHEL), linux_rules.persistent_net_rules_removed),
    Rule("vmware-tools-disabled", "linux", (MIGRATE,), linux_rules.vmware_tools_disabled),
    Rule("azure-agent-enabled", "linux", (MIGRATE, LINUX_GENERIC), linux_rules.azure_agent_enabled),
    Rule("san-policy-online-all", "windows", (MIGRATE, WINDOWS), windows_rules.san_policy_online_all),
    Rule("hyperv-drivers-boot-start", "windows", (MIGRATE,), windows_rules.hyperv_drivers_boot_start),
    Rule("dhcp-client-automatic", "windows", (MIGRATE, WINDOWS), windows_rules.dhcp_client_automatic),
    Rule("rdp-enabled", "windows", (WINDOWS,), windows_rules.rdp_enabled),
    Rule("vmware-tools-disabled", "windows", (MIGRATE,), windows_rules.vmware_tools_disabled),
    Rule("azure-vm-agent-reported", "windows", (MIGRATE,), windows_rules.azure_vm_agent_reported),
)


def rules_for(os_type: str, skip: frozenset[str] = frozenset()) -> list[Rule]:
    """The rules for a guest of this type ("linux", "windows"), less those named in `skip`."""
    unknown = skip - {rule.name for rule in RULES}
    if unknown:
        raise ValueError(f"unknown preparation rules {sorted(unknown)}; known: {sorted({r.name for r in RULES})}")
    return [rule for rule in RULES if rule.os == os_type and rule.name not in skip]
