"""The Windows rules, on the guest's registry: each small, named after what it makes true, anchored in Azure's
documentation (docs/os-preparation.md lists the anchors and the guests each rule was tested on)."""

from __future__ import annotations

from vmshift.preparation.errors import RuleFailed
from vmshift.preparation.registry import Registry

SAN_POLICY_ONLINE_ALL = 1  # VDS_SAN_POLICY: 1 OnlineAll, 2 OfflineShared, 3 OfflineAll
BOOT_START, AUTOMATIC, MANUAL, DISABLED = 0, 2, 3, 4
# Azure Migrate: these drivers "are installed and are set to load at 'boot start'" (storflt where present).
BOOT_DRIVERS = ("storvsc", "vmbus")
OPTIONAL_BOOT_DRIVERS = ("storflt",)
RDP_FIREWALL_RULES = ("RemoteDesktop-UserMode-In-TCP", "RemoteDesktop-UserMode-In-UDP")
VMWARE_SERVICES = ("VMTools", "VGAuthService", "vm3dservice", "VMwareCAFCommAmqpListener",
                   "VMwareCAFManagementAgentHost")
AZURE_AGENT_SERVICES = ("WindowsAzureGuestAgent", "RdAgent")


def _services(registry: Registry) -> str:
    return f"{registry.control_set()}\\Services"


def san_policy_online_all(registry: Registry) -> None:
    """Data disks come online with their drive letters on Azure (the default OfflineShared leaves them offline)."""
    registry.set("san-policy-online-all", "SYSTEM", f"{_services(registry)}\\partmgr\\Parameters", "SanPolicy",
                 SAN_POLICY_ONLINE_ALL)


def hyperv_drivers_boot_start(registry: Registry) -> None:
    """Azure's disks are Hyper-V storage devices: storvsc and vmbus must start at boot; the NIC driver netvsc
    must not be disabled."""
    rule = "hyperv-drivers-boot-start"
    services = _services(registry)
    for driver in BOOT_DRIVERS + OPTIONAL_BOOT_DRIVERS:
        if not registry.has_key("SYSTEM", f"{services}\\{driver}"):
            if driver in OPTIONAL_BOOT_DRIVERS:
                continue
            raise RuleFailed(f"{registry.guest.what}: rule {rule}: the guest has no {driver} driver service "
                             "(Windows Server 2008 R2 and later have it in the box): install the Hyper-V "
                             "integration services before migrating")
        registry.set(rule, "SYSTEM", f"{services}\\{driver}", "Start", BOOT_START)
    if registry.get("SYSTEM", f"{services}\\netvsc", "Start") == DISABLED:
        registry.set(rule, "SYSTEM", f"{services}\\netvsc", "Start", MANUAL)


def dhcp_client_automatic(registry: Registry) -> None:
    """Azure gives the VM its address by DHCP: the DHCP client service starts automatically."""
    registry.set("dhcp-client-automatic", "SYSTEM", f"{_services(registry)}\\Dhcp", "Start", AUTOMATIC)


def rdp_enabled(registry: Registry) -> None:
    """RDP accepts connections (also where a policy value denies it) and Windows Firewall lets it in."""
    rule = "rdp-enabled"
    control = registry.control_set()
    registry.set(rule, "SYSTEM", f"{control}\\Control\\Terminal Server", "fDenyTSConnections", 0)
    policy = "Policies\\Microsoft\\Windows NT\\Terminal Services"
    if registry.get("SOFTWARE", policy, "fDenyTSConnections") not in (None, 0):
        registry.set(rule, "SOFTWARE", policy, "fDenyTSConnections", 0)
    rules = f"{control}\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules"
    for name in RDP_FIREWALL_RULES:
        value = registry.get("SYSTEM", rules, name)
        if isinstance(value, str) and "|Active=FALSE|" in value:
            registry.set(rule, "SYSTEM", rules, name, value.replace("|Active=FALSE|", "|Active=TRUE|"))
    if not any(isinstance(registry.get("SYSTEM", rules, n), str) for n in RDP_FIREWALL_RULES):
        registry.guest.log.find(rule, "Windows Firewall has no Remote Desktop rule: check that the firewall lets "
                                      "TCP 3389 in, or connect through Azure Bastion")


def vmware_tools_disabled(registry: Registry) -> None:
    """VMware Tools' services have nothing to talk to on Azure: set to Disabled, not uninstalled."""
    services = _services(registry)
    for service in VMWARE_SERVICES:
        if registry.has_key("SYSTEM", f"{services}\\{service}"):
            registry.set("vmware-tools-disabled", "SYSTEM", f"{services}\\{service}", "Start", DISABLED)


def azure_vm_agent_reported(registry: Registry) -> None:
    """The Azure VM agent runs extensions and password reset; vmshift reports whether it is installed."""
    services = _services(registry)
    if not any(registry.has_key("SYSTEM", f"{services}\\{s}") for s in AZURE_AGENT_SERVICES):
        registry.guest.log.find("azure-vm-agent-reported", "the Azure VM agent (WindowsAzureGuestAgent) is not "
                                "installed: the VM will boot, but extensions and password reset will not work; "
                                "install it from its MSI after cutover")
