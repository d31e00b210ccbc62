"""Faults on demand for reliability tests: a share of ARM requests, or the next N to one operation,
answer 429 with Retry-After, or 500/503, before anything is changed, as throttling does in Azure."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vmshift.lab.arm.errors import ArmError

_CODES = {429: ("TooManyRequests", "The request is being throttled as the limit has been reached for operation "
                "type. For more information, see https://aka.ms/armthrottling"),
          500: ("InternalServerError", "Encountered internal server error. Diagnostic information: lab fault."),
          503: ("ServiceUnavailable", "The service is currently unavailable. Please try again later.")}


class NextFault(BaseModel):
    """The next `count` requests whose "METHOD /path" matches `operation` (a regex) fail with `status`."""

    model_config = ConfigDict(extra="forbid")
    operation: str
    count: int = Field(ge=1)
    status: int = 429


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: float = Field(default=0.0, ge=0.0, le=1.0)
    statuses: list[int] = Field(default_factory=lambda: [429, 503])
    # Seconds; a fraction is sent as Retry-After-Ms (azure-core honours it) so reliability tests stay short.
    retry_after: float = Field(default=1, ge=0)
    seed: int | None = None
    next: list[NextFault] = Field(default_factory=list)


class Faults:
    """The fault plan in force; set through POST /_lab/faults or VMSHIFT_ARM_FAULTS (same JSON)."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self.injected_by_status: Counter[int] = Counter()
        self.set(plan or FaultPlan())

    def set(self, plan: FaultPlan) -> None:
        for status in [*plan.statuses, *(n.status for n in plan.next)]:
            if status not in _CODES:
                raise ValueError(f"fault status {status} is not one of {sorted(_CODES)}")
        with self._lock:
            self.plan = plan
            self._random = random.Random(plan.seed)

    def describe(self) -> dict[str, Any]:
        return {**self.plan.model_dump(), "injected": sum(self.injected_by_status.values()),
                "injected_by_status": {str(status): n for status, n in sorted(self.injected_by_status.items())}}

    def check(self, method: str, path: str) -> None:
        """Raise the fault this request is due, if any."""
        with self._lock:
            status = self._due(f"{method} {path}")
            if status is None:
                return
            self.injected_by_status[status] += 1
        code, message = _CODES[status]
        headers: dict[str, str] = {}
        if status in (429, 503):
            seconds = self.plan.retry_after
            headers = {"Retry-After": str(int(seconds))} if seconds == int(seconds) else \
                {"Retry-After-Ms": str(int(seconds * 1000))}
        raise ArmError(status, code, message, headers=headers)

    def _due(self, operation: str) -> int | None:
        for fault in self.plan.next:
            if re.search(fault.operation, operation, re.IGNORECASE):
                fault.count -= 1
                if fault.count == 0:
                    self.plan.next.remove(fault)
                return fault.status
        if self.plan.rate and self._random.random() < self.plan.rate:
            return self._random.choice(self.plan.statuses)
        return None
