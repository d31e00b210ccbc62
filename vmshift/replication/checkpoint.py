"""Checkpoints: progress through a disk's planned writes, saved so that a killed run resumes, not restarts.

A worker's slot frees only once its write is in a saved checkpoint, so at any moment the writes a
kill would make us redo are at most the `concurrency` ones in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from types import TracebackType

from vmshift.replication.extents import DiskExtent, clip, subtract, total_bytes
from vmshift.replication.mover import WriteOutcome
from vmshift.state.document import DiskCheckpoint


class DiskProgress:
    """Which of a disk's planned writes (sorted by offset) are done."""

    def __init__(self, writes: Sequence[DiskExtent]) -> None:
        self.writes = list(writes)
        self._index = {extent.offset: i for i, extent in enumerate(self.writes)}
        self._watermark = 0  # writes[:watermark] are all done
        self._done_beyond: set[int] = set()
        self.bytes_sent = 0
        self.planned_bytes = total_bytes(self.writes)
        self.done_bytes = 0

    @property
    def fraction_done(self) -> float:
        return self.done_bytes / self.planned_bytes if self.planned_bytes else 1.0

    def mark(self, outcome: WriteOutcome) -> None:
        self.bytes_sent += outcome.sent
        self.done_bytes += outcome.extent.length
        self._done_beyond.add(self._index[outcome.extent.offset])
        while self._watermark in self._done_beyond:
            self._done_beyond.remove(self._watermark)
            self._watermark += 1

    def checkpoint(self) -> DiskCheckpoint:
        if self._watermark == len(self.writes):
            end = self.writes[-1].end if self.writes else 0
            return DiskCheckpoint(resume_offset=end, finished=True)
        return DiskCheckpoint(
            resume_offset=self.writes[self._watermark].offset,
            done_beyond=sorted((self.writes[i].offset, self.writes[i].length) for i in self._done_beyond),
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
