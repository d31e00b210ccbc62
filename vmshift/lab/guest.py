"""The guest side of the lab's VMs: writes into a VM's disk as its running OS would, through the lab vCenter's
/vmshift-lab/ endpoint, so that CBT records them and snapshots see them as on vSphere."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, urlparse

import requests


class GuestWriteFailed(RuntimeError):
    """The lab vCenter refused the guest write (VM off, unknown disk, write past the end...)."""


def _vcenter(lab: dict, name: str | None) -> dict:
    """The lab's vCenter of that name (lab.json `vcenters`), or its first one."""
    if name is None:
        return lab["vcenter"]
    try:
        return lab["vcenters"][name]
    except KeyError:
        raise GuestWriteFailed(f"the lab has no vCenter {name!r}; it has {', '.join(lab.get('vcenters', {}))}") \
            from None


def _post(lab: dict, vm: str, operation: str, params: dict, data: bytes = b"", vcenter_name: str | None = None) -> dict:
    vcenter = _vcenter(lab, vcenter_name)
    url = urlparse(vcenter["url"])
    response = requests.post(
        f"{url.scheme}://{url.netloc}/vmshift-lab/vms/{quote(vm, safe='')}/{operation}", params=params, data=data,
        auth=(vcenter["user"], vcenter["password"]), verify=lab["ca_file"], timeout=300,
    )
    if response.status_code != 200:
        try:
            reason = response.json()["error"]
        except (ValueError, KeyError):
            reason = response.text
        raise GuestWriteFailed(f"guest {operation} on {vm} refused ({response.status_code}): {reason}")
    return response.json()


def write_guest(
    lab: dict, vm: str, offset: int, data: bytes, disk_key: int | None = None, vcenter: str | None = None
) -> dict:
    """Write bytes at an offset of a VM's disk (its first disk unless disk_key); returns vm, disk, offset, length.
    `vcenter`: the VM's vCenter, by name, in a lab of several (default: the first)."""
    params: dict = {"offset": offset}
    if disk_key is not None:
        params["disk"] = disk_key
    return _post(lab, vm, "write", params, data, vcenter)


def churn_guest(lab: dict, vm: str, percent: float, seed: int | None = None, vcenter: str | None = None) -> dict:
    """Random 4 KiB writes over `percent` % of each of the VM's disks; returns vm, bytes_written (and per disk)."""
    params: dict = {"percent": percent}
    if seed is not None:
        params["seed"] = seed
    return _post(lab, vm, "churn", params, vcenter_name=vcenter)


def set_consolidation_needed(lab: dict, vm: str, needed: bool) -> dict:
    """Make vCenter report (or stop reporting) that the VM's disks need consolidation, as after a failed
    snapshot removal; powered on or off. Returns vm, consolidation_needed. ConsolidateVMDisks_Task clears it."""
    return _post(lab, vm, "consolidation-needed", {"value": "true" if needed else "false"})


def set_guest_shutdown(lab: dict, vm: str, behaviour: Literal["normal", "ignore", "no-tools"]) -> dict:
    """Choose how the VM's guest answers ShutdownGuest, to exercise cutover's fallbacks: "ignore" takes the
    request and never stops (a hung guest), "no-tools" has no VMware Tools, so vCenter refuses the call with
    ToolsUnavailable and shows the tools not installed; "normal" shuts down. Kept across lab restarts.
    Returns vm, guest_shutdown."""
    return _post(lab, vm, "guest-shutdown", {"value": behaviour})
