"""The Linux rules: each small, named after what it makes true, anchored in Azure's documentation
(docs/os-preparation.md lists the anchors and the guests each rule was tested on)."""

from __future__ import annotations

import re

from vmshift.preparation.errors import RuleFailed
from vmshift.preparation.guest import Guest

HYPERV_DRIVERS = ("hv_vmbus", "hv_storvsc", "hv_netvsc")
# Azure: "rebuild the initrd so that at least the hv_vmbus and hv_storvsc kernel modules are available".
REQUIRED_DRIVERS = ("hv_vmbus", "hv_storvsc")
DRACUT_CONF = "/etc/dracut.conf.d/90-vmshift-hyperv.conf"
SERIAL_CONSOLE = ("console=tty1", "console=ttyS0,115200n8", "earlyprintk=ttyS0,115200")
# Azure's RHEL pages add rootdelay=300: dracut waits up to that long for the root disk. initramfs-tools guests
# (Debian, Ubuntu) are left without it: there it makes every boot sleep the full 300 s.
ROOTDELAY = "rootdelay=300"
# "We also recommend removing the following parameters if they exist: rhgb quiet crashkernel=auto".
UNWANTED_ARGUMENTS = ("rhgb", "quiet", "crashkernel=auto")
GRUB_CONFIGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
VMWARE_UNITS = ("vmtoolsd.service", "open-vm-tools.service", "vmware-tools.service", "vgauth.service",
                "vmware-vgauth.service")
AGENT_UNITS = ("walinuxagent.service", "waagent.service")
UNIT_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system", "/etc/systemd/system")
_KERNEL_DEVICE = re.compile(r"/dev/(?:[shv]d[a-z]+|xvd[a-z]+)\d*")
_LINUX_LINE = re.compile(r"^(\s*linux(?:16|efi)?\s+\S+)(.*)$")
_OPTIONS_LINE = re.compile(r"^(options\s+)(.*)$")


def initramfs_images(guest: Guest) -> list[str]:
    """The initramfs of each installed kernel, as the family names it."""
    kernels = guest.handle.ls("/lib/modules")
    name = "/boot/initramfs-{}.img" if guest.os.family == "redhat" else "/boot/initrd.img-{}"
    return [name.format(k) for k in kernels if guest.exists(name.format(k))]


def missing_drivers(guest: Guest, rule: str, image: str) -> list[str]:
    """The required Hyper-V drivers the image lacks, by the guest's own listing tool (lsinitrd, lsinitramfs)."""
    lister = guest.executable("lsinitrd" if guest.os.family == "redhat" else "lsinitramfs")
    if lister is None:
        raise RuleFailed(f"{guest.what}: rule {rule}: the guest has no lsinitrd/lsinitramfs to list {image}")
    listing = guest.run(rule, [lister, image])
    return [d for d in REQUIRED_DRIVERS if not re.search(rf"/{d}\.ko(\.xz|\.zst|\.gz)?$", listing, re.MULTILINE)]


def hyperv_drivers_in_initramfs(guest: Guest) -> None:
    """Azure's disks and NICs are Hyper-V devices: the initramfs must hold hv_vmbus and hv_storvsc or the root
    disk is never found. A host-only initramfs (dracut's default) built on VMware has neither. The guest's own
    tool rebuilds it, inside the guest, after the drivers are added to its configuration."""
    rule = "hyperv-drivers-in-initramfs"
    images = initramfs_images(guest)
    if not images:
        raise RuleFailed(f"{guest.what}: rule {rule}: no initramfs under /boot for the kernels in /lib/modules")
    lacking = {image: missing_drivers(guest, rule, image) for image in images}
    if not any(lacking.values()):
        return
    before = {image: guest.describe(image) for image in images}
    if guest.os.family == "redhat":
        guest.write_text(rule, DRACUT_CONF, f'add_drivers+=" {" ".join(HYPERV_DRIVERS)} "\n')
        command = ["dracut", "-f", "--regenerate-all"]
    else:
        modules = guest.read_text("/etc/initramfs-tools/modules") or ""
        listed = {line.strip() for line in modules.splitlines()}
        added = "".join(f"{d}\n" for d in HYPERV_DRIVERS if d not in listed)
        separator = "" if modules.endswith("\n") or not modules else "\n"
        guest.write_text(rule, "/etc/initramfs-tools/modules", modules + separator + added)
        command = ["update-initramfs", "-u", "-k", "all"]
    tool = guest.executable(command[0])
    if tool is None:
        raise RuleFailed(f"{guest.what}: rule {rule}: the guest has no {command[0]} to rebuild its initramfs")
    guest.run_recorded(rule, [tool, *command[1:]], described=images)
    for image in images:
        still = missing_drivers(guest, rule, image)
        if still:
            raise RuleFailed(f"{guest.what}: rule {rule}: {image} still lacks {', '.join(still)} after "
                             f"`{' '.join(command)}`; add them to the guest's initramfs by hand")
        guest.log.change(rule, image, f"{before[image]}; lacks {', '.join(lacking[image])}",
                         f"{guest.describe(image)}; rebuilt by `{' '.join(command)}` in the guest")


def fstab_by_uuid(guest: Guest) -> None:
    """Azure adds a resource disk and orders disks its own way, so /dev/sdX names move: fstab entries on the OS
    disk are rewritten to the filesystem's UUID. Entries on other disks are reported, not guessed."""
    rule = "fstab-by-uuid"
    text = guest.read_text("/etc/fstab")
    if text is None:
        raise RuleFailed(f"{guest.what}: rule {rule}: the guest has no /etc/fstab")
    mountpoints = guest.handle.inspect_get_mountpoints(guest.root)
    lines = []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and _KERNEL_DEVICE.fullmatch(fields[0]):
            device = mountpoints.get(fields[1])
            if device is None and fields[2:3] == ["swap"] and guest.exists(fields[0]):
                device = fields[0]
            if device is not None:
                line = line.replace(fields[0], f"UUID={guest.handle.vfs_uuid(device)}", 1)
            else:
                guest.log.find(rule, f"/etc/fstab names {fields[0]} for {fields[1]}, which is not on the OS disk: "
                                     "left as is; Azure may give that disk another name, mount it by UUID")
        lines.append(line)
    guest.write_text(rule, "/etc/fstab", "".join(lines))


def azure_command_line(arguments: str, family: str) -> str:
    """A kernel command line with Azure's serial console (and rootdelay on dracut guests), without the graphical
    and quiet boot arguments Azure recommends removing."""
    kept = [a for a in arguments.split()
            if a not in UNWANTED_ARGUMENTS and not a.startswith(("console=", "earlyprintk=", "rootdelay="))]
    return " ".join([*kept, *SERIAL_CONSOLE, *([ROOTDELAY] if family == "redhat" else [])])


def serial_console(guest: Guest) -> None:
    """Azure's serial console and boot diagnostics read ttyS0: the kernel must write there. Both the GRUB
    defaults (for the next grub-mkconfig) and the generated boot entries (for the next boot) are changed."""
    rule = "serial-console"
    variable = "GRUB_CMDLINE_LINUX" if guest.os.family == "redhat" else "GRUB_CMDLINE_LINUX_DEFAULT"
    defaults = guest.read_text("/etc/default/grub")
    if defaults is not None:
        pattern = re.compile(rf'^{variable}="([^"]*)"$', re.MULTILINE)
        found = pattern.search(defaults)
        line = f'{variable}="{azure_command_line(found.group(1) if found else "", guest.os.family)}"'
        updated = pattern.sub(line, defaults, count=1) if found else defaults.rstrip("\n") + f"\n{line}\n"
        guest.write_text(rule, "/etc/default/grub", updated)
    entries = [p for p in GRUB_CONFIGS if guest.exists(p)]
    entries += guest.glob("/boot/efi/EFI/*/grub.cfg") + guest.glob("/boot/loader/entries/*.conf")
    if not entries:
        raise RuleFailed(f"{guest.what}: rule {rule}: no GRUB configuration (grub.cfg or loader entries) found")
    for path in entries:
        pattern = _OPTIONS_LINE if path.startswith("/boot/loader/") else _LINUX_LINE
        text = guest.read_text(path) or ""
        lines = []
        for line in text.splitlines(keepends=True):
            match = pattern.match(line.rstrip("\n"))
            if match:
                line = f"{match.group(1)} {azure_command_line(match.group(2), guest.os.family)}\n"
                line = line.replace("  ", " ") if pattern is _OPTIONS_LINE else line
            lines.append(line)
        guest.write_text(rule, path, "".join(lines))


def dhcp_ifcfg() -> str:
    """Azure's eth0 for RHEL-family network-scripts (Azure Migrate's example)."""
    return ("DEVICE=eth0\nONBOOT=yes\nBOOTPROTO=dhcp\nTYPE=Ethernet\nUSERCTL=no\nPEERDNS=yes\nIPV6INIT=no\n"
            "PERSISTENT_DHCLIENT=yes\nNM_CONTROLLED=yes\n")


def dhcp_interfaces(text: str) -> str:
    """/etc/network/interfaces with every interface but lo replaced by eth0 on DHCP."""
    kept, skipping = [], False
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ("auto", "allow-hotplug", "iface", "mapping") and len(words) > 1:
            skipping = words[1] != "lo"
            if skipping:
                continue
        elif skipping and (not line.strip() or line[:1].isspace()):
            continue
        else:
            skipping = False
        kept.append(line)
    return "\n".join(kept).rstrip("\n") + "\n\nallow-hotplug eth0\niface eth0 inet dhcp\n"


NETPLAN_DHCP = ("network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      match:\n"
                "        driver: hv_netvsc\n      set-name: eth0\n")


def network_dhcp(guest: Guest) -> None:
    """Azure gives addresses by DHCP to a NIC of its own (another MAC, named eth0): configurations bound to the
    VMware NIC's name or MAC, or to a static address, leave the VM unreachable."""
    rule = "network-dhcp"
    found = False
    for path in guest.glob("/etc/sysconfig/network-scripts/ifcfg-*"):
        if path.endswith("ifcfg-lo"):
            continue
        found = True
        if not path.endswith("ifcfg-eth0"):
            guest.remove(rule, path)
    if found:
        guest.write_text(rule, "/etc/sysconfig/network-scripts/ifcfg-eth0", dhcp_ifcfg())
    netplans = guest.glob("/etc/netplan/*.yaml")
    if netplans:
        found = True
        for path in netplans:
            if path != "/etc/netplan/50-vmshift-azure.yaml":
                guest.remove(rule, path)
        guest.write_text(rule, "/etc/netplan/50-vmshift-azure.yaml", NETPLAN_DHCP)
    interfaces = guest.read_text("/etc/network/interfaces")
    if interfaces is not None and re.search(r"^iface (?!lo\b)", interfaces, re.MULTILINE):
        found = True
        guest.write_text(rule, "/etc/network/interfaces", dhcp_interfaces(interfaces))
    if not found:
        guest.log.find(rule, "no network-scripts, netplan or ifupdown configuration found: check that the "
                             "guest's network comes up by DHCP on eth0")


def persistent_net_rules_removed(guest: Guest) -> None:
    """udev's persistent-net rules pin interface names to the VMware NIC's MAC; on Azure the NIC would get another
    name and the configuration for eth0 would not apply."""
    rule = "persistent-net-rules-removed"
    for path in guest.glob("/etc/udev/rules.d/*persistent-net.rules"):
        guest.remove(rule, path)


def vmware_tools_disabled(guest: Guest) -> None:
    """VMware Tools have nothing to talk to on Azure: their services are disabled (the links `systemctl enable`
    made are removed), not uninstalled."""
    rule = "vmware-tools-disabled"
    for link in guest.glob("/etc/systemd/system/*.wants/*"):
        if link.rsplit("/", 1)[1] in VMWARE_UNITS:
            guest.remove(rule, link)


def azure_agent_enabled(guest: Guest) -> None:
    """The Azure Linux agent (extensions, password reset) and cloud-init (provisioning) are enabled where the
    guest has them, reported where it does not: nothing is downloaded into a guest."""
    rule = "azure-agent-enabled"
    agent = next((f"{d}/{u}" for u in AGENT_UNITS for d in UNIT_DIRS if guest.exists(f"{d}/{u}")), None)
    if agent is not None:
        unit = agent.rsplit("/", 1)[1]
        wants = f"/etc/systemd/system/multi-user.target.wants/{unit}"
        if not guest.exists(wants) and not guest.is_symlink(wants):
            guest.symlink(rule, wants, agent)
    cloud_init = guest.executable("cloud-init") is not None
    if cloud_init and guest.exists("/etc/cloud/cloud-init.disabled"):
        guest.remove(rule, "/etc/cloud/cloud-init.disabled")
    if agent is None and not cloud_init:
        guest.log.find(rule, "neither the Azure Linux agent (WALinuxAgent) nor cloud-init is installed: the VM "
                             "will boot, but extensions, password reset and provisioning will not work; install "
                             "WALinuxAgent from the distribution before cutover")
    elif agent is None:
        guest.log.find(rule, "cloud-init is installed, the Azure Linux agent is not: extensions will not work")
