"""A thousand broken wave plans, as a migration team's spreadsheets break them: every one is
refused with row-level errors, gives no plan (so nothing can be started) and raises nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_helpers import NOW, example_rows

from vmshift.plan import validate_plan
from vmshift.plan.columns import COLUMNS, REQUIRED_COLUMNS

# Hypothesis takes any change of the global `random` state during a draw for a strategy using `random`. These
# strategies use none; background threads left by earlier test modules of the session (Prefect's event and log
# delivery, azure-core's retry jitter) do, now and then.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

BASE = example_rows()
HEADER = list(BASE[0])
ROWS = range(len(BASE))

# Values each column refuses; the fuzzer mixes them with generated text.
WRONG = {
    "wave": ["wave 1", "wave/1", "w" * 64], "source_vm": ["web/01", "a" * 81, "bad\x07vm"],
    "vcenter": ["https://vc/sdk", "vc host"], "target_subscription": ["0000", "sub-prod", "{guid}"],
    "region": ["West Europe", "eu", "westeurope!"], "resource_group": ["rg target", "rg.", "r" * 91],
    "target_vm_name": ["vm name", "vm-", "x" * 65], "cache_storage_account": ["Cache01", "ca", "cache-01"],
    "target_vnet": ["vnet target", "v" * 65], "target_subnet": ["snet app", "s-"],
    "test_vnet": ["vnet test!"], "test_subnet": ["snet test"], "vm_size": ["D4s_v5", "large", "Standard D4"],
    "os_type": ["win", "ubuntu", "macos"], "os_disk": ["0", "first", "1.5", "257"],
    "disk_type": ["Ultra_LRS", "SSD", "PremiumV2_LRS"], "disks": ["0", "1:Fast", "1;1", "a;b", "1:Premium_LRS:x"],
    "availability_zone": ["0", "4", "zone1", "1,2"], "availability_set": ["set one"],
    "encryption": ["cmk", "none", "triple"], "disk_encryption_set": ["des cmk", "des*"],
    "hybrid_benefit": ["maybe", "2", "si"], "sql_license": ["free", "BYOL"],
    "tags": ["env", "=x", "a<b=1", "k=" + "v" * 257], "vm_tags": ["role"], "disk_tags": ["k=v;k=w"],
    "nic_tags": ["x/y=1"], "nics": ["1", "1:Main", "9:Primary", "1:Primary:snet:10.0.0.300", "1:Primary;2:Primary"],
    "start_time": ["tomorrow", "2031-01-15", "2031-01-15T20:00:00", "15/01/2031 20:00", "2020-01-01T00:00:00Z"],
    "cutover_window": ["2031-01-15T20:00:00Z", "2031-01-18T06:00:00Z/2031-01-15T20:00:00Z", "all week"],
    "cutover_at": ["now", "2031-01-15T20:00"], "application_group": ["group one", "g/1"],
    "turn_off_source": ["sometimes"], "allow_test_migration": ["ok"], "allow_cutover": ["later"],
    "disk_names": ["1=", "1=a b", "0=x", "1=x;1=y", "1=x;2=X"], "hooks": ["quiesce", "pre-cutover=", "later=x",
                                                                        "pre-cutover=rm -rf /"],
    "appliance": ["app liance", "-app"], "allow_test_cleanup": ["sometimes"], "allow_complete": ["later"],
    "prepare_os": ["maybe"],
}
assert set(WRONG) == {column.name for column in COLUMNS}

# Rows that break a rule between cells or rows (each change set is broken on its own).
RULE_BREAKS = [
    {"availability_zone": "1", "availability_set": "avset-sql"},
    {"encryption": "customer", "disk_encryption_set": ""},
    {"encryption": "platform", "disk_encryption_set": "des-cmk"},
    {"os_type": "linux", "hybrid_benefit": "yes"},
    {"test_vnet": "vnet-target", "target_vnet": "vnet-target"},
    {"os_disk": "1", "disks": "2"},
    {"start_time": "2029-01-01T00:00:00Z", "wave": "wave-past"},
    {"cutover_window": "2030-01-01T00:00:00Z/2030-01-02T00:00:00Z", "wave": "wave-over"},
    {"test_vnet": "vnet-test", "test_subnet": ""},
    {"os_type": "windows", "target_vm_name": "a-windows-name-too-long"},
    {"os_type": "linux", "sql_license": "AHUB"},
    {"nics": "1:Primary;2:DoNotCreate:snet-app:10.20.1.30"},
    {"hooks": "pre-cutover=not-declared"},
    {"target_vm_name": "web_01"},
]
# Legacy encodings, each with VM names it can write that UTF-8 would write differently.
ENCODINGS = {"utf-16": ["srv-01", "サーバ-01"], "utf-16-le": ["srv-01"], "utf-32": ["srv-01"],
             "latin-1": ["sérveur-01", "srv-ñ"], "cp1252": ["sérveur-01", "srv-€"], "shift_jis": ["サーバ-01"]}
FORMULAS = st.sampled_from(["=", "+", "-", "@", "\t="]).flatmap(
    lambda prefix: st.sampled_from(["cmd|' /C calc'!A0", "HYPERLINK(\"http://x\")", "1+1", "SUM(A1:A9)", "A1"])
    .map(lambda body: prefix + body))


@st.composite
def broken_plans(draw) -> bytes:
    rows = [dict(row) for row in BASE]
    header = list(HEADER)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["wrong", "generated", "missing", "extra", "duplicate", "rule", "huge",
                                     "formula", "cells", "file"]))
        row = rows[draw(st.sampled_from(ROWS))]
        column = draw(st.sampled_from([name for name in header if name in WRONG] or ["wave"]))
        if kind == "wrong":
            row[column] = draw(st.sampled_from(WRONG[column]))
        elif kind == "generated":
            # Any text with an invisible character pasted inside it, which no column allows.
            invisible = draw(st.sampled_from(["\x01", "\n", "\x7f", "\u2028", "\t"]))
            row[column] = draw(st.text(max_size=40)) + "a" + invisible + "z" + draw(st.text(max_size=10))
        elif kind == "missing":
            header.remove(draw(st.sampled_from([c for c in REQUIRED_COLUMNS if c in header] or ["wave"])))
        elif kind == "extra":
            header.append(draw(st.one_of(st.from_regex(r"[a-z]{3,12}_(x|colour|notes)", fullmatch=True),
                                         st.sampled_from(["h" * 5000, "=cmd|' /C calc'!A0", "notes\x07"]))))
        elif kind == "duplicate":
            copy = dict(row)
            if draw(st.booleans()):
                suffix = draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))
                copy["wave"], copy["target_vm_name"] = "wave-9", "copy-" + suffix
            rows.append(copy)
        elif kind == "rule":
            broken = draw(st.sampled_from(RULE_BREAKS))
            row.update(broken)
            header += [column for column in broken if column not in header]
        elif kind == "huge":
            row[column] = "x" * draw(st.sampled_from([300, 5_000, 140_000, 1_100_000]))
        elif kind == "formula":
            row[column] = draw(FORMULAS)
        elif kind == "cells":
            row[None] = [draw(st.sampled_from(["surplus", "a,b", "1"]))]
        else:
            return draw(broken_files(rows, header))
    return _csv(rows, header).encode("utf-8")


@st.composite
def broken_files(draw, rows: list[dict], header: list[str]) -> bytes:
    kind = draw(st.sampled_from(["empty", "binary", "encoding", "separator", "bom16"]))
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"\r\n\r\n", b"   \n\t\n"]))
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=2000)) + b"\x00" + draw(st.binary(max_size=200))
    text = _csv(rows, header)
    if kind == "separator":
        return text.replace(",", ";").encode("utf-8")
    if kind == "bom16":
        return "\ufeff".encode("utf-16-be") + text.encode("utf-16-be")
    # A name with letters outside ASCII, saved in a legacy code page.
    position = draw(st.integers(0, len(rows) - 1))
    rows = [dict(row) for row in rows]
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    rows[position]["source_vm"] = draw(st.sampled_from(ENCODINGS[encoding]))
    # Characters the code page lacks (from earlier mutations) become "?"; the name keeps it invalid UTF-8.
    return _csv(rows, header).encode(encoding, errors="replace")


def _csv(rows: list[dict], header: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header] + list(row.get(None) or []))
    return out.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=1000, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(broken_plans())
def test_every_broken_plan_is_refused_with_row_level_errors(folder, data):
    path = folder / "plan.csv"
    path.write_bytes(data)

    result = validate_plan(path, now=NOW)

    assert not result.ok and result.plan is None, data[:300]
    assert result.errors
    for error in result.errors:
        assert isinstance(error.row, int) and error.row >= 1
        assert error.message and len(error.message) < 2000 and len(error.column or "") < 200
    document = json.loads(json.dumps(result.to_json()))
    assert document["ok"] is False and document["errors"] and document["waves"] == []


AT_SCALE = example_rows("azure-migrate-input.csv")
CELLS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["Y", "N", "y", "", "a,b", ",", "a,b,c", "1", "4", "Primary", "DoNotCreate", "10.0.0.1",
                     "10.0.0.999", "WindowsServer", "AHUB", "Premium_LRS", "/subscriptions/x", ":", ";", "="]),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(range(len(AT_SCALE))), st.sampled_from(list(AT_SCALE[0])), CELLS),
                min_size=1, max_size=8))
def test_any_at_scale_input_is_answered_without_a_traceback(folder, changes):
    rows = [dict(row) for row in AT_SCALE]
    for index, column, value in changes:
        rows[index][column] = value
    path = folder / "Input.csv"
    path.write_text(_csv(rows, list(AT_SCALE[0])), encoding="utf-8")

    result = validate_plan(path, region="westeurope", cache_storage_account="vmshiftcache01", wave="w1",
                           start_at=NOW, now=NOW)

    assert result.ok == (result.plan is not None) == (not result.errors)
    assert all(isinstance(error.row, int) and error.row >= 1 for error in result.errors)
    json.dumps(result.to_json())
