"""`make demo`: the lab up, a guest writing into its disk, and what vCenter's CBT reports of it."""

from __future__ import annotations

import json
import os
import secrets

from vmshift.lab import guest, launcher
from vmshift.vsphere.cbt import ALL_ALLOCATED, changed_areas, enable_cbt
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import find_vm, inventory
from vmshift.vsphere.snapshots import create_snapshot, remove_snapshot, snapshot_disks

DEMO_VM = "win-sql-01"
MIB = 2**20


def main() -> None:
    lab = launcher.up(launcher.lab_dir())
    print(f"lab up at {launcher.lab_dir()}: vCenter {lab['vcenter']['url']}")
    os.environ.update(launcher.lab_env(lab))
    with connect(VCenterConfig.from_env()) as session:
        print("\nInventory")
        print(inventory(session).drop(columns=["instance_uuid"]).to_string(index=False))

        vm = find_vm(session, DEMO_VM)
        enable_cbt(session, vm)
        base = create_snapshot(session, vm, "vmshift-demo-base")
        base_disks = {d.key: d for d in snapshot_disks(base)}
        remove_snapshot(session, base)

        writes = [(0, 512 * 1024), (10 * MIB + 4096, 100_000), (40 * MIB, 64 * 1024)]
        for offset, length in writes:
            guest.write_guest(lab, DEMO_VM, offset, secrets.token_bytes(length))
        print(f"\nGuest of {DEMO_VM} wrote {len(writes)} ranges: "
              + ", ".join(f"{length} B at {offset}" for offset, length in writes))

        after = create_snapshot(session, vm, "vmshift-demo-after")
        try:
            report = []
            for key, disk in sorted(base_disks.items()):
                changed = changed_areas(session, vm, after, key, disk.change_id)
                allocated = changed_areas(session, vm, after, key, ALL_ALLOCATED)
                report.append({"disk": key, "since_change_id": disk.change_id,
                               "changed": [[a.start, a.length] for a in changed],
                               "changed_bytes": sum(a.length for a in changed),
                               "allocated_bytes": sum(a.length for a in allocated)})
        finally:
            remove_snapshot(session, after)
    print("\nChanged areas that CBT reports (QueryChangedDiskAreas, 64 KiB blocks)")
    for disk in report:
        print(f"  disk {disk['disk']}: {disk['changed_bytes']} bytes changed since {disk['since_change_id']!r}, "
              f"{disk['allocated_bytes']} bytes allocated")
        for start, length in disk["changed"]:
            print(f"    [{start}, {start + length})")
    print(json.dumps({"vm": DEMO_VM, "disks": report}))


if __name__ == "__main__":
    main()
