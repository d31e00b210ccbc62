"""The lab spec: the vCenter estate and the Azure subscription a migration team finds on day one.

Validated strictly before anything starts, so that a typo never becomes a half-started lab.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vmshift.lab.arm.seed import AzureSpec

DEFAULT_SPEC = Path(__file__).parent / "specs" / "default.json"


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


class VCenterSpec(_Strict):
    datacenter: str = Field(min_length=1)
    user: str = Field(min_length=1)
    clusters: list[ClusterSpec] = Field(min_length=1)
    datastores: list[DatastoreSpec] = Field(min_length=1)
    networks: list[str] = Field(default_factory=list)
    vms: list[VmSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> VCenterSpec:
        problems: list[str] = []
        hosts = {h for c in self.clusters for h in c.hosts}
        datastores = {d.name for d in self.datastores}
        seen: set[str] = set()
        for index, vm in enumerate(self.vms):
            where = f"vcenter.vms[{index}] ({vm.name})"
            if vm.name in seen:
                problems.append(f"{where}.name: duplicate VM name {vm.name!r}; VM names must be unique")
            seen.add(vm.name)
            if vm.host not in hosts:
                problems.append(f"{where}.host: unknown host {vm.host!r}; known: {sorted(hosts)}")
            if vm.datastore not in datastores:
                problems.append(f"{where}.datastore: unknown datastore {vm.datastore!r}; known: {sorted(datastores)}")
            for nic_index, nic in enumerate(vm.nics):
                if self.networks and nic.network not in self.networks:
                    problems.append(
                        f"{where}.nics[{nic_index}].network: unknown network {nic.network!r}; "
                        f"known: {self.networks}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LabSpec(_Strict):
    vcenter: VCenterSpec
    azure: AzureSpec | None = None


def load_spec(path: Path | None = None) -> LabSpec:
    """Read and validate a lab spec; every problem is named with its place in the file."""
    path = path or DEFAULT_SPEC
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LabSpecInvalid(f"lab spec {path}: no such file") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabSpecInvalid(f"lab spec {path}: not valid UTF-8 JSON ({exc})") from exc
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
