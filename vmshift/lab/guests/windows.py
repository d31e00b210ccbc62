"""A Windows-like lab guest: an NTFS system disk that libguestfs inspection recognises as Windows Server 2019
(SYSTEM and SOFTWARE hives, a PE file at /Windows/System32/cmd.exe), set up as a VMware install leaves it: SAN
policy OfflineShared, the Hyper-V storage and network drivers not started at boot, RDP denied and its firewall
rule off, VMware Tools running, no Azure VM agent. It does not boot (there is no Windows in it): the Windows rules
are checked on its registry."""

from __future__ import annotations

import struct
from pathlib import Path

from vmshift.lab.guests.disk_image import MIB, NTFS, Partition, create_image
from vmshift.lab.guests.hives import RegistryValue, build_hive
from vmshift.preparation.appliance import new_handle

DISK_MIB = 64
DISK_ID = 0x5D1C7A01
HOSTNAME = "WIN-LAB-01"
_RDP_RULE = ("v2.28|Action=Allow|Active=FALSE|Dir=In|Protocol={protocol}|LPort=3389|"
             "App=%SystemRoot%\\system32\\svchost.exe|Svc=termservice|Name=@FirewallAPI.dll,-{name}|"
             "Desc=@FirewallAPI.dll,-28756|EmbedCtxt=@FirewallAPI.dll,-28752|")
SERVICES = "ControlSet001\\Services"


def _driver(image: str, start: int, group: str) -> dict[str, RegistryValue]:
    return {"Start": start, "Type": 1, "ErrorControl": 1, "ImagePath": f"System32\\drivers\\{image}", "Group": group}


def system_hive_keys() -> dict[str, dict[str, RegistryValue]]:
    system_partition = struct.pack("<IQ", DISK_ID, MIB)  # MountedDevices: disk signature and partition offset
    return {
        "Select": {"Current": 1, "Default": 1, "LastKnownGood": 1, "Failed": 0},
        "MountedDevices": {"\\DosDevices\\C:": system_partition},
        "ControlSet001\\Control\\ComputerName\\ComputerName": {"ComputerName": HOSTNAME},
        "ControlSet001\\Control\\Terminal Server": {"fDenyTSConnections": 1},
        "ControlSet001\\Control\\Terminal Server\\WinStations\\RDP-Tcp": {"PortNumber": 3389},
        f"{SERVICES}\\Tcpip\\Parameters": {"Hostname": HOSTNAME, "Domain": ""},
        f"{SERVICES}\\partmgr\\Parameters": {"SanPolicy": 2},
        f"{SERVICES}\\storvsc": _driver("storvsc.sys", 3, "SCSI miniport"),
        f"{SERVICES}\\vmbus": _driver("vmbus.sys", 3, "System Bus Extender"),
        f"{SERVICES}\\netvsc": _driver("netvsc.sys", 4, "NDIS"),
        f"{SERVICES}\\Dhcp": {"Start": 3, "Type": 0x20,
                              "ImagePath": "%SystemRoot%\\system32\\svchost.exe -k LocalServiceNetworkRestricted -p"},
        f"{SERVICES}\\VMTools": {"Start": 2, "Type": 0x10, "DisplayName": "VMware Tools",
                                 "ImagePath": '"C:\\Program Files\\VMware\\VMware Tools\\vmtoolsd.exe"'},
        f"{SERVICES}\\VGAuthService": {"Start": 2, "Type": 0x10,
                                       "DisplayName": "VMware Alias Manager and Ticket Service",
                                       "ImagePath": '"C:\\Program Files\\VMware\\VMware Tools\\VMware VGAuth'
                                                    '\\VGAuthService.exe"'},
        f"{SERVICES}\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules": {
            "RemoteDesktop-UserMode-In-TCP": _RDP_RULE.format(protocol=6, name=28775),
            "RemoteDesktop-UserMode-In-UDP": _RDP_RULE.format(protocol=17, name=28776),
        },
    }


def software_hive_keys() -> dict[str, dict[str, RegistryValue]]:
    return {
        "Microsoft\\Windows NT\\CurrentVersion": {
            "ProductName": "Windows Server 2019 Datacenter", "CurrentVersion": "6.3",
            "CurrentMajorVersionNumber": 10, "CurrentMinorVersionNumber": 0, "CurrentBuild": "17763",
            "CurrentBuildNumber": "17763", "EditionID": "ServerDatacenter", "InstallationType": "Server",
            "SystemRoot": "C:\\Windows",
        },
        "Microsoft\\Windows\\CurrentVersion\\Uninstall\\{3E2A5E9F-6D4C-4F0B-9C1A-7D1B2E3F4A5B}": {
            "DisplayName": "VMware Tools", "Publisher": "VMware, Inc.", "DisplayVersion": "12.3.5.22544099",
        },
    }


def pe_file(subsystem: int = 3) -> bytes:
    """The smallest x86-64 PE image `file` (and so libguestfs) recognises: MZ header, PE signature, COFF header,
    PE32+ optional header."""
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x8664, 0, 0x5E000000, 0, 0, 0xF0, 0x22)
    optional = bytearray(0xF0)
    struct.pack_into("<H", optional, 0, 0x20B)  # PE32+
    struct.pack_into("<H", optional, 68, subsystem)
    return bytes(dos) + coff + bytes(optional)


def build_image(image: Path, work: Path) -> None:
    """The NTFS system disk, filled through libguestfs (no mount on this machine)."""
    files: dict[str, bytes] = {}
    for name, keys in (("SYSTEM", system_hive_keys()), ("SOFTWARE", software_hive_keys())):
        build_hive(work / name, name, keys)
        files[f"/Windows/System32/config/{name}"] = (work / name).read_bytes()
    for path in ("/Windows/System32/cmd.exe", "/Windows/System32/drivers/storvsc.sys",
                 "/Windows/System32/drivers/vmbus.sys", "/Windows/System32/drivers/netvsc.sys",
                 "/Program Files/VMware/VMware Tools/vmtoolsd.exe"):
        files[path] = pe_file(1 if path.endswith(".sys") else 3)
    create_image(image, DISK_MIB * MIB, [Partition(MIB, (DISK_MIB - 1) * MIB, NTFS, bootable=True)], DISK_ID)
    handle = new_handle()
    try:
        handle.add_drive_opts(str(image), format="raw")
        handle.launch()
        handle.mkfs("ntfs", "/dev/sda1", label="Windows")
        handle.mount("/dev/sda1", "/")
        for path, data in files.items():
            handle.mkdir_p(str(Path(path).parent))
            handle.write(path, data)
        handle.umount_all()
        handle.shutdown()
    finally:
        handle.close()
