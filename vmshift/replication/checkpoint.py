"""Checkpoints: progress through a disk's planned writes, saved so that a killed run resumes, not restarts.

A worker's slot frees only once its write is in a saved checkpoint, so at any moment the writes a
kill would make us redo are at most the `concurrency` ones in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType

from vmshift.replication.extents import DiskExtent, clip, subtract
from vmshift.replication.mover import WriteOutcome
from vmshift.state.document import DiskCheckpoint


class DiskProgress:
    """Which of a disk's planned writes are done, in memory bounded by the writes in flight, not the disk size.

    The plan flows through `track`, in offset order: every write before the lowest one taken and not done yet
    (the watermark) is done; done writes past it are listed until the watermark passes them.
    """

    def __init__(self, planned_bytes: int) -> None:
        self.planned_bytes = planned_bytes
        self.bytes_sent = 0
        self.done_bytes = 0
        self._lock = threading.Lock()
        self._pending: dict[int, DiskExtent] = {}  # taken from the plan, not done yet
        self._done_beyond: set[DiskExtent] = set()  # done, past the lowest pending write
        self._taken_end = 0  # end of the last write taken from the plan
        self._plan_exhausted = False

    @property
    def fraction_done(self) -> float:
        return self.done_bytes / self.planned_bytes if self.planned_bytes else 1.0

    def track(self, writes: Iterable[DiskExtent]) -> Iterator[DiskExtent]:
        """The writes, each noted as pending when taken; the last one is known as last when it is taken (one
        write of look-ahead), so that the checkpoint saved after it says finished."""
        iterator = iter(writes)
        upcoming = next(iterator, None)
        if upcoming is None:
            with self._lock:
                self._plan_exhausted = True
        while upcoming is not None:
            extent, upcoming = upcoming, next(iterator, None)
            with self._lock:
                self._pending[extent.offset] = extent
                self._taken_end = extent.end
                self._plan_exhausted = upcoming is None
            yield extent

    def mark(self, outcome: WriteOutcome) -> None:
        with self._lock:
            self.bytes_sent += outcome.sent
            self.done_bytes += outcome.extent.length
            before = self._watermark()
            del self._pending[outcome.extent.offset]
            self._done_beyond.add(outcome.extent)
            watermark = self._watermark()
            if watermark > before:
                self._done_beyond = {e for e in self._done_beyond if e.offset >= watermark}

    def _watermark(self) -> int:
        return min(self._pending) if self._pending else self._taken_end

    def checkpoint(self) -> DiskCheckpoint:
        with self._lock:
            if self._plan_exhausted and not self._pending:
                return DiskCheckpoint(resume_offset=self._taken_end, finished=True)
            return DiskCheckpoint(
                resume_offset=self._watermark(),
                done_beyond=sorted((e.offset, e.length) for e in self._done_beyond),
            )


def remaining(areas: Sequence[DiskExtent], checkpoint: DiskCheckpoint | None) -> list[DiskExtent]:
    """The parts of areas a checkpoint does not cover yet."""
    if checkpoint is None:
        return list(areas)
    if checkpoint.finished:
        return []
    beyond = clip(areas, checkpoint.resume_offset, 2**63)
    return subtract(beyond, [DiskExtent(o, n) for o, n in checkpoint.done_beyond])


class Checkpointer:
    """Saves a disk's progress from a background thread, batching whatever finished meanwhile."""

    def __init__(self, progress: DiskProgress, save: Callable[[DiskCheckpoint, int], None]) -> None:
        self.progress = progress
        self._save = save
        self._cond = threading.Condition()
        self._generation = 0
        self._saved = 0
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)

    def written(self, outcome: WriteOutcome) -> None:
        """The mover's on_written hook: returns once this write is in a saved checkpoint."""
        with self._cond:
            if self._error is not None:
                raise self._error
            self.progress.mark(outcome)
            self._generation += 1
            mine = self._generation
            self._cond.notify_all()
            while self._saved < mine and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._saved == self._generation and not self._closed:
                    self._cond.wait()
                if self._saved == self._generation:
                    return
                target = self._generation
                checkpoint, sent = self.progress.checkpoint(), self.progress.bytes_sent
            try:
                self._save(checkpoint, sent)
            except BaseException as error:
                with self._cond:
                    self._error = error
                    self._cond.notify_all()
                return
            with self._cond:
                self._saved = target
                self._cond.notify_all()

    def __enter__(self) -> Checkpointer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        if exc is None and self._error is not None:
            raise self._error
