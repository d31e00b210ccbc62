"""A test migration's recovery point by cycle or time; an assessment's sizes and disk types filling a plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from plan_helpers import errors_at

from vmshift.plan.recovery_point import RecoveryPointChoice, RecoveryPointInvalid, parse_recovery_point
from vmshift.plan.schema import DiskType
from vmshift.state.document import RecoveryPoint

DATA = Path(__file__).parent / "data"
START = datetime(2031, 1, 16, 8, 0, tzinfo=UTC)


def points() -> list[RecoveryPoint]:
    """Cycles 1 to 4, an hour apart; the source snapshot of each taken five minutes before the cycle ended."""
    return [RecoveryPoint(cycle=n, created_at=START + timedelta(hours=n),
                          source_snapshot_time=START + timedelta(hours=n, minutes=-5),
                          blob_snapshots={"2000": f"snap-{n}"}, change_ids={"2000": f"52 {n}"})
            for n in range(1, 5)]


@pytest.mark.parametrize(
    ("text", "cycle"),
    [(None, 4), ("", 4), ("latest", 4), ("LATEST", 4), ("cycle:2", 2), ("2", 2), ("Cycle:3", 3),
     ("2031-01-16T10:55:00Z", 3), ("2031-01-16T10:54:59Z", 2), ("2031-01-16T11:55:00+00:00", 4),
     ("2031-01-16T11:54:59+01:00", 2), ("2032-01-01T00:00:00Z", 4)],
)
def test_a_test_migration_takes_the_recovery_point_asked_for(text, cycle):
    assert parse_recovery_point(text).choose(points(), "win-sql-01").cycle == cycle


@pytest.mark.parametrize("text", ["yesterday", "cycle:", "cycle:-1", "2031-01-16T10:55:00", "1.5", "cycle 2"])
def test_a_recovery_point_not_written_as_one_says_what_is_allowed(text):
    with pytest.raises(RecoveryPointInvalid, match=r"allowed: latest|no time zone"):
        parse_recovery_point(text)


@pytest.mark.parametrize(("choice", "message"), [(RecoveryPointChoice(cycle=9), "no recovery point cycle:9"),
                                                 (RecoveryPointChoice(at=START), "no recovery point 2031-01-16")])
def test_a_point_the_vm_does_not_have_is_refused_naming_those_it_has(choice, message):
    with pytest.raises(RecoveryPointInvalid, match=message) as refused:
        choice.choose(points(), "win-sql-01")

    assert "cycle:1 (2031-01-16T08:55:00+00:00)" in str(refused.value) and "cycle:4" in str(refused.value)


def test_a_vm_without_points_cannot_be_test_migrated():
    with pytest.raises(RecoveryPointInvalid, match="initial replication has not finished"):
        RecoveryPointChoice().choose([], "win-sql-01")


def test_an_assessment_fills_the_size_and_disk_types_a_plan_leaves_empty(validate_example):
    result = validate_example({2: {"vm_size": "", "disks": "1;2:StandardSSD_LRS", "disk_type": ""},
                               3: {"vm_size": "", "disk_type": ""}, 4: {"vm_size": ""}},
                              assessment=DATA / "assessment.csv")

    sql, web = result.plan.waves[0].vms
    app = result.plan.waves[1].vms[0]
    assert sql.vm_size == "Standard_E4s_v5"  # the first of its rows: a vmshift plan names no assessment
    assert [(d.number, d.disk_type) for d in sql.disks] == [(1, DiskType.PREMIUM_LRS), (2, DiskType.STANDARD_SSD_LRS)]
    assert web.vm_size == "Standard_D2as_v5" and web.disk_type_of(1) is DiskType.STANDARD_SSD_LRS
    assert web.disk_type_of(2) is DiskType.STANDARD_LRS  # not assessed: disk_type's default
    assert app.vm_size is None  # not in the assessment: sized from the source VM's CPUs and memory


def test_an_assessment_leaves_what_the_plan_gives_alone(validate_example):
    result = validate_example({3: {"disk_type": "Premium_LRS"}}, assessment=DATA / "assessment.csv")

    web = result.plan.waves[0].vms[1]
    assert web.vm_size == "Standard_D2s_v5" and web.disk_type_of(1) is DiskType.PREMIUM_LRS


def test_errors_in_the_assessment_name_the_file_row_and_column(validate_example, tmp_path):
    broken = tmp_path / "assessment.csv"
    broken.write_text("machine,vm_size,disk_types,colour\nwin-sql-01,D4,1:Fast,red\n,Standard_D2s_v5,,\n"
                      "web-rhel-02,,1,\n", encoding="utf-8")

    result = validate_example(assessment=broken)

    assert {(1, "assessment.csv:colour"), (2, "assessment.csv:vm_size"), (2, "assessment.csv:disk_types"),
            (3, "assessment.csv:machine"), (4, "assessment.csv:disk_types")} <= errors_at(result)
    assert result.plan is None
