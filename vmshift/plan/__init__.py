"""Wave plans: the CSV schema, its readers (vmshift's own and Azure Migrate's at-scale Input.csv),
and the validation that runs before anything is started."""

from vmshift.plan.checks import (
    CacheAccountStates,
    LiveChecks,
    OfferedSize,
    PlanChecks,
    ReplicationState,
    SourceVm,
    StaticChecks,
    live_checks_from_env,
)
from vmshift.plan.schema import PlanError, PlanFormat, PlanWarning, Wave, WavePlan, WavePlanRow
from vmshift.plan.validation import PlanInvalid, PlanValidation, parse_start_at, validate_plan

__all__ = [
    "CacheAccountStates",
    "LiveChecks",
    "OfferedSize",
    "PlanChecks",
    "PlanError",
    "PlanFormat",
    "PlanInvalid",
    "PlanValidation",
    "PlanWarning",
    "ReplicationState",
    "SourceVm",
    "StaticChecks",
    "Wave",
    "WavePlan",
    "WavePlanRow",
    "live_checks_from_env",
    "parse_start_at",
    "validate_plan",
]
