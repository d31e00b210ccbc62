"""Wave plans: the CSV schema, its readers (vmshift's own and Azure Migrate's at-scale Input.csv),
and the validation that runs before anything is started."""

from vmshift.plan.checks import OfferedSize, PlanChecks, ReplicationState, StaticChecks
from vmshift.plan.schema import PlanError, PlanFormat, PlanWarning, Wave, WavePlan, WavePlanRow
from vmshift.plan.validation import PlanInvalid, PlanValidation, parse_start_at, validate_plan

__all__ = [
    "OfferedSize",
    "PlanChecks",
    "PlanError",
    "PlanFormat",
    "PlanInvalid",
    "PlanValidation",
    "PlanWarning",
    "ReplicationState",
    "StaticChecks",
    "Wave",
    "WavePlan",
    "WavePlanRow",
    "parse_start_at",
    "validate_plan",
]
