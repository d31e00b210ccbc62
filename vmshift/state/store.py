"""State documents as JSON blobs in the cache storage account, each write guarded by the ETag it read."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings
from pydantic import ValidationError

from vmshift.replication.storage import blob_service_client
from vmshift.state import lifecycle
from vmshift.state.document import SCHEMA_VERSION, VmState
from vmshift.state.lifecycle import Actor, Step

DEFAULT_CONTAINER = "vmshift-state"
ADVANCE_ATTEMPTS = 5  # writes of a lifecycle step that lost to another writer of the document


class StateConflict(RuntimeError):
    """Another writer changed the VM's state since we read it; our write was refused, theirs kept."""


class StateSchemaTooNew(RuntimeError):
    """The state was written by a newer vmshift; this one will not guess at it nor overwrite it."""


class StateCorrupt(RuntimeError):
    """The state blob is not a vmshift state document."""


_CORRUPT_LEFT_AS_IS = "it was left as is: restore it from its blob version or delete it to replicate the VM anew"


@dataclass(frozen=True)
class UnreadableState:
    """A VM whose state document could not be read, and why (the error says what to do)."""

    vm: str
    error: str


@dataclass
class StoredState:
    """A state document with the ETag it was read at; save() writes only if nobody wrote since."""

    state: VmState
    etag: str | None  # None: not stored yet


class StateStore:
    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    @classmethod
    def for_account(
        cls, account: str, container: str = DEFAULT_CONTAINER, service: BlobServiceClient | None = None
    ) -> StateStore:
        """The state documents of a cache storage account, reached as configured (`blob_service_client`), or
        through `service` when the caller holds one already (with the key ARM gave, say)."""
        return cls((service or blob_service_client(account)).get_container_client(container))

    def ensure_container(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.container.create_container()

    def blob_name(self, vm: str) -> str:
        return f"{vm}.json"

    def all_states(self) -> tuple[list[VmState], list[UnreadableState]]:
        """Every VM's state document in the container, by VM name; none when the container does not exist.

        A document that cannot be read is returned as unreadable, so that one broken VM does not hide the others.
        """
        try:
            names = sorted(blob.name for blob in self.container.list_blobs() if blob.name.endswith(".json"))
        except ResourceNotFoundError:
            return [], []
        states, unreadable = [], []
        for vm in (name.removesuffix(".json") for name in names):
            try:
                states.append(self.load(vm).state)
            except (StateCorrupt, StateSchemaTooNew) as error:
                unreadable.append(UnreadableState(vm, str(error)))
        return states, unreadable

    def load(self, vm: str) -> StoredState:
        """The VM's state, or a new one (not yet stored) when there is none."""
        blob = self.container.get_blob_client(self.blob_name(vm))
        try:
            download = blob.download_blob()
        except ResourceNotFoundError:
            return StoredState(VmState(vm=vm), None)
        raw = download.readall()
        try:
            document = json.loads(raw)
        except ValueError as error:
            raise StateCorrupt(f"state blob {blob.url} is not JSON ({error}); {_CORRUPT_LEFT_AS_IS}") from None
        version = document.get("schema_version") if isinstance(document, dict) else None
        if not isinstance(version, int):
            raise StateCorrupt(f"state blob {blob.url} has no schema_version; {_CORRUPT_LEFT_AS_IS}")
        if version > SCHEMA_VERSION:
            raise StateSchemaTooNew(
                f"state of {vm} ({blob.url}) has schema version {version}; this vmshift reads up to "
                f"{SCHEMA_VERSION}: upgrade vmshift, the document was left as is"
            )
        try:
            state = VmState.model_validate(document)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
            raise StateCorrupt(f"state blob {blob.url} is not a vmshift state document ({problems}); "
                               f"{_CORRUPT_LEFT_AS_IS}") from None
        return StoredState(state, download.properties.etag)

    def save(self, stored: StoredState) -> StoredState:
        """Write the document if nobody else wrote it since it was read; returns it with its new ETag."""
        blob = self.container.get_blob_client(self.blob_name(stored.state.vm))
        body = stored.state.model_dump_json(indent=1).encode()
        settings = ContentSettings(content_type="application/json")
        try:
            if stored.etag is None:
                result = blob.upload_blob(body, overwrite=False, content_settings=settings)
            else:
                result = blob.upload_blob(
                    body,
                    overwrite=True,
                    content_settings=settings,
                    etag=stored.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except ResourceNotFoundError as error:
            # The account's first document may come from a step before any cycle (a stop while waiting for slots,
            # a block by readiness): its container is made then.
            if stored.etag is not None or error.error_code != "ContainerNotFound":
                raise
            self.ensure_container()
            return self.save(stored)
        except (ResourceExistsError, ResourceModifiedError):
            raise StateConflict(
                f"state of {stored.state.vm} was changed by another writer since it was read "
                f"(ETag {stored.etag}); nothing was overwritten: is another vmshift replicating this VM?"
            ) from None
        stored.etag = result["etag"]
        return stored

    def advance(self, vm: str, step: Step, actor: Actor, *, note: str | None = None,
                as_error: bool = False) -> StoredState:
        """Take a lifecycle step on the VM's stored document (LifecycleRefused: nothing written). A write by
        another writer meanwhile (a delta cycle's checkpoint, say) is read again and the step taken on it; a step
        that leaves the phase as it was writes nothing. `as_error`: the note is also the VM's error (the reasons of
        a block, a stop on request)."""
        def take(state: VmState) -> None:
            lifecycle.advance(state, step, actor, note=note)
            if as_error:
                state.error = note
        return self.update(vm, take, f"its {step}")

    def update(self, vm: str, change: Callable[[VmState], None], what: str) -> StoredState:
        """Make `change` on the VM's stored document and save it. A write by another writer meanwhile is read
        again and the change made on it; a change that leaves the document as it was writes nothing. `what` names
        the change for the message when the document never stops changing."""
        for _ in range(ADVANCE_ATTEMPTS):
            stored = self.load(vm)
            before = stored.state.model_copy(deep=True)
            change(stored.state)
            if stored.state == before:
                return stored
            try:
                return self.save(stored)
            except StateConflict:
                continue
        raise StateConflict(f"state of {vm} kept changing while vmshift recorded {what} ({ADVANCE_ATTEMPTS} "
                            "tries): is a delta cycle of it running? Run the step again")
