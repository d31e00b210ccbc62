"""The lab spec: the vCenter estate and the Azure subscription a migration team finds on day one.

Validated strictly before anything starts, so that a typo never becomes a half-started lab.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vmshift.lab.arm.seed import AzureSpec
from vmshift.lab.estate import EstateInvalid, estate_spec
from vmshift.lab.guests import GuestImage

DEFAULT_SPEC = Path(__file__).parent / "specs" / "default.json"
DEFAULT_VCENTER_NAME = "vcenter.lab.local"
ESTATE_PREFIX = "estate:"  # `--spec estate:500`: a generated estate of that many VMs (vmshift.lab.estate)
# The role an administrator imports into vCenter for vmshift, as docs/permissions.md tells: the lab's user
# holds it unless the spec says otherwise, so that everything run on the lab proves the role is enough.
DOCUMENTED_VCENTER_ROLE = Path(__file__).resolve().parents[2] / "docs" / "roles" / "vcenter-role.json"


class LabSpecInvalid(ValueError):
    """The lab spec cannot be used; the message lists every problem with its place in the file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterSpec(_Strict):
    name: str = Field(min_length=1)
    hosts: list[str] = Field(min_length=1)


class DatastoreSpec(_Strict):
    name: str = Field(min_length=1)
    capacity_gib: int = Field(gt=0)


class DiskSpec(_Strict):
    capacity_mib: int = Field(gt=0)
    # A lab guest the disk starts with (vmshift/lab/guests): an installed OS with real filesystems; else zeros.
    image: GuestImage | None = None


class NicSpec(_Strict):
    network: str = Field(min_length=1)


class VmSpec(_Strict):
    name: str = Field(min_length=1, max_length=80)
    guest_id: str = Field(min_length=1)
    firmware: Literal["bios", "efi"]
    cpus: int = Field(gt=0, le=768)
    memory_mib: int = Field(gt=0)
    power_state: Literal["poweredOn", "poweredOff"] = "poweredOn"
    host: str
    datastore: str
    disks: list[DiskSpec] = Field(min_length=1)
    nics: list[NicSpec] = Field(default_factory=list)


class VCenterRoleSpec(_Strict):
    """The role the lab's vCenter user holds on the root folder, propagated to every object. Written as a name:
    "vmshift" (the documented role, the default) or a vCenter system role ("Admin", "ReadOnly"); or as
    {"name", "privileges"} for a role of one's own (the lab vCenter refuses a privilege it does not know)."""

    name: str = Field(min_length=1)
    privileges: list[str] | None = None  # None: vCenter's system role of that name

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        if value == "vmshift":
            documented = json.loads(DOCUMENTED_VCENTER_ROLE.read_text(encoding="utf-8"))
            return {"name": documented["name"], "privileges": documented["privileges"]}
        return {"name": value} if isinstance(value, str) else value


class VCenterSpec(_Strict):
    # How vmshift and a plan's `vcenter` column name this vCenter: its host name, as vCenter's own certificate
    # and Azure Migrate's appliance know it (the lab serves it on 127.0.0.1 under this name).
    name: str = Field(default=DEFAULT_VCENTER_NAME, pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
    datacenter: str = Field(min_length=1)
    user: str = Field(min_length=1)
    role: VCenterRoleSpec = Field(default_factory=lambda: VCenterRoleSpec.model_validate("vmshift"))
    clusters: list[ClusterSpec] = Field(min_length=1)
    datastores: list[DatastoreSpec] = Field(min_length=1)
    networks: list[str] = Field(default_factory=list)
    vms: list[VmSpec] = Field(default_factory=list)

    def problems(self, where: str) -> list[str]:
        """What does not resolve in this vCenter's inventory, each named from `where` (its place in the spec)."""
        problems: list[str] = []
        hosts = {h for c in self.clusters for h in c.hosts}
        datastores = {d.name for d in self.datastores}
        seen: set[str] = set()
        for index, vm in enumerate(self.vms):
            at = f"{where}.vms[{index}] ({vm.name})"
            if vm.name in seen:
                problems.append(f"{at}.name: duplicate VM name {vm.name!r}; VM names must be unique in a vCenter")
            seen.add(vm.name)
            if vm.host not in hosts:
                problems.append(f"{at}.host: unknown host {vm.host!r}; known: {sorted(hosts)}")
            if vm.datastore not in datastores:
                problems.append(f"{at}.datastore: unknown datastore {vm.datastore!r}; known: {sorted(datastores)}")
            for nic_index, nic in enumerate(vm.nics):
                if self.networks and nic.network not in self.networks:
                    problems.append(
                        f"{at}.nics[{nic_index}].network: unknown network {nic.network!r}; known: {self.networks}"
                    )
        return problems


class LabSpec(_Strict):
    """One vCenter (`vcenter`) or several (`vcenters`, each with its own name, inventory and user)."""

    vcenter: VCenterSpec | None = None
    vcenters: list[VCenterSpec] | None = Field(default=None, min_length=1)
    azure: AzureSpec | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> LabSpec:
        if (self.vcenter is None) == (self.vcenters is None):
            raise ValueError("give the vCenter as `vcenter`, or several as `vcenters`, not both nor neither")
        problems = self.vcenter.problems("vcenter") if self.vcenter else []
        names: set[str] = set()
        for index, vcenter in enumerate(self.vcenters or ()):
            where = f"vcenters[{index}] ({vcenter.name})"
            if vcenter.name in names:
                problems.append(f"{where}.name: duplicate vCenter name {vcenter.name!r}; each vCenter has its own")
            names.add(vcenter.name)
            problems += vcenter.problems(where)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def all_vcenters(self) -> list[VCenterSpec]:
        """Every vCenter of the lab, the first being the one `VMSHIFT_VCENTER_*` names."""
        return self.vcenters or [self.vcenter]  # type: ignore[list-item]  # one of them is set (validated)


def load_spec(path: Path | None = None) -> LabSpec:
    """Read and validate a lab spec; every problem is named with its place in the file. `estate:N` (in place
    of a file) generates an estate of N VMs over two vCenters (vmshift.lab.estate)."""
    path = path or DEFAULT_SPEC
    if str(path).startswith(ESTATE_PREFIX):
        try:
            raw = estate_spec(str(path).removeprefix(ESTATE_PREFIX))
        except EstateInvalid as exc:
            raise LabSpecInvalid(f"lab spec {path}: {exc}") from None
        return _validated(raw, path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LabSpecInvalid(f"lab spec {path}: no such file") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabSpecInvalid(f"lab spec {path}: not valid UTF-8 JSON ({exc})") from exc
    return _validated(raw, path)


def _validated(raw: object, path: Path) -> LabSpec:
    try:
        return LabSpec.model_validate(raw)
    except ValidationError as exc:
        raise LabSpecInvalid(f"lab spec {path}:\n" + _describe(exc, raw)) from None


def _describe(error: ValidationError, raw: object) -> str:
    lines = []
    for item in error.errors():
        location = _location(item["loc"], raw)
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field; remove it or check its spelling"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        lines.append(f"  {location}: {message}" if location else f"  {message}")
    return "\n".join(lines)


def _location(loc: tuple[int | str, ...], raw: object) -> str:
    """Render a pydantic location as `vcenter.vms[1] (win-sql-01).disks[0]`, naming VMs by name."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            parts[-1] += f"[{key}]"
            node = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                parts[-1] += f" ({node['name']})"
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts)
