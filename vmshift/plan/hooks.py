"""The hooks an appliance offers: declared in a file its administrator owns, named by the plans.

A wave plan is uploaded by anyone who may schedule a wave, so it carries hook names only, never a command:
what a name runs (a command line or a Prefect deployment) is declared here, on the appliance. A plan naming a
hook the appliance does not declare is refused row by row.

The file is TOML, at `VMSHIFT_HOOKS_FILE` (else /etc/vmshift/hooks.toml when it exists):

    [hooks.quiesce-sql]
    command = ["/opt/vmshift-hooks/quiesce-sql.sh", "--flush"]
    moments = ["pre-test-migration", "pre-cutover"]     # where a plan may use it; empty: every moment
    timeout_seconds = 600

    [hooks.notify-cmdb]
    deployment = "notify-cmdb/prod"                      # a Prefect deployment, run with the VM's facts

Because it runs code as the appliance, the file must belong to root or to the appliance's own account and be
writable by its owner only, as sshd treats its authorized_keys.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vmshift.plan.schema import HookMoment

HOOKS_FILE_ENV = "VMSHIFT_HOOKS_FILE"
DEFAULT_HOOKS_FILE = Path("/etc/vmshift/hooks.toml")
HOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
HOOK_NAME_ALLOWED = "a name of letters, digits, '.', '_', '-' (up to 63)"
DEFAULT_TIMEOUT_S = 900.0
_FIELDS = {"command", "deployment", "moments", "timeout_seconds", "description"}


class HooksFileInvalid(ValueError):
    """The appliance's hooks file cannot be trusted or read; the message names the file and what to fix."""


@dataclass(frozen=True)
class HookDeclaration:
    """One hook of the appliance: a command (argv, no shell) or a Prefect deployment, and where it may run."""

    name: str
    command: tuple[str, ...] | None = None
    deployment: str | None = None
    moments: frozenset[HookMoment] = frozenset(HookMoment)
    timeout_s: float = DEFAULT_TIMEOUT_S
    description: str = ""


@dataclass(frozen=True)
class HookCatalog:
    """The hooks declared on this appliance, by name; `source` names the file for messages."""

    hooks: Mapping[str, HookDeclaration] = field(default_factory=dict)
    source: str = "no hooks file"

    def problem(self, moment: HookMoment, name: str) -> str | None:
        """Why a plan may not run hook `name` at `moment`, or None."""
        hook = self.hooks.get(name)
        if hook is None:
            declared = ", ".join(sorted(self.hooks)) or "none"
            return (f"unknown hook {name!r}: the appliance declares {declared} ({self.source}); allowed: a hook "
                    "its administrator declared there")
        if moment not in hook.moments:
            allowed = ", ".join(sorted(moment.value for moment in hook.moments))
            return f"hook {name!r} is declared for {allowed}, not {moment}; allowed: one of those moments"
        return None

    def __getitem__(self, name: str) -> HookDeclaration:
        return self.hooks[name]

    @classmethod
    def from_env(cls) -> HookCatalog:
        """The appliance's catalog: VMSHIFT_HOOKS_FILE, else /etc/vmshift/hooks.toml, else no hooks at all."""
        configured = os.environ.get(HOOKS_FILE_ENV)
        if configured:
            return load_hooks(Path(configured))
        return load_hooks(DEFAULT_HOOKS_FILE) if DEFAULT_HOOKS_FILE.exists() else cls()


def load_hooks(path: Path) -> HookCatalog:
    """Read and check a hooks file; HooksFileInvalid says what is wrong with it."""
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as error:
        raise HooksFileInvalid(f"hooks file {path}: cannot read it ({error.strerror or error})") from None
    if info.st_uid not in (0, os.geteuid()):
        raise HooksFileInvalid(f"hooks file {path} belongs to user id {info.st_uid}, neither root nor the appliance's "
                               "account: a hook runs as the appliance, so only its administrator may declare one")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.filemode(info.st_mode)
        raise HooksFileInvalid(f"hooks file {path} is writable by its group or by others ({mode}); make it writable "
                               f"by its owner only: chmod go-w {path}")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise HooksFileInvalid(f"hooks file {path} is not TOML: {error}") from None
    unknown = set(document) - {"hooks"}
    if unknown:
        raise HooksFileInvalid(f"hooks file {path}: unknown table(s) {', '.join(sorted(unknown))}; allowed: "
                               "[hooks.NAME]")
    hooks = {}
    for name, body in (document.get("hooks") or {}).items():
        hooks[name] = _declaration(path, name, body)
    return HookCatalog(hooks, f"hooks file {path}")


def _declaration(path: Path, name: str, body: object) -> HookDeclaration:
    where = f"hooks file {path}, hook {name!r}"
    if not HOOK_NAME.fullmatch(name):
        raise HooksFileInvalid(f"{where}: not {HOOK_NAME_ALLOWED}")
    if not isinstance(body, dict):
        raise HooksFileInvalid(f"{where}: write it as a table [hooks.{name}]")
    unknown = set(body) - _FIELDS
    if unknown:
        raise HooksFileInvalid(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: "
                               f"{', '.join(sorted(_FIELDS))}")
    command, deployment = body.get("command"), body.get("deployment")
    if (command is None) == (deployment is None):
        raise HooksFileInvalid(f"{where}: give either command (a list of arguments) or deployment (FLOW/DEPLOYMENT)")
    if command is not None and (not isinstance(command, list) or not command
                                or not all(isinstance(arg, str) and arg for arg in command)):
        raise HooksFileInvalid(f"{where}: command must be a non-empty list of arguments, like "
                               '["/opt/hook.sh", "-v"] (no shell runs it)')
    if deployment is not None and (not isinstance(deployment, str) or deployment.count("/") != 1):
        raise HooksFileInvalid(f"{where}: deployment must be FLOW/DEPLOYMENT, like \"notify-cmdb/prod\"")
    timeout = body.get("timeout_seconds", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise HooksFileInvalid(f"{where}: timeout_seconds must be a number of seconds above 0")
    return HookDeclaration(name, tuple(command) if command else None, deployment, _moments(where, body.get("moments")),
                           float(timeout), str(body.get("description", "")))


def _moments(where: str, given: object) -> frozenset[HookMoment]:
    if given is None or given == []:
        return frozenset(HookMoment)
    if not isinstance(given, list):
        raise HooksFileInvalid(f"{where}: moments must be a list, like [\"pre-cutover\"]")
    allowed = ", ".join(moment.value for moment in HookMoment)
    moments = set()
    for moment in given:
        try:
            moments.add(HookMoment(moment))
        except ValueError:
            raise HooksFileInvalid(f"{where}: {moment!r} is not a moment; allowed: {allowed}") from None
    return frozenset(moments)


def catalog_of(hooks: Iterable[HookDeclaration]) -> HookCatalog:
    """A catalog from declarations made in code (tests, or an appliance that builds its own)."""
    return HookCatalog({hook.name: hook for hook in hooks}, "declared in code")
