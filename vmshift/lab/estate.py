"""A generated estate at scale: N VMs over two vCenters, 8 ESXi hosts and 6 datastores, with small sparse disks.

    vmshift lab up --spec estate:500              # the lab with it
    python -m vmshift.lab.estate 500 > spec.json  # the spec, to look at or change
    python -m vmshift.lab.estate 500 --plan       # a one-wave plan of it (examples/estate-500-waves.csv)

The VMs are spread round-robin over the vCenters, then over each vCenter's hosts and datastores, so that every
host and datastore carries its share and a wave over them meets every limit. The Azure side is the default
spec's. Names are stable: `estate:500` is the same estate on every machine, and examples/estate-500-waves.csv
plans it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

DEFAULT_SPEC = Path(__file__).parent / "specs" / "default.json"
VCENTERS = ("vcenter-a.lab.local", "vcenter-b.lab.local")
HOSTS_PER_VCENTER = 4
DATASTORES_PER_VCENTER = 3
DISK_MIB = 16  # sparse: a disk costs its written blocks, not its capacity
MAX_VMS = 2000
# (guest id, firmware): Linux and Windows guests, BIOS and EFI, as an estate mixes them.
GUESTS = (("rhel8_64Guest", "efi"), ("ubuntu64Guest", "bios"), ("windows2019srv_64Guest", "efi"),
          ("windows2016srv_64Guest", "bios"))
PLAN_COLUMNS = ("wave", "source_vm", "vcenter", "target_subscription", "region", "resource_group", "target_vm_name",
                "cache_storage_account", "target_vnet", "target_subnet", "os_type", "disk_type", "start_time")
PLAN_START = "2031-03-01T20:00:00Z"


class EstateInvalid(ValueError):
    """The estate's size is not a number of VMs vmshift can generate."""


def estate_spec(vms: int | str) -> dict:
    """The lab spec (as JSON data) of an estate of `vms` VMs; `vms` may be the text after `estate:`."""
    count = _count(vms)
    azure = json.loads(DEFAULT_SPEC.read_text(encoding="utf-8"))["azure"]
    vcenters = [_vcenter(index, name) for index, name in enumerate(VCENTERS)]
    for number in range(1, count + 1):
        vcenter = vcenters[(number - 1) % len(vcenters)]
        place = (number - 1) // len(vcenters)
        hosts = [host for cluster in vcenter["clusters"] for host in cluster["hosts"]]
        guest_id, firmware = GUESTS[place % len(GUESTS)]
        vcenter["vms"].append({
            "name": vm_name(number), "guest_id": guest_id, "firmware": firmware, "cpus": 1, "memory_mib": 1024,
            "power_state": "poweredOn", "host": hosts[place % len(hosts)],
            "datastore": vcenter["datastores"][place % len(vcenter["datastores"])]["name"],
            "disks": [{"capacity_mib": DISK_MIB}], "nics": [{"network": "VM Network"}],
        })
    return {"vcenters": vcenters, "azure": azure}


def estate_plan(vms: int | str, wave: str = "estate-1") -> list[dict[str, str]]:
    """A wave plan of the whole estate in one wave: each row names its VM's vCenter (the `vcenter` column), as a
    plan over several vCenters must where a name could be in both."""
    spec = estate_spec(vms)
    azure = spec["azure"]
    account = next(a["name"] for a in azure["storage_accounts"] if a["kind"] == "StorageV2")
    return [{"wave": wave, "source_vm": vm["name"], "vcenter": vcenter["name"],
             "target_subscription": azure["subscription_id"], "region": "westeurope", "resource_group": "rg-target",
             "target_vm_name": vm["name"], "cache_storage_account": account, "target_vnet": "vnet-target",
             "target_subnet": "snet-app", "os_type": "windows" if vm["guest_id"].startswith("windows") else "linux",
             "disk_type": "StandardSSD_LRS", "start_time": PLAN_START}
            for vcenter in spec["vcenters"] for vm in vcenter["vms"]]


def vm_name(number: int) -> str:
    """The estate's VM number `number` (from 1): `est-0001`...; its vCenter is VCENTERS[(number - 1) % 2]."""
    return f"est-{number:04d}"


def _vcenter(index: int, name: str) -> dict:
    letter = "ab"[index]
    return {
        "name": name, "datacenter": f"DC-{letter.upper()}", "user": "svc-vmshift@vsphere.local",
        "clusters": [{"name": f"Cluster-{letter.upper()}",
                      "hosts": [f"esx-{letter}{h:02d}.lab.local" for h in range(1, HOSTS_PER_VCENTER + 1)]}],
        "datastores": [{"name": f"ds-{letter}{d:02d}", "capacity_gib": 4096}
                       for d in range(1, DATASTORES_PER_VCENTER + 1)],
        "networks": ["VM Network"],
        "vms": [],
    }


def _count(vms: int | str) -> int:
    try:
        count = int(vms)
    except ValueError:
        raise EstateInvalid(f"an estate is `estate:<number of VMs>`, not estate:{vms}") from None
    if not 1 <= count <= MAX_VMS:
        raise EstateInvalid(f"an estate has 1 to {MAX_VMS} VMs, not {count}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vms", help="how many VMs")
    parser.add_argument("--plan", action="store_true", help="print a wave plan (CSV) of the estate, not its spec")
    args = parser.parse_args(argv)
    try:
        if args.plan:
            writer = csv.DictWriter(sys.stdout, PLAN_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(sorted(estate_plan(args.vms), key=lambda row: row["source_vm"]))
            return 0
        json.dump(estate_spec(args.vms), sys.stdout, indent=1)
    except EstateInvalid as error:
        print(f"vmshift.lab.estate: {error}", file=sys.stderr)
        return 2
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
