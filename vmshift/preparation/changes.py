"""What preparation did to a guest: every change with its rule, the file, and what it was before and after, and
what it found and left alone. It goes into the test-migration and cutover reports, and the byte verification
holds the Azure disk to the source plus exactly these changes."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


class Change(BaseModel):
    """One change: `path` is the file in the guest; `setting` the registry value or line inside it, when the
    change is one setting of a larger file. `before`/`after` are None for a file created or removed; binary files
    are shown by size and SHA-256."""

    model_config = ConfigDict(frozen=True)

    rule: str
    path: str
    setting: str | None = None
    before: str | None
    after: str | None


class Finding(BaseModel):
    """Something a rule saw and did not change, for a person to act on (an agent missing, an fstab entry on a
    disk outside the view...)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    message: str


class GuestOs(BaseModel):
    """What inspection found: `family` decides the rules ("redhat", "debian" or "windows")."""

    model_config = ConfigDict(frozen=True)

    type: str
    distro: str
    family: str
    product: str
    major: int
    minor: int
    arch: str
    hostname: str


@dataclass
class ChangeLog:
    """Changes and findings as the rules make them."""

    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def change(self, rule: str, path: str, before: str | None, after: str | None, setting: str | None = None) -> None:
        if before != after:
            self.changes.append(Change(rule=rule, path=path, setting=setting, before=before, after=after))

    def find(self, rule: str, message: str) -> None:
        self.findings.append(Finding(rule=rule, message=message))
