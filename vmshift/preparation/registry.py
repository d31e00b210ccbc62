"""The Windows guest's registry hives (SYSTEM, SOFTWARE), downloaded from the guest, edited with hivex (Debian's
python3-hivex, seen by the venv as guestfs is) and uploaded back once, with every value change recorded."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

from vmshift.preparation.appliance import debian_module
from vmshift.preparation.guest import Guest

if TYPE_CHECKING:
    import hivex

REG_SZ = 1
REG_EXPAND_SZ = 2
REG_DWORD = 4
HIVE_DIR = "/Windows/System32/config"


class Registry:
    def __init__(self, guest: Guest, work: Path) -> None:
        self.guest = guest
        self.work = work
        self._open: dict[str, hivex.Hivex] = {}
        self._changed: set[str] = set()

    def _hive(self, name: str) -> hivex.Hivex:
        if name not in self._open:
            local = self.work / name
            self.guest.download(f"{HIVE_DIR}/{name}", local)
            self._open[name] = debian_module("hivex").Hivex(str(local), write=True)
        return self._open[name]

    def control_set(self) -> str:
        """The control set Windows boots with (Select\\Current), as CurrentControlSet names it at run time."""
        current = self.get("SYSTEM", "Select", "Current")
        return f"ControlSet{current if isinstance(current, int) else 1:03d}"

    def _node(self, hive: str, path: str, create: bool = False) -> int | None:
        h = self._hive(hive)
        node = h.root()
        for part in path.split("\\"):
            child = h.node_get_child(node, part)
            if not child:
                if not create:
                    return None
                child = h.node_add_child(node, part)
            node = child
        return node

    def has_key(self, hive: str, path: str) -> bool:
        return self._node(hive, path) is not None

    def get(self, hive: str, path: str, name: str) -> int | str | None:
        node = self._node(hive, path)
        if node is None:
            return None
        h = self._hive(hive)
        value = h.node_get_value(node, name)
        if not value:
            return None
        kind, _ = h.value_type(value)
        if kind == REG_DWORD:
            return h.value_dword(value)
        if kind in (REG_SZ, REG_EXPAND_SZ):
            return h.value_string(value)
        return h.value_value(value)[1].hex()

    def set(self, rule: str, hive: str, path: str, name: str, value: int | str) -> None:
        """Set a DWORD or string value (creating its key), recording the change when the value differs."""
        before = self.get(hive, path, name)
        if before == value:
            return
        h = self._hive(hive)
        node = self._node(hive, path, create=True)
        if isinstance(value, int):
            data = {"key": name, "t": REG_DWORD, "value": struct.pack("<I", value)}
        else:
            data = {"key": name, "t": REG_SZ, "value": (value + "\0").encode("utf-16-le")}
        h.node_set_value(node, data)
        self._changed.add(hive)
        self.guest.log.change(rule, f"{HIVE_DIR}/{hive}", None if before is None else str(before), str(value),
                              setting=f"HKLM\\{hive}\\{path}\\{name}")

    def save(self) -> None:
        """Write the changed hives back into the guest."""
        for name in sorted(self._changed):
            local = self.work / name
            self._open[name].commit(str(local))
            self.guest.upload(local, f"{HIVE_DIR}/{name}")
        self._changed.clear()
